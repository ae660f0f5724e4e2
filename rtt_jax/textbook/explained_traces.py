"""Explained traces: a solver's trace with a textbook sentence where it needs one.

phi-1's claim is about *textbook quality*: text that says what it does and
why. For a modular-sums trace in the ``running`` style the one step that is
not written out is the carry: a line starts from the previous result reduced
mod 10 (``12`` carries on as ``2``, ``-7`` as ``3``). An explained trace is
the same trace with a sentence before each line that starts from a carried
value, saying what was carried and why, and one after the last line when the
answer is its result reduced::

    7+5=12
    Why: 12 carries on as its last digit, 2.
    2-9=-7
    Why: -7 is negative, so it carries on as -7+10=3.
    3+3=6
    #### 6

Every number in a sentence comes from the trace's own lines (never
recomputed apart from the reduction mod 10 the sentence states), and the
phrasing varies with ``variant`` (one per problem in a pool). Explanation
lines start with ``COMMENTARY_PREFIX``, so that scoring can leave them out
(``eval.commentary_prefix``): the step checkers judge the arithmetic lines;
the explanations are not claims they read.
"""
from __future__ import annotations

from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.tasks.base import Problem

COMMENTARY_PREFIX = "Why:"
MODULUS = 10
# (for a result of two digits, for a negative one); {z}: the result, {d}: z mod 10.
_CARRY = (("{z} carries on as its last digit, {d}.",
           "{z} is negative, so it carries on as {z}+10={d}."),
          ("Only the last digit of {z} matters mod 10: {d}.",
           "{z} is below 0, and mod 10 it is {z}+10={d}."),
          ("{z} mod 10 = {d}, so the next line starts from {d}.",
           "{z} mod 10 = {d}, so the next line starts from {d}."))
_ANSWER = ("The answer is {z} mod 10 = {d}.", "So the answer is the last digit of {z}: {d}.",
           "{z} reduced mod 10 is {d}, the answer.")


def carry_sentence(z: int, variant: int) -> str | None:
    """Why the next line starts from ``z mod 10`` (None when z is a digit)."""
    if 0 <= z < MODULUS:
        return None
    pair = _CARRY[variant % len(_CARRY)]
    return pair[z < 0].format(z=z, d=z % MODULUS)


def explained_completion(family, problem: Problem, variant: int) -> str:
    """The ``running`` trace of ``problem`` with its ``Why:`` lines, then the
    ``####`` answer line."""
    if family.name != "modular":
        raise ValueError(f"explained traces are written for modular, not {family.name}")
    steps = family.solve(problem, "running").steps
    lines = []
    for k, step in enumerate(steps):
        lines.append(step.text)
        z = int(step.result)
        if k + 1 < len(steps):
            words = carry_sentence(z, variant)
        elif not 0 <= z < MODULUS:
            words = _ANSWER[variant % len(_ANSWER)].format(z=z, d=z % MODULUS)
        else:
            words = None
        if words:
            lines.append(f"{COMMENTARY_PREFIX} {words}")
    return "\n".join(lines + [f"{ANSWER_MARKER} {problem.answer}"])


def drop_commentary(text: str, prefix: str = COMMENTARY_PREFIX) -> tuple[str, int]:
    """``text`` without its commentary lines, and how many there were."""
    kept, dropped = [], 0
    for line in text.split("\n"):
        if line.lstrip().startswith(prefix):
            dropped += 1
        else:
            kept.append(line)
    return "\n".join(kept), dropped
