"""Reading the final answer out of a completion, and guarding the checkers.

The final answer is the text after the LAST ``####`` marker line
(``rtt_jax.tasks.answers.extract_final_answer``): a marker must start its line
(leading spaces allowed), so ``the answer is #### 5`` mid-sentence is not a
marker, and when a completion has several marker lines the last one wins
(a model that "corrects itself" is judged on its final word). Trailing spaces
are stripped. Families whose published formats carry the answer without a
marker (Lee et al. addition styles) supply ``extract_answer`` and it is used
instead.

Outcome of one completion (``Extraction.status``):

* ``ok``: an answer was found (whether it is right is the family's call);
* ``no_marker``: no answer at all: counted as *unparsed*, apart from wrong;
* ``empty``: a marker line with nothing after it: also *unparsed*;
* ``too_long``: longer than ``MAX_CHECK_CHARS``: scored wrong unread, so a
  megabyte completion costs nothing (the one long-text rule,
  ``rtt_jax.tasks.answers.readable``, which every checker applies too);
* ``not_text``: ``generate_fn`` returned something other than a string.

Nothing here evaluates model text; numbers are parsed by regex only.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

from rtt_jax.tasks.answers import MAX_CHECK_CHARS, extract_final_answer, parse_answer

OK, NO_MARKER, EMPTY, TOO_LONG, NOT_TEXT = "ok", "no_marker", "empty", "too_long", "not_text"
UNPARSED_STATUSES = frozenset({NO_MARKER, EMPTY})
REJECTED_STATUSES = frozenset({TOO_LONG, NOT_TEXT})
# How much of an extracted answer we keep in reports and samples.
MAX_ANSWER_CHARS = 200


@dataclasses.dataclass(frozen=True)
class Extraction:
    status: str
    answer: str | None  # the answer text (stripped, at most MAX_ANSWER_CHARS)

    @property
    def unparsed(self) -> bool:
        return self.status in UNPARSED_STATUSES

    @property
    def number(self) -> Fraction | None:
        """The answer as a number (``1,080``, ``-3``, ``$2.50`` ...), else None.

        Only ASCII digits count: ``int()`` would accept Arabic-Indic or
        full-width digits, which no reference answer uses.
        """
        return parse_answer(self.answer) if self.answer else None


def extract(text: Any, family: Any = None, problem: Any = None,
            style: str | None = None) -> Extraction:
    """The final answer of ``text``; see the module docstring for the rules."""
    if not isinstance(text, str):
        return Extraction(NOT_TEXT, None)
    if len(text) > MAX_CHECK_CHARS:
        return Extraction(TOO_LONG, None)
    if family is not None and problem is not None:
        answer = family.extract_answer(problem, text, style)
    else:
        answer = extract_final_answer(text)
    if answer is None:
        return Extraction(NO_MARKER, None)
    answer = answer.strip()
    if not answer:
        return Extraction(EMPTY, None)
    return Extraction(OK, answer[:MAX_ANSWER_CHARS])


def trace_length(text: Any) -> tuple[int, int]:
    """(non-empty lines, characters) of a completion; (0, 0) if not text."""
    if not isinstance(text, str):
        return 0, 0
    # Counting lines of a megabyte completion is linear and cheap; no cap needed.
    return sum(1 for ln in text.splitlines() if ln.strip()), len(text)
