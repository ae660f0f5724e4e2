"""Web-like worked solutions: the same traces, written the way forums write them.

phi-1 (Gunasekar et al. 2023) contrasts "textbook quality" data with the web,
where solutions skip steps, change notation halfway and come wrapped in
chatter. ``degrade(lines, answer, kind, rng)`` gives a trace's step lines
one such defect (the ``####`` answer line is kept as it was):

* ``skipped_step``: one step line is left out (not the first, so that the
  trace still starts from the question; a one-line trace loses its only
  line), so the line after the gap starts from a total the text never showed;
* ``format_drift``: from a random line on, the lines switch notation: words
  (``2 minus 9 is -7``), arrows (``7+5 -> 12``) or spaced symbols
  (``7 + 5 = 12``: still a valid step to the checkers; drift is not always
  an error);
* ``filler``: one to three lines of forum chatter (``Hope this helps!``)
  inserted among the steps.

``web_pool_kinds(n, share, rng)`` decides which of ``n`` texts get a defect
(exactly ``round(share * n)`` of them, kinds in turn), so a pool's share of
defective texts is what it says.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

KINDS = ("skipped_step", "format_drift", "filler")
NOTATIONS = ("words", "arrow", "spaced")
FILLER = (
    "ok so basically you just do it step by step",
    "Hope this helps!",
    "edit: fixed a typo",
    "lol this one tripped me up at first",
    "Not sure if this is right but here goes",
    "Thanks in advance, this forum is great.",
    "Posted by mathfan_22 | 3 replies",
    "Source: my teacher showed us this in class",
    "EDIT 2: formatting",
    "anyway",
)
_OP_RE = re.compile(r"^(-?\d+)([+-])(\d+)=(-?\d+)$")
_WORDS = {"+": "plus", "-": "minus"}


def renotate(line: str, notation: str) -> str:
    """``x±y=z`` in another notation (other lines are left as they are)."""
    m = _OP_RE.match(line)
    if not m:
        return line
    x, op, y, z = m.groups()
    if notation == "words":
        return f"{x} {_WORDS[op]} {y} is {z}"
    if notation == "arrow":
        return f"{x}{op}{y} -> {z}"
    if notation == "spaced":
        return f"{x} {op} {y} = {z}"
    raise ValueError(f"unknown notation {notation!r}; known: {NOTATIONS}")


def degrade(lines: Sequence[str], kind: str, rng: random.Random) -> list[str]:
    """``lines`` (step lines, no ``####`` line) with one defect of ``kind``."""
    lines = list(lines)
    if kind == "skipped_step":
        if len(lines) <= 1:
            return []
        del lines[rng.randrange(1, len(lines))]
        return lines
    if kind == "format_drift":
        notation = rng.choice(NOTATIONS)
        start = rng.randrange(len(lines)) if lines else 0
        return lines[:start] + [renotate(ln, notation) for ln in lines[start:]]
    if kind == "filler":
        for _ in range(rng.randint(1, 3)):
            lines.insert(rng.randint(0, len(lines)), rng.choice(FILLER))
        return lines
    raise ValueError(f"unknown web-like defect {kind!r}; known: {KINDS}")


def web_pool_kinds(n: int, share: float, rng: random.Random) -> list[str | None]:
    """Which of ``n`` texts get which defect: ``round(share * n)`` of them, the
    kinds dealt in turn, at positions chosen by ``rng``; None = left clean."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"web-like share {share}: expected a share in [0, 1]")
    k = round(share * n)
    out: list[str | None] = [None] * n
    for j, i in enumerate(rng.sample(range(n), k)):  # random order: kinds not tied to i
        out[i] = KINDS[j % len(KINDS)]
    return out
