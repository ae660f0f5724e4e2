"""``Family``: the one skeleton every generated task family is built on.

A family subclasses ``Family``, sets ``name``, ``styles``, ``levels`` and
``train_levels``, and supplies:

* ``make_problem(rng, seed, index, level)``: draw one problem from an RNG the
  skeleton seeds from (seed, name, level, index);
* ``solve_steps(problem, style)``: the structured steps of one style (and,
  for formats that are not one step per line, ``render``: the exact text);
* how to read text back, one of two ways: ``check_lines(problem, text, style,
  out)`` replays the lines under one style and returns the answer they
  computed (the arithmetic families; ``check_steps`` without a style tries
  every style and keeps the reading that credits the most grounded valid
  steps), or ``read_steps(problem, text, style)`` returns the whole
  ``StepReport`` (families whose reading does not depend on the style:
  expressions, linear equations, logic, word problems, counting);
* optionally ``answers_equal(got, want)`` (default: equal strings up to
  whitespace; numeric families compare values) and ``read_answer`` (default:
  the last ``####`` line; Lee et al.'s addition formats carry their answer
  without one).

``style_cues`` (style -> one instruction line) is the other difference
between families: when set, the prompt is the question and then the style's
cue line, so one model can be asked for any style; when empty the prompt is
the question alone.

The skeleton does what every family does the same way: seeding by index,
style checks, the prompt / completion format (``trace`` lines, then
``#### answer``), and the long-text rule (``answers.readable``): text that is
not a string or is longer than ``MAX_CHECK_CHARS`` is wrong, unread.
"""
from __future__ import annotations

import random
from typing import Mapping, Sequence

from rtt_jax.tasks.answers import (ANSWER_MARKER, MAX_CHECK_CHARS,
                                   extract_final_answer, readable)
from rtt_jax.tasks.base import (UNPARSEABLE, Problem, Step, StepReport,
                                StepVerdict, Trace, make_rng_seed)
from rtt_jax.tasks.stepwise import LineChecker


def hostile_report(reason: str) -> StepReport:
    """The report for text no checker reads: one unparseable step."""
    return StepReport((StepVerdict("", UNPARSEABLE, False, reason),), False)


def normalize_answer(text: str | None) -> str | None:
    """Collapse internal whitespace; None stays None."""
    if text is None:
        return None
    return " ".join(text.split())


class Family:
    """The skeleton of a task family; see the module docstring."""

    name: str = ""
    styles: tuple[str, ...] = ()
    levels: range = range(1, 2)
    train_levels: range = range(1, 2)
    style_cues: Mapping[str, str] = {}

    # --- supplied by each family -------------------------------------------
    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        raise NotImplementedError

    def solve_steps(self, problem: Problem, style: str) -> Sequence[Step]:
        raise NotImplementedError

    def render(self, problem: Problem, style: str, steps: Sequence[Step]) -> str | None:
        """Exact trace text for formats that are not one step per line."""
        return None

    def check_lines(self, problem: Problem, text: str, style: str,
                    out: LineChecker) -> str | None:
        """Append one verdict per claim line to ``out``; return the answer the
        lines computed (as the canonical answer string) or None."""
        raise NotImplementedError

    def read_steps(self, problem: Problem, text: str, style: str | None) -> StepReport:
        """The step report of readable ``text``. This default replays it with
        ``check_lines``: under ``style``, or, without one, under every style,
        keeping the reading that credits the most grounded valid steps."""
        best: tuple | None = None
        for s in (style,) if style is not None else self.styles:
            out = LineChecker()
            computed = self.check_lines(problem, text, s, out)
            follows = self.answers_equal(self.read_answer(problem, text, s), computed)
            unparsed = sum(v.verdict == UNPARSEABLE for v in out.verdicts)
            score = (out.valid_count, follows, -unparsed)
            if best is None or score > best[0]:
                best = (score, StepReport(tuple(out.verdicts), follows))
        return best[1]

    def read_answer(self, problem: Problem, text: str, style: str | None) -> str | None:
        """The answer readable ``text`` states (default: its last ``####`` line)."""
        return extract_final_answer(text)

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        got, want = normalize_answer(got), normalize_answer(want)
        return got is not None and want is not None and got == want

    # --- the same for every family -------------------------------------------
    def generate(self, seed: int, index: int, level: int) -> Problem:
        if level not in self.levels:
            raise ValueError(f"{self.name}: level {level} not in {self.levels}")
        rng = random.Random(make_rng_seed(seed, self.name, level, index))
        return self.make_problem(rng, seed, index, level)

    def check_style(self, style: str) -> None:
        if style not in self.styles:
            raise ValueError(f"{self.name}: unknown style {style!r}; known: {', '.join(self.styles)}")

    def solve(self, problem: Problem, style: str) -> Trace:
        self.check_style(style)
        steps = tuple(self.solve_steps(problem, style))
        return Trace(self.name, style, steps, problem.answer,
                     rendered=self.render(problem, style, steps))

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        """(prompt, completion): the question (and the style's cue line), then
        the trace and its ``####`` line."""
        trace = self.solve(problem, style)
        cue = f"{self.style_cues[style]}\n" if self.style_cues else ""
        return (f"{problem.question}\n{cue}",
                f"{trace.text}\n{ANSWER_MARKER} {problem.answer}")

    def extract_answer(self, problem: Problem, text: str, style: str | None = None) -> str | None:
        text = readable(text)
        return None if text is None else self.read_answer(problem, text, style)

    def check_answer(self, problem: Problem, text: str, style: str | None = None) -> bool:
        text = readable(text)
        if text is None:
            return False
        if style is not None:
            self.check_style(style)
        return self.answers_equal(self.read_answer(problem, text, style), problem.answer)

    def check_steps(self, problem: Problem, text: str, style: str | None = None) -> StepReport:
        """Judge each line of ``text`` (valid, invalid or unparseable; grounded
        or not) and whether its final answer is what the lines computed."""
        if not isinstance(text, str):
            return hostile_report("not text")
        if readable(text) is None:
            return hostile_report(f"longer than {MAX_CHECK_CHARS} characters")
        if style is not None:
            self.check_style(style)
        return self.read_steps(problem, text, style)
