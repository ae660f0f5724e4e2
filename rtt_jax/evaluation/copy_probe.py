"""The copy probe: do a trace's names and numbers come from the prompt, and are
they the right ones?

A trace line of a prompt-grounded task restates what the prompt says
(``Dan has 10 + 4 = 14 stamps.`` reads Uma's 10 and Dan's "4 more" off the
question). A model that has not learned to read its prompt writes the line's
template with invented names and numbers; one that has half learned it copies
names and numbers from the prompt, but the wrong ones (issue 26). Answer
accuracy and step validity cannot tell these apart; this probe can.

Items. Each trace line of a completion (every non-empty line but the ``####``
answer line) is read for its *items*:

* numbers: runs of digits with an optional decimal part (``1/2`` is two
  numbers, ``-3`` the number 3: the sign is an operator, not an operand);
* names: capitalised words (``Kate's`` is ``Kate``) other than the words our
  trace templates capitalise (``TEMPLATE_WORDS``: ``To find``, ``In total``,
  ``Add``, ...). Lower-case nouns (``crabs``) are not items.

Each item of line k is then counted as

* from the prompt: it occurs among the question's items;
* right: it is an item of the solver's line k (the family's own trace of the
  problem in the eval style), each of that line's items matched at most once.
  Lines are aligned by position: a model that skips or reorders a step is
  judged against the solver's order, as a reader comparing the two would;
* invented: it is not right and occurs neither in the question nor on an
  earlier line of the same completion: a name or number from nowhere (a
  miscomputed result is one too; a right result or one carried forward from
  an earlier line is not).

The solver's own trace is not all copies: its results are computed (a word problem's forward
trace takes 65% of its items from the prompt at level 3, 77% at level 1),
so ``items_from_prompt`` is read against the same figure for the solver's
lines, which ``probe_text(question, reference, reference)`` gives.

Per eval set (``aggregate_copy``; ratios over items, with the trace-clustered
interval step validity uses, ``intervals.ratio_ci``):

=====================  ===============================================
items_from_prompt      items from the prompt / items
prompt_items_right     right items from the prompt / items from the prompt
                       (1 - this is "copied, but the wrong one")
items_right            right items / items
items_invented         invented items / items
names_from_prompt      the same two for names alone (word problems:
names_right            invented names against copied ones)
=====================  ===============================================

A model trained without traces writes no trace lines: its probe metrics are
None, like the other ``scoring.TRACE_METRICS``. Nothing here executes model
text; it is read with two regexes, line by line.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, Sequence

from rtt_jax.evaluation import intervals
from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.tasks.base import Problem

# Capitalised words of our families' trace templates (not names). A test
# (tests/test_copy_probe.py) checks that every capitalised word any family's
# solver writes is either here or in that problem's question.
TEMPLATE_WORDS = frozenset({
    "Add", "After", "Bring", "Column", "Count", "False", "In", "Place", "Powers", "Reading",
    "Row", "So", "Split", "Start", "Take", "The", "To", "True"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NAME = re.compile(r"\b[A-Z][a-z]+\b")
# Metrics, in report order: (name, numerator field, denominator field).
COPY_METRICS = (("items_from_prompt", "from_prompt", "items"),
                ("prompt_items_right", "prompt_right", "from_prompt_judged"),
                ("items_right", "right", "items_judged"),
                ("items_invented", "invented", "items"),
                ("names_from_prompt", "names_from_prompt", "names"),
                ("names_right", "names_right", "names_judged"))
METRIC_NAMES = tuple(m for m, _, _ in COPY_METRICS)


@dataclasses.dataclass(frozen=True)
class CopyCounts:
    """One completion's item counts (``*_judged``: items of lines that had a
    solver's line to compare with)."""

    items: int = 0
    from_prompt: int = 0
    invented: int = 0
    right: int = 0
    prompt_right: int = 0
    items_judged: int = 0
    from_prompt_judged: int = 0
    names: int = 0
    names_from_prompt: int = 0
    names_right: int = 0
    names_judged: int = 0


def line_items(line: str) -> tuple[list[str], list[str]]:
    """(names, numbers) of one line, in order of appearance."""
    names = [w for w in _NAME.findall(line) if w not in TEMPLATE_WORDS]
    numbers = [_canonical(n) for n in _NUMBER.findall(line)]
    return names, numbers


def _canonical(number: str) -> str:
    """``12.0`` and ``12`` are the same number; ``007`` is ``7``."""
    whole, _, frac = number.partition(".")
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def trace_lines(text: str) -> list[str]:
    """The lines of a completion the probe reads: non-empty, not the answer line."""
    return [ln.strip() for ln in text.splitlines()
            if ln.strip() and not ln.strip().startswith(ANSWER_MARKER)]


def _items(line: str) -> list[tuple[str, str]]:
    names, numbers = line_items(line)
    return [("name", n) for n in names] + [("number", n) for n in numbers]


def probe_text(prompt: str, text: str, reference: Sequence[str] | None) -> CopyCounts:
    """The counts of completion ``text`` given the ``prompt`` (the question) and
    the solver's trace lines ``reference`` (None: no reference, nothing is
    judged right or wrong)."""
    in_prompt = {item for item in _items(prompt)}
    earlier: set[tuple[str, str]] = set()
    c = collections.Counter()
    for k, line in enumerate(trace_lines(text)):
        items = _items(line)
        judged = reference is not None and k < len(reference)
        want = collections.Counter(_items(reference[k])) if judged else collections.Counter()
        for item in items:
            kind = item[0]
            copied = item in in_prompt
            right = want[item] > 0
            if right:
                want[item] -= 1
            c["items"] += 1
            c["from_prompt"] += copied
            c["invented"] += not (copied or right or item in earlier)
            c["items_judged"] += judged
            c["from_prompt_judged"] += judged and copied
            c["right"] += right
            c["prompt_right"] += right and copied
            if kind == "name":
                c["names"] += 1
                c["names_from_prompt"] += copied
                c["names_judged"] += judged
                c["names_right"] += right
        earlier.update(items)
    return CopyCounts(**{k: int(v) for k, v in c.items()})


def reference_lines(family: Any, problem: Problem, style: str | None) -> list[str] | None:
    """The solver's trace lines of ``problem`` in ``style`` (None where the
    family has no solver for it: external sets, a style it does not write)."""
    if style is None or not hasattr(family, "solve"):
        return None
    try:
        return trace_lines(family.solve(problem, style).text)
    except (ValueError, KeyError, NotImplementedError):
        return None


def probe_completion(family: Any, problem: Problem, text: str, style: str | None) -> CopyCounts:
    """The counts of one readable completion of ``problem``."""
    return probe_text(problem.question, text, reference_lines(family, problem, style))


def aggregate_copy(counts: Sequence[CopyCounts | None]) -> dict[str, intervals.Estimate]:
    """``{metric: Estimate}`` over the completions' counts (None: not probed;
    left out). Ratios are over items, clustered by completion."""
    probed = [c for c in counts if c is not None]
    return {name: intervals.ratio_ci([getattr(c, num) for c in probed],
                                 [getattr(c, den) for c in probed])
            for name, num, den in COPY_METRICS}
