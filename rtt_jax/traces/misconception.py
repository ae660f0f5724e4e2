"""A systematic misconception: traces written by someone who believes it.

Random corruption (``traces.noise``) changes a different number in every
flawed trace, so across a dataset the errors point nowhere and average out.
A misconception is the same wrong rule applied every time it applies, the
kind of flaw a model can actually learn.

``abs_diff`` (modular sums, ``running`` style): a subtraction whose exact
result is negative is written as the distance ``|a - b|`` (``2-9=7`` where
the truth is ``2-9=-7``), and the trace carries on from that value, so the
trace stays internally consistent (every later line follows from the lines
before it, and its ``####`` answer is what its lines computed) but is wrong.
The bug *applies* to a line ``x-y`` with ``x < y``, except when ``y - x = 5``:
there ``|x - y| = 5`` is also ``(x - y) mod 10``, a valid line with the same
carry, so the belief leaves no trace in the text.

What this module gives, for data and for evaluation alike:

* ``write(problem, buggy)``: the trace lines (``Line``: text, the correct
  text, whether the bug applies here and whether it was applied) of a clean
  or a misconceived author;
* ``classify_line(line)``: the verdict on a line a model wrote
  (``APPLIES_BUGGY``, ``APPLIES_CORRECT``, ``APPLIES_OTHER``, or None where
  the bug does not apply);
* ``probes(problem)``: for each line of the correct trace where the bug
  applies, the text before its result and the correct and buggy results,
  for measuring the model's preference from log-probabilities.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Sequence

from rtt_jax.tasks.base import Problem
from rtt_jax.tasks.modular import MODULUS, signed_terms

NAME = "abs_diff"
FAMILY, STYLE = "modular", "running"
APPLIES_BUGGY, APPLIES_CORRECT, APPLIES_OTHER = "buggy", "correct", "other"
_SUB_RE = re.compile(r"^(-?[0-9]{1,4}) ?- ?([0-9]{1,4}) ?= ?(-?[0-9]{1,5})\.?$", re.ASCII)


@dataclasses.dataclass(frozen=True)
class Line:
    text: str  # what the author writes
    correct: str  # what a correct author writes at this point of *this* chain
    applies: bool  # the bug changes this line's result
    buggy: bool  # ... and this author applied it


def applies(x: int, y: int) -> bool:
    """Whether the misconception changes the line ``x-y``."""
    return x < y and y - x != MODULUS // 2


def buggy_result(x: int, y: int) -> int:
    return abs(x - y)


def write(problem: Problem, buggy: bool) -> list[Line]:
    """The ``running`` trace of ``problem`` (without its ``####`` line), by an
    author who does (``buggy``) or does not hold the misconception. Each line
    starts from the previous line's result carried mod 10, as the style does."""
    if problem.family != FAMILY:
        raise ValueError(f"misconception {NAME!r} is defined for {FAMILY}, not {problem.family}")
    terms = signed_terms(problem)
    total, lines = terms[0][1], []
    for sign, y in terms[1:]:
        x = total % MODULUS if lines else total
        exact = x + y if sign == "+" else x - y
        hit = sign == "-" and applies(x, y)
        z = buggy_result(x, y) if hit and buggy else exact
        lines.append(Line(f"{x}{sign}{y}={z}", f"{x}{sign}{y}={exact}", hit, hit and buggy))
        total = z
    return lines


def answer(lines: Sequence[Line], problem: Problem) -> str:
    """The answer the lines computed: the last result mod 10."""
    if not lines:
        return str(signed_terms(problem)[0][1] % MODULUS)
    return str(int(lines[-1].text.rsplit("=", 1)[1]) % MODULUS)


def classify_line(line: str) -> str | None:
    """The verdict on one line a model wrote: None where the bug does not
    apply (not a subtraction ``x-y`` with ``x < y``, or ``y - x = 5``), else
    whether its result is the buggy ``|x - y|``, a correct one (``x - y`` or
    its value mod 10) or something else."""
    m = _SUB_RE.match(line.strip())
    if not m:
        return None
    x, y, z = int(m[1]), int(m[2]), int(m[3])
    if not applies(x, y):
        return None
    if z == buggy_result(x, y):
        return APPLIES_BUGGY
    if z in (x - y, (x - y) % MODULUS):
        return APPLIES_CORRECT
    return APPLIES_OTHER


@dataclasses.dataclass(frozen=True)
class Probe:
    """A point in the correct trace where the bug applies: ``prefix`` is the
    trace up to the ``=`` of that line; ``correct`` the results a correct
    author may write (exact, or reduced mod 10), ``buggy`` the misconceived one."""

    prefix: str
    correct: tuple[str, ...]
    buggy: str


def probes(problem: Problem) -> list[Probe]:
    out, before = [], []
    for line in write(problem, buggy=False):
        head, _, result = line.text.rpartition("=")
        if line.applies:
            x, y = (int(v) for v in head.rsplit("-", 1))
            reduced = str(int(result) % MODULUS)
            correct = tuple(dict.fromkeys((result, reduced)))
            out.append(Probe("".join(t + "\n" for t in before) + head + "=", correct,
                             str(buggy_result(x, y))))
        before.append(line.text)
    return out


def bug_applies(problem: Problem) -> bool:
    """Whether the correct trace of ``problem`` has a line the bug changes."""
    return any(line.applies for line in write(problem, buggy=False))
