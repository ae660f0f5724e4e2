"""Retry traces: a wrong line, a marker, then the line done right.

Physics of Language Models part 2.2 (Ye et al. 2024) trains on solutions
that contain a mistake immediately followed by a retry marker and the
correction, and finds the model learns to correct itself rather than to make
the mistake. Here a retry trace is the correct trace in which every line a
misconceived author would have got wrong (``traces.misconception``) is
preceded by the wrong line and the marker line::

    7+5=12
    2-9=7
    [retry]
    2-9=-7
    3+3=6
    #### 6

``resolve(text)`` undoes that for scoring: each marker line and the line
before it are removed, so a model that retries is judged on the trace it
stands by, and the retractions are counted.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

MARKER = "[retry]"


def with_retries(correct: Sequence[str], wrong: Sequence[str | None],
                 marker: str = MARKER) -> list[str]:
    """``correct`` lines, each one whose ``wrong[i]`` is a line preceded by
    that wrong line and the marker."""
    if len(correct) != len(wrong):
        raise ValueError(f"with_retries: {len(correct)} lines but {len(wrong)} wrong versions")
    out: list[str] = []
    for line, bad in zip(correct, wrong):
        if bad is not None:
            out += [bad, marker]
        out.append(line)
    return out


@dataclasses.dataclass(frozen=True)
class Resolved:
    text: str  # the trace the writer stands by
    retracted: tuple[str, ...]  # the lines taken back


def resolve(text: str, marker: str = MARKER) -> Resolved:
    """``text`` without its retracted lines: a line equal to ``marker``
    (surrounding spaces ignored) takes back the last line kept before it. A
    marker with nothing before it is dropped."""
    kept: list[str] = []
    retracted: list[str] = []
    for line in text.split("\n"):
        if line.strip() == marker:
            while kept and not kept[-1].strip():  # blank lines are not claims
                kept.pop()
            if kept:
                retracted.append(kept.pop())
            continue
        kept.append(line)
    return Resolved("\n".join(kept), tuple(retracted))
