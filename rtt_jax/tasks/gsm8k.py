"""GSM8K (Cobbe et al. 2021) files as a problem source: the loader, the family, the CLI.

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

How the steps are checked: ``rtt_jax.tasks.gsm8k_steps`` (claims, verdicts,
whether the answer follows), with the prose read by ``gsm8k_prose``, the
question's numbers by ``gsm8k_numbers`` and the grounding rules in
``gsm8k_grounding``.

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
from typing import Any, Iterable, Sequence

from rtt_jax import json_lines
from rtt_jax.cli_errors import EmptyInputError, parse_flags, run_reporting, usage_error
from rtt_jax.tasks.answers import (ANSWER_MARKER, canonical_answer,
                                   extract_final_answer, parse_answer, readable)
from rtt_jax.tasks.base import UNPARSEABLE, VALID, Problem, Step, StepReport, StepVerdict, Trace
from rtt_jax.tasks.gsm8k_steps import (answer_follows, claims_in_line, judge_lines,
                                       solution_claims, solution_lines, strip_annotations)

NAME = "gsm8k"
STYLES = ("calc", "plain")


class GSM8KFormatError(ValueError):
    """A GSM8K line that cannot be used; the message names file:line."""


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
        j = judge_lines(problem.question, solution_lines(text))
        final = parse_answer(extract_final_answer(text))
        return StepReport(tuple(j.verdicts),
                          final is not None and answer_follows(final, j, problem.question, text))


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
    algebra_steps: int = 0  # equations with an unknown, judged by gsm8k_grounding
    algebra_steps_valid: int = 0
    answers_follow: int = 0
    unparsed: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)  # first few, for the log

    def summary(self) -> dict[str, Any]:
        return {"path": self.path, "problems": len(self.problems),
                "annotations": self.annotations, "annotations_valid": self.annotations_valid,
                "annotations_grounded": self.annotations_grounded,
                "surface_equations": self.surface_equations,
                "surface_equations_valid": self.surface_equations_valid,
                "algebra_steps": self.algebra_steps,
                "algebra_steps_valid": self.algebra_steps_valid,
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
        j = judge_lines(p.question, solution_lines(p.data["solution"]))
        for claim, verdict in zip(j.claims, j.verdicts):
            if claim.algebra is not None:
                report.algebra_steps += 1
                report.algebra_steps_valid += verdict.verdict == VALID
            elif claim.annotated:
                report.annotations += 1
                report.annotations_valid += verdict.verdict == VALID
                report.annotations_grounded += verdict.grounded
            else:
                report.surface_equations += 1
                report.surface_equations_valid += verdict.verdict == VALID
        report.answers_follow += answer_follows(parse_answer(p.answer), j, p.question,
                                                p.data["solution"])
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
    print(f"steps of algebra: {s['algebra_steps']}, consistent {s['algebra_steps_valid']}")
    print(f"final answer equals a computed result: {s['answers_follow']}")
    for err in report.errors:
        print(f"skipped: {err}")
    print(json.dumps(s, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
