"""Worst-case time to score hostile completions, per task family.

    python bench/parse_worst_case.py [--families addition,gsm8k] [--no-fuzz]

Model text is untrusted, and a checker whose regexes backtrack can be made to
spend seconds on one 20,000-character completion (``MAX_CHECK_CHARS``, the
longest a checker reads). This scores adversarial completions of exactly that
length through the evaluator's own path (``score_completion`` with no style,
so every style's extractor and step checker runs) and prints, per family, the
slowest input and its time. Inputs:

* generic: long space/tab runs after a ``####`` marker, many ``####``, deep
  parentheses, long digit strings, many ``=`` and ``<<``, digit/space and
  digit/comma runs, newlines;
* fuzzed from the family's own solutions: each solution line cut at a few
  points and padded to 20,000 characters with a run of one character
  (space, digit, ``=``, ``(``, ``,``), so a regex that matched the line's
  start has to decide about the run; and each solution repeated to length.

``traces.noise`` rewrites the marker line of any record, so it is timed too
(row ``noise``). ``adversarial_cases`` is also what
``tests/test_parse_worst_case.py`` feeds every family (without timing it).
Last line: ``slowest_case_s=<seconds>``.
"""
from __future__ import annotations

import argparse
import random
import time
from typing import Any, Callable, Iterator

from rtt_jax import tasks
from rtt_jax.tasks.answers import MAX_CHECK_CHARS
from rtt_jax.tasks.base import Problem

N = MAX_CHECK_CHARS  # every case is exactly as long as a checker will read
_RUN_CHARS = (" ", "1", "=", "(", ",")
# Under every line cap the checkers apply before matching (300 and 400
# characters) and under safe_arith's input cap (2,000).
_LINE_WIDTHS = (299, 1999)


def _fill(head: str, unit: str, tail: str = "") -> str:
    """``head`` + ``unit`` repeated + ``tail``, exactly N characters."""
    room = N - len(head) - len(tail)
    body = (unit * (room // max(1, len(unit)) + 1))[:max(0, room)]
    return (head + body + tail)[:N]


def generic_cases() -> list[tuple[str, str]]:
    """Inputs that stress a parser whatever the family's format."""
    return [
        ("marker_space_run", _fill("#### a", " ", "b")),
        ("marker_tab_run", _fill("#### a", " \t", "b")),
        ("space_run", _fill("", " ")),
        ("many_markers", _fill("", "####")),
        ("marker_lines", _fill("", "#### 1\n")),
        ("marker_space_lines", _fill("", "####     \n")),
        ("open_parens", _fill("", "(")),
        ("nested_parens", "(" * (N // 2) + ")" * (N // 2)),
        ("expr_nested_parens", _fill("", "(1+", "")),
        ("digit_run", _fill("", "1")),
        ("marker_digit_run", _fill("#### ", "1")),
        ("equals_run", _fill("", "=")),
        ("digit_equals", _fill("", "1=")),
        ("sum_chain", _fill("", "1+", "1=2")),
        ("sum_chain_lines", _fill("", "1 + 1 = 2\n")),
        ("digit_spaces", _fill("", "1 ")),
        ("digit_commas", _fill("", "1,")),
        ("digit_dots", _fill("", "1.")),
        ("newlines", _fill("", "\n")),
        ("annotations_open", _fill("", "<<")),
        ("annotations", _fill("", "<<1+1=2>>")),
        ("annotation_space_run", _fill("<<1+1=2>>", " ", "a")),
        ("equation_space_run", _fill("1 + 1 =", " ", "a")),
        ("times_chain", _fill("", "1 x ", "= 2")),
        ("lhs_space_run_lines", _fill("", "a" + " " * 290 + "b = 1 x\n")),
        ("answer_space_run", _fill("#### 5", " ", "x")),
        ("answer_x_space_run", _fill("#### x = 5", " ", "x")),
        ("floor_div_lines", _fill("", "= 7 // 2 % 3\n7 // 2 = 3\n7 % 2 = 1\n")),
        ("letters", _fill("", "a")),
        ("brackets", _fill("", "[1,")),
        ("truth_words", _fill("", "True = ")),
        ("x_equals", _fill("x = ", " ")),
    ]


def _cut_points(line: str, k: int = 8) -> list[int]:
    """Up to ``k`` places to cut ``line``, where one kind of character (digit,
    letter, space, other) gives way to another, spread over the line."""
    def kind(ch: str) -> int:
        return 0 if ch.isdigit() else 1 if ch.isalpha() else 2 if ch.isspace() else 3
    cuts = [i for i in range(1, len(line)) if kind(line[i]) != kind(line[i - 1])] or [0]
    step = max(1, len(cuts) // k)
    return sorted(set(cuts[::step][:k]) | {len(line)})


def solution_texts(family: Any, problem: Problem) -> list[tuple[str, str]]:
    """(style, completion) of the family's own solution in each style."""
    out = []
    for style in family.styles:
        try:
            out.append((style, family.format_example(problem, style)[1]))
        except (ValueError, KeyError):
            continue  # a style that does not apply to this problem
    return out


def fuzzed_cases(family: Any, problem: Problem) -> list[tuple[str, str]]:
    """Each solution line cut and padded with a run; each solution repeated."""
    out = []
    for style, text in solution_texts(family, problem):
        out.append((f"{style}:repeated", _fill("", text + "\n")))
        lines = text.split("\n")
        for i, line in enumerate(lines):
            before = "\n".join(lines[:i]) + ("\n" if i else "")
            for cut in _cut_points(line):
                for ch in _RUN_CHARS:
                    head = before + line[:cut]
                    out.append((f"{style}:line{i}@{cut}+{ch!r}run",
                                _fill(head, ch, line[cut:])))
                    for width in _LINE_WIDTHS:
                        # Checkers cap a line's length before matching it; a
                        # line just under the cap, many times, is the worst.
                        pad = max(0, width - len(line))
                        one = line[:cut] + ch * pad + line[cut:]
                        out.append((f"{style}:line{i}@{cut}+{ch!r}x{width}",
                                    _fill("", one + "\n")))
    return out


def gsm8k_problem() -> Problem:
    solution = "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"
    return Problem("gsm8k", 0, 0, 1, "Tom has 3 apples and buys 4 more. How many?", "7",
                   {"solution": solution, "split": "bench", "line": 1, "steps": []})


def family_problems() -> Iterator[tuple[str, Any, Problem]]:
    """(name, family, a problem at its hardest training level), gsm8k last."""
    for name in tasks.names():
        family = tasks.get(name)
        yield name, family, family.generate(0, 0, max(family.train_levels))
    from rtt_jax.tasks import gsm8k
    yield "gsm8k", gsm8k.FAMILY, gsm8k_problem()


def adversarial_cases(family: Any, problem: Problem, fuzz: bool = True) -> list[tuple[str, str]]:
    cases = generic_cases() + (fuzzed_cases(family, problem) if fuzz else [])
    assert all(len(text) == N for _, text in cases)
    return cases


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def noise_cases() -> list[tuple[str, str]]:
    """Record texts whose marker line ``traces.noise.corrupt`` rewrites."""
    return [c for c in generic_cases() if "marker" in c[0]]


def main() -> None:
    from rtt_jax.evaluation.scoring import score_completion
    from rtt_jax.traces import noise
    from rtt_jax.traces.teachers import ProgramTeacher

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="", help="comma-separated; default: all")
    ap.add_argument("--no-fuzz", action="store_true", help="generic inputs only")
    args = ap.parse_args()
    only = set(filter(None, args.families.split(",")))
    slowest = 0.0

    def row(name: str, n: int, worst: tuple[float, str]) -> None:
        nonlocal slowest
        slowest = max(slowest, worst[0])
        print(f"{name:16} {n:6}  {worst[1][:44]:44} {worst[0]:8.4f}", flush=True)

    print(f"{'family':16} {'cases':>6}  {'slowest input':44} {'seconds':>8}", flush=True)
    for name, family, problem in family_problems():
        if only and name not in only:
            continue
        cases = adversarial_cases(family, problem, fuzz=not args.no_fuzz)
        row(name, len(cases), max((_timed(lambda t=text, f=family, p=problem: score_completion(f, p, t)), case)
                                  for case, text in cases))
    if not only or "noise" in only:
        clean = ProgramTeacher().teach(tasks.get("addition").generate(0, 0, 3))[0]
        rng = random.Random(0)
        row("noise", len(noise_cases()),
            max((_timed(lambda t=text: noise.corrupt(clean.replace(text=t), "wrong_answer", rng)),
                 case) for case, text in noise_cases()))
    print(f"slowest_case_s={slowest:.4f}")


if __name__ == "__main__":
    main()
