"""GSM8K (Cobbe et al. 2021) as a problem source with checkable steps.

File format: JSONL, one ``{"question": str, "answer": str}`` per line. The
answer is a human solution whose calculations carry calculator annotations,
``48/2 = <<48/2=24>>24``, and whose last line is ``#### 72`` (the answer may
have thousands commas: ``#### 1,080``).

What this module makes of it:

* ``load(path, on_error="raise")`` -> ``LoadReport`` with one ``Problem`` per
  line: family ``gsm8k``, ``index`` = 0-based line number, ``level`` = number
  of calculator annotations (a difficulty proxy used in the literature),
  ``answer`` = the canonical number (``1080``, ``-3``, ``2.5``) and ``data``
  = ``{"solution", "split", "line", "steps"}``. A line that is not JSON, lacks
  a field, or has no parseable ``####`` answer raises ``GSM8KFormatError``
  naming ``file:line``; with ``on_error="skip"`` it is counted in
  ``report.unparsed`` instead.
* ``FAMILY``: a family-like object (``check_answer``, ``check_steps``,
  ``solve``, ``format_example``) so evaluation scores GSM8K completions like
  any other family. Styles: ``calc`` (the human solution as written, with
  annotations) and ``plain`` (annotations removed).

How model text is checked (it is untrusted; nothing is ``eval``-ed): each line
yields its claims, either its ``<<expr=result>>`` annotations or, if it has
none, its surface equations ``expr = number`` where ``expr`` contains an
operator. Expressions go through ``safe_arith``. A claim is valid when the
expression's exact value equals the claimed number, or rounds to it at the
claimed number of decimals (``10/3 = 3.33``). It is grounded when every
number it uses is in the question (``50%`` also counts as ``0.5``), a result
claimed earlier, 0, 1, 2 or 100, or a fact the question's words call for
(``WORD_NUMBERS``: "three" is 3, "dozen" 12, "week" 7 and 52, "hour" 60...).
An annotation's claim must also match the number written right after it
(``<<9*2=18>>18``). The final answer follows when it equals a result claimed
by a step.

``python -m rtt_jax.tasks.gsm8k FILE.jsonl [--skip-bad-lines] [--allow_empty]``
prints a loader report; its last line is JSON with ``problems``,
``annotations``, ``annotations_valid``, ``unparsed`` and more. A file that
cannot be read (missing, not UTF-8, JSON nested too deep, a bad line without
``--skip-bad-lines``, no problems without ``--allow_empty``) is one error
line naming ``file:line``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
from fractions import Fraction
from typing import Any, Iterable, Sequence

from rtt_jax import json_lines
from rtt_jax.cli_errors import EmptyInputError, parse_flags, run_reporting, usage_error
from rtt_jax.tasks.answers import (ANSWER_MARKER, canonical_answer,
                                   extract_final_answer, parse_answer, readable)
from rtt_jax.tasks.base import (INVALID, UNPARSEABLE, VALID, Problem, Step, StepReport,
                                StepVerdict, Trace)
from rtt_jax.tasks.safe_arith import (NUMBER_PATTERN, SafeArithError, evaluate,
                                      evaluate_node, format_number, number_values,
                                      parse, parse_number)

NAME = "gsm8k"
STYLES = ("calc", "plain")
# Numbers GSM8K solutions use without the question stating them.
# Always allowed: identities, halving/doubling and percent scaling (20*.01).
COMMON_CONSTANTS = frozenset(Fraction(n) for n in (0, 1, 2, 100, "0.01", "0.5"))
# Numbers a question implies through its words (lowercase word stem -> values).
WORD_NUMBERS: dict[str, tuple] = {
    "one": (1,), "two": (2,), "three": (3,), "four": (4,), "five": (5,), "six": (6,),
    "seven": (7,), "eight": (8,), "nine": (9,), "ten": (10,), "eleven": (11,),
    "twelve": (12,), "fifteen": (15,), "twenty": (20,), "thirty": (30,), "forty": (40,),
    "fifty": (50,), "hundred": (100,), "thousand": (1000,), "million": (1_000_000,),
    "half": (2, "0.5"), "twice": (2,), "double": (2,), "triple": (3,), "thrice": (3,),
    "third": (3,), "quarter": (4, "0.25"), "fourth": (4,), "fifth": (5,), "tenth": (10,),
    "dozen": (12,), "pair": (2,), "week": (7, 52), "day": (24, 7, 30, 365), "hour": (60, 24),
    "minute": (60,), "second": (60,), "month": (12, 30, 31, 4), "year": (12, 52, 365),
    "decade": (10,), "century": (100,), "percent": (100,), "%": (100,), "cent": (100,),
    "nickel": (5, "0.05"), "dime": (10, "0.1"), "penny": (1, "0.01"), "pennies": (1, "0.01"),
    "foot": (12,), "feet": (12, 3), "inch": (12,), "yard": (3, 36), "mile": (5280,),
    "pound": (16,), "ounce": (16,), "gallon": (4, 128), "quart": (4,), "meter": (100,),
    "kilo": (1000,), "score": (20,), "weekend": (2,), "weekday": (5,), "triangle": (3,),
    "square": (4,), "hexagon": (6,), "octagon": (8,), "legs": (2, 4), "wheels": (2, 4),
}
_WORD_RE = re.compile(r"[a-z]+|%")
_ANNOTATION_RE = re.compile(r"<<([^<>\n]{0,300})>>")
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_PERCENT_RE = re.compile(r"(" + NUMBER_PATTERN + r")\s?%")
# "1 1/2" inside an expression is one and a half, not a syntax error.
_MIXED_RE = re.compile(r"(?<![0-9./])([0-9]{1,12}) ([0-9]{1,6})/([0-9]{1,6})(?![0-9])")
_EXPR_CHARS = frozenset("0123456789.,+-−*/×÷()$€£ ")
_SENTENCE_BREAK_RE = re.compile(r"[,.]\s")
# "\s*(?:[$€£]\s*)?", never "\s*[$€£]?\s*": two adjacent \s* split a run of
# spaces in quadratically many ways before the match fails.
_WRITTEN_AFTER_RE = re.compile(r"\s*(?:[$€£]\s*)?(-?" + NUMBER_PATTERN + r"(?:/[0-9]{1,12})?)")
# After "=": a number, a fraction "1/4" or a mixed number "3 1/2" (groups:
# whole, numerator, denominator); not followed by a letter or operator, which
# would make it algebra ("5A/5", "12+8x").
_CLAIMED_RE = re.compile(
    r"\s*(?:[$€£]\s*)?(?:(-?[0-9]{1,12}) ([0-9]{1,6})/([0-9]{1,6})|-?" + NUMBER_PATTERN
    + r"(?:/[0-9]{1,12})?)(?![0-9A-Za-z(*+^]|[.,][0-9]|-[0-9])")
_MAX_LINES = 200
_MAX_CLAIMS = 200


class GSM8KFormatError(ValueError):
    """A GSM8K line that cannot be used; the message names file:line."""


# --------------------------------------------------------------------------
# claims: what a line of a solution asserts


@dataclasses.dataclass(frozen=True)
class Claim:
    expression: str
    claimed: str
    line: str
    annotated: bool = False  # from a <<expr=result>> annotation
    written: str | None = None  # the number written right after the annotation


def _is_times_sign(line: str, i: int) -> bool:
    """``line[i]`` is an ``x`` between numbers (``3 x 4``, ``(2) x $5``).

    Walks over the spaces on either side instead of slicing the line: this
    runs for every ``x`` an expression scan passes, and a slice per ``x``
    made a long ``1 x 1 x ...`` line quadratic."""
    j = i - 1
    while j >= 0 and line[j].isspace():
        j -= 1
    k, n = i + 1, len(line)
    while k < n and line[k].isspace():
        k += 1
    return j >= 0 and line[j] in "0123456789)" and k < n and line[k] in "0123456789($."


def _scan_expression_start(line: str, eq: int) -> int:
    """Where the arithmetic expression that ends at ``line[eq]`` (an ``=``) begins."""
    start = eq
    while start > 0 and (line[start - 1] in _EXPR_CHARS
                         or line[start - 1] == "x" and _is_times_sign(line, start - 1)):
        start -= 1
    return start


def _surface_claims(line: str) -> list[Claim]:
    """``expr = number`` equations written in plain text, left to right.

    Algebra (``4x+12 = 56``, ``B - 35 = 16``, ``= 5A``) is not a numeric claim
    and is skipped, as are equations whose left side has no operator.
    """
    out = []
    for eq in (i for i, ch in enumerate(line) if ch == "="):
        start = _scan_expression_start(line, eq)
        left = _SENTENCE_BREAK_RE.split(line[start:eq])[-1]
        left = left.replace("$", "").replace("€", "").replace("£", "").strip()
        if start > 0 and line[start - 1].isalpha() and left[:1] in tuple("+-−*/×÷)"):
            continue  # the expression continues into a variable: algebra
        left = left.lstrip("×*/)").strip()
        if not left or not any(op in left for op in "+-−*/×÷x"):
            continue
        m = _CLAIMED_RE.match(line, eq + 1, min(len(line), eq + 80))
        if m is None:
            continue
        whole, num, den = m.group(1), m.group(2), m.group(3)
        sign, whole = ("-", whole[1:]) if whole and whole.startswith("-") else ("", whole)
        claimed = f"{sign}({whole}+{num}/{den})" if den else m.group(0).strip().lstrip("$€£").strip()
        out.append(Claim(left, claimed, line))
    return out


def claims_in_line(line: str) -> list[Claim]:
    annotations = list(_ANNOTATION_RE.finditer(line))
    if annotations:
        out = []
        for m in annotations:
            left, eq, right = m.group(1).rpartition("=")
            written = _WRITTEN_AFTER_RE.match(line, m.end())
            out.append(Claim(left if eq else m.group(1), right if eq else "", line,
                             annotated=True, written=written.group(1) if written else None))
        return out
    return _surface_claims(line)


def _close_enough(value: Fraction, claimed: Fraction, claimed_text: str) -> bool:
    if value == claimed:
        return True
    # Half a unit in the last shown place: 10/3 = 3.33 passes, 3.34 does not.
    places = len(claimed_text.split(".")[1]) if "." in claimed_text else 0
    return places > 0 and abs(value - claimed) * 2 * 10**places <= 1


def question_numbers(question: str) -> set[Fraction]:
    nums = {v for m in _NUMBER_RE.finditer(question)
            if (v := parse_number(m.group(0))) is not None}
    nums |= {v / 100 for m in _PERCENT_RE.finditer(question)
             if (v := parse_number(m.group(1))) is not None}
    for word in set(_WORD_RE.findall(question.lower())):
        # "weeks" -> "week", "halves" is rare enough to ignore.
        values = WORD_NUMBERS.get(word) or WORD_NUMBERS.get(word.rstrip("s"))
        nums |= {Fraction(v) for v in values or ()}
    return nums


def _claimed_value(text: str) -> Fraction | None:
    # Annotations occasionally claim a fraction ("3/4=3/4"); evaluate covers it.
    return evaluate(text.replace(",", "")) if text else None


def judge_claims(question: str, claims: Sequence[Claim]) -> tuple[list[StepVerdict], list[Fraction]]:
    """One verdict per claim, and the claimed results in order."""
    known = question_numbers(question) | COMMON_CONSTANTS
    verdicts, results = [], []
    for c in claims[:_MAX_CLAIMS]:
        claimed = _claimed_value(c.claimed)
        try:
            node = parse(_MIXED_RE.sub(r"(\1+\2/\3)", c.expression.replace("$", "")))
            value = evaluate_node(node)
        except (SafeArithError, RecursionError, ZeroDivisionError):
            verdicts.append(StepVerdict(c.line[:200], UNPARSEABLE, False,
                                        f"cannot evaluate {c.expression[:60]!r}"))
            continue
        if claimed is None:
            verdicts.append(StepVerdict(c.line[:200], UNPARSEABLE, False,
                                        f"result {c.claimed[:30]!r} is not a number"))
            continue
        used = [abs(v) for v in number_values(node)]
        ungrounded = [format_number(v) for v in used if v not in known]
        ok = _close_enough(value, claimed, c.claimed)
        reason = "" if ok else f"{c.expression} is {format_number(value)}, not {c.claimed}"
        if ok and c.written is not None and _claimed_value(c.written) != claimed:
            ok, reason = False, f"annotation says {c.claimed} but the text says {c.written}"
        if ungrounded:
            reason = (reason + "; " if reason else "") + f"ungrounded {', '.join(ungrounded[:5])}"
        verdicts.append(StepVerdict(c.line[:200], VALID if ok else INVALID, not ungrounded, reason))
        results.append(claimed)
        known.add(abs(claimed))
    return verdicts, results


def solution_claims(text: str) -> list[Claim]:
    out: list[Claim] = []
    for raw in text.splitlines()[:_MAX_LINES]:
        line = raw.strip()
        if line and not line.startswith(ANSWER_MARKER):
            out.extend(claims_in_line(line))
    return out


def strip_annotations(text: str) -> str:
    return _ANNOTATION_RE.sub("", text)


# --------------------------------------------------------------------------
# the family-like object


class GSM8KFamily:
    """GSM8K problems behind the task-family interface.

    ``generate`` needs a file (``GSM8KFamily(path)``); checking does not.
    """

    name = NAME
    styles = STYLES
    levels = range(0, 100)  # level = number of annotations
    train_levels = range(0, 100)

    def __init__(self, path: str | None = None, split: str = "train"):
        self._path = path
        self._split = split
        self._problems: list[Problem] | None = None

    def problems(self) -> list[Problem]:
        if self._path is None:
            raise ValueError("GSM8KFamily(path) is needed to generate problems")
        if self._problems is None:
            self._problems = load(self._path, split=self._split).problems
        return self._problems

    def generate(self, seed: int, index: int, level: int | None = None) -> Problem:
        """Problem ``index`` of the file (GSM8K is fixed: seed and level are ignored)."""
        problems = self.problems()
        return problems[index % len(problems)]

    def solve(self, problem: Problem, style: str) -> Trace:
        if style not in STYLES:
            raise ValueError(f"gsm8k: unknown style {style!r}; known: {', '.join(STYLES)}")
        solution = problem.data["solution"]
        body = [ln for ln in solution.splitlines() if not ln.strip().startswith(ANSWER_MARKER)]
        steps = []
        for ln in body:
            text = ln if style == "calc" else strip_annotations(ln)
            claims = claims_in_line(ln)
            for c in claims:
                steps.append(Step("calc", (c.expression,), c.claimed, text))
            if not claims:
                steps.append(Step("say", (), None, text))
        return Trace(NAME, style, tuple(steps), problem.answer,
                     rendered="\n".join(ln if style == "calc" else strip_annotations(ln)
                                        for ln in body))

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        trace = self.solve(problem, style)
        return problem.question + "\n", f"{trace.text}\n{ANSWER_MARKER} {problem.answer}"

    def extract_answer(self, problem: Problem, text: str, style: str | None = None) -> str | None:
        return extract_final_answer(text)

    def check_answer(self, problem: Problem, text: str, style: str | None = None) -> bool:
        got = parse_answer(extract_final_answer(text))
        return got is not None and got == parse_answer(problem.answer)

    def check_steps(self, problem: Problem, text: str, style: str | None = None) -> StepReport:
        if readable(text) is None:
            return StepReport((StepVerdict("", UNPARSEABLE, False, "not text or too long"),), False)
        verdicts, results = judge_claims(problem.question, solution_claims(text))
        final = parse_answer(extract_final_answer(text))
        return StepReport(tuple(verdicts), final is not None and final in results)


FAMILY = GSM8KFamily()


# --------------------------------------------------------------------------
# loading


@dataclasses.dataclass
class LoadReport:
    path: str
    problems: list[Problem]
    annotations: int = 0
    annotations_valid: int = 0
    annotations_grounded: int = 0
    surface_equations: int = 0  # "a + b = c" in lines without annotations
    surface_equations_valid: int = 0
    answers_follow: int = 0
    unparsed: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)  # first few, for the log

    def summary(self) -> dict[str, Any]:
        return {"path": self.path, "problems": len(self.problems),
                "annotations": self.annotations, "annotations_valid": self.annotations_valid,
                "annotations_grounded": self.annotations_grounded,
                "surface_equations": self.surface_equations,
                "surface_equations_valid": self.surface_equations_valid,
                "answers_follow": self.answers_follow, "unparsed": self.unparsed}


def problem_from_json(obj: Any, where: str, index: int, split: str) -> Problem:
    if not isinstance(obj, dict):
        raise GSM8KFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("question", "answer"):
        if not isinstance(obj.get(key), str):
            raise GSM8KFormatError(f"{where}: field {key!r} missing or not a string")
    solution = obj["answer"]
    answer = canonical_answer(extract_final_answer(solution) or "")
    if answer is None:
        raise GSM8KFormatError(f"{where}: no '#### <number>' final answer line")
    claims = solution_claims(solution)
    steps = [{"expression": c.expression, "claimed": c.claimed} for c in claims]
    return Problem(NAME, 0, index, len(claims), obj["question"], answer,
                   {"solution": solution, "split": split, "line": index + 1, "steps": steps})


def iter_problems(path: str, split: str, on_error: str, report: LoadReport) -> Iterable[Problem]:
    """The problems of the file's non-blank lines. A line that is not UTF-8,
    nests too deep, is not JSON or lacks a field raises GSM8KFormatError
    naming ``file:line``, or with ``on_error="skip"`` is counted in
    ``report.unparsed``."""
    def bad(e: ValueError) -> None:
        if on_error == "raise":
            raise GSM8KFormatError(str(e)) from None
        report.unparsed += 1
        if len(report.errors) < 10:
            report.errors.append(str(e))

    for lineno, obj in json_lines.iter_json_lines(path, on_error=bad):
        try:
            yield problem_from_json(obj, f"{path}:{lineno}", lineno - 1, split)
        except GSM8KFormatError as e:
            bad(e)


def load(path: str, split: str | None = None, on_error: str = "raise") -> LoadReport:
    """Read a GSM8K JSONL file. ``on_error``: ``"raise"`` (default) stops at the
    first bad line with ``GSM8KFormatError``; ``"skip"`` counts it as unparsed."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    split = split or re.sub(r"\.jsonl$", "", path.rsplit("/", 1)[-1])
    report = LoadReport(path, [])
    for p in iter_problems(path, split, on_error, report):
        report.problems.append(p)
    for p in report.problems:
        claims = solution_claims(p.data["solution"])
        verdicts, results = judge_claims(p.question, claims)
        for claim, verdict in zip(claims, verdicts):
            if claim.annotated:
                report.annotations += 1
                report.annotations_valid += verdict.verdict == VALID
                report.annotations_grounded += verdict.grounded
            else:
                report.surface_equations += 1
                report.surface_equations_valid += verdict.verdict == VALID
        report.answers_follow += parse_answer(p.answer) in results
    return report


PROG = "python -m rtt_jax.tasks.gsm8k"


def _define_flags(fv) -> None:
    from absl import flags
    flags.DEFINE_boolean("skip-bad-lines", False,
                         "count unusable lines as unparsed instead of stopping", flag_values=fv)
    flags.DEFINE_boolean("allow_empty", False, "accept a file with no problems", flag_values=fv)


def main(argv: Sequence[str]) -> int:
    """``argv`` as ``sys.argv`` (program name first); the exit status."""
    a, files = parse_flags(argv[1:], _define_flags, PROG, usage="FILE.jsonl ")
    if len(files) != 1:
        usage_error("the arguments are required: file (one GSM8K JSONL file)" if not files
                    else f"expected one file, got {len(files)}", PROG)
    path, skip = files[0], a["skip-bad-lines"].value

    def run() -> int:
        report = load(path, on_error="skip" if skip else "raise")
        if not report.problems and not a.allow_empty:
            raise EmptyInputError(path, "problems")
        _print_report(report)
        return 0
    return run_reporting(run, path=path, verbosity=a.verbosity)


def _print_report(report: LoadReport) -> None:
    s = report.summary()
    print(f"{s['path']}: {s['problems']} problems, {s['unparsed']} unparsed lines")
    print(f"annotations: {s['annotations']}, arithmetically valid {s['annotations_valid']}, "
          f"grounded {s['annotations_grounded']}")
    print(f"equations outside annotations: {s['surface_equations']}, "
          f"valid {s['surface_equations_valid']}")
    print(f"final answer equals a computed result: {s['answers_follow']}")
    for err in report.errors:
        print(f"skipped: {err}")
    print(json.dumps(s, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
