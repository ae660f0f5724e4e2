"""The shared skeleton of the arithmetic families and their line-by-line checker.

Each arithmetic family (addition, subtraction, ...) subclasses
``ArithmeticFamily`` and supplies four things: ``make_problem`` (draw one
problem from a seeded RNG), ``solve_steps`` (the structured steps of a style),
``check_lines`` (replay free text line by line against the problem) and, where
a published format carries its answer without a ``####`` marker,
``extract_answer``. The skeleton adds what every family needs the same way:
seeding by index, input caps, style dispatch and the answer-follows rule.

Replay, not recomputation: a checker walks the lines in order while tracking
what the *text* has claimed so far (the running carry, the last remainder,
...). A line is ``valid`` when its own arithmetic is right and ``grounded``
when every input it uses is a number of the problem or a result claimed by an
earlier line. So a wrong step is invalid, a skipped step leaves the next one
ungrounded, and an answer that differs from what the lines computed does not
follow.
"""
from __future__ import annotations

import random
from typing import Sequence

from rtt_jax.tasks.base import (ANSWER_MARKER, INVALID, MAX_CHECK_CHARS,
                                UNPARSEABLE, VALID, Problem, Step, StepReport,
                                StepVerdict, Trace, extract_final_answer,
                                make_rng_seed)


class LineChecker:
    """Collects one verdict per claim line."""

    __slots__ = ("verdicts",)

    def __init__(self) -> None:
        self.verdicts: list[StepVerdict] = []

    def claim(self, line: str, valid: bool, grounded: bool, reason: str = "") -> None:
        self.verdicts.append(StepVerdict(line, VALID if valid else INVALID, grounded, reason))

    def unparseable(self, line: str, reason: str = "no step pattern matches") -> None:
        self.verdicts.append(StepVerdict(line[:200], UNPARSEABLE, False, reason))

    @property
    def valid_count(self) -> int:
        return sum(v.verdict == VALID and v.grounded for v in self.verdicts)


def solution_lines(text: str) -> list[str]:
    """Non-empty stripped lines of ``text`` without ``####`` marker lines."""
    lines = [raw.strip() for raw in text.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith(ANSWER_MARKER)]


def hostile_report(reason: str) -> StepReport:
    return StepReport((StepVerdict("", UNPARSEABLE, False, reason),), False)


def normalize_answer(text: str | None) -> str | None:
    """Collapse internal whitespace; None stays None."""
    if text is None:
        return None
    return " ".join(text.split())


class ArithmeticFamily:
    """Common behaviour of the arithmetic families; see the module docstring."""

    name: str = ""
    styles: tuple[str, ...] = ()
    levels: range = range(1, 2)
    train_levels: range = range(1, 2)

    # --- to be supplied by each family -----------------------------------
    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        raise NotImplementedError

    def solve_steps(self, problem: Problem, style: str) -> Sequence[Step]:
        raise NotImplementedError

    def check_lines(self, problem: Problem, text: str, style: str,
                    out: LineChecker) -> str | None:
        """Append one verdict per claim line to ``out``; return the answer the
        lines computed (as the canonical answer string) or None."""
        raise NotImplementedError

    def render(self, problem: Problem, style: str, steps: Sequence[Step]) -> str | None:
        """Exact trace text for formats that are not one step per line."""
        return None

    # --- shared ----------------------------------------------------------
    def generate(self, seed: int, index: int, level: int) -> Problem:
        if level not in self.levels:
            raise ValueError(f"{self.name}: level {level} not in {self.levels}")
        rng = random.Random(make_rng_seed(seed, self.name, level, index))
        return self.make_problem(rng, seed, index, level)

    def _check_style(self, style: str) -> None:
        if style not in self.styles:
            raise ValueError(f"{self.name}: unknown style {style!r}; known: {', '.join(self.styles)}")

    def solve(self, problem: Problem, style: str) -> Trace:
        self._check_style(style)
        steps = tuple(self.solve_steps(problem, style))
        return Trace(self.name, style, steps, problem.answer,
                     rendered=self.render(problem, style, steps))

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        """(prompt, completion): the question, then the trace and its marker."""
        trace = self.solve(problem, style)
        return problem.question + "\n", f"{trace.text}\n{ANSWER_MARKER} {problem.answer}"

    def extract_answer(self, problem: Problem, text: str, style: str | None = None) -> str | None:
        return extract_final_answer(text)

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        got, want = normalize_answer(got), normalize_answer(want)
        return got is not None and want is not None and got == want

    def check_answer(self, problem: Problem, text: str, style: str | None = None) -> bool:
        if not isinstance(text, str) or len(text) > MAX_CHECK_CHARS:
            return False
        if style is not None:
            self._check_style(style)
        return self.answers_equal(self.extract_answer(problem, text, style), problem.answer)

    def check_steps(self, problem: Problem, text: str, style: str | None = None) -> StepReport:
        """Replay ``text`` line by line. Without a style, every style's reading
        is tried and the one that credits the most grounded valid steps wins."""
        if not isinstance(text, str):
            return hostile_report("not text")
        if len(text) > MAX_CHECK_CHARS:
            return hostile_report(f"longer than {MAX_CHECK_CHARS} characters")
        if style is not None:
            self._check_style(style)
        best: tuple | None = None
        for s in (style,) if style is not None else self.styles:
            out = LineChecker()
            computed = self.check_lines(problem, text, s, out)
            follows = self.answers_equal(self.extract_answer(problem, text, s), computed)
            unparsed = sum(v.verdict == UNPARSEABLE for v in out.verdicts)
            score = (out.valid_count, follows, -unparsed)
            if best is None or score > best[0]:
                best = (score, StepReport(tuple(out.verdicts), follows))
        return best[1]


class RunningSum:
    """Replays ``x + y = z.`` lines that fold earlier claimed terms left to right.

    The terms are results of earlier lines (partial products, place values);
    the first addition must start from the first term, and each later one from
    the previous total, so a skipped addition leaves the next one ungrounded.
    """

    __slots__ = ("terms", "total", "added")

    def __init__(self) -> None:
        self.terms: list[int] = []
        self.total: int | None = None
        self.added = 0

    def add_term(self, value: int) -> None:
        if not self.terms:
            self.total = value
        self.terms.append(value)

    def claim(self, x: int, y: int, z: int) -> tuple[bool, bool]:
        """(valid, grounded) of ``x + y = z`` and fold it in."""
        nxt = self.added + 1
        grounded = x == self.total and nxt < len(self.terms) and y == self.terms[nxt]
        self.total = z
        self.added = nxt
        return x + y == z, grounded

    @property
    def complete(self) -> bool:
        return bool(self.terms) and self.added == len(self.terms) - 1
