"""Line-by-line replay helpers for families that check text with ``check_lines``
(``rtt_jax.tasks.family.Family``): the arithmetic families.

Replay, not recomputation: a checker walks the lines in order while tracking
what the *text* has claimed so far (the running carry, the last remainder,
...). A line is ``valid`` when its own arithmetic is right and ``grounded``
when every input it uses is a number of the problem or a result claimed by an
earlier line. So a wrong step is invalid, a skipped step leaves the next one
ungrounded, and an answer that differs from what the lines computed does not
follow.
"""
from __future__ import annotations

from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.tasks.base import INVALID, UNPARSEABLE, VALID, StepVerdict


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
