"""Reading answers out of text, and the one rule for text that is too long.

Every family's checkers, evaluation's extraction and the trace readers read
final answers through this module.

The long-text rule: text longer than ``MAX_CHECK_CHARS`` is not read at all.
``readable(text)`` returns None for it (and for anything that is not a
string), and every parser starts there: ``extract_final_answer`` finds no
answer, ``check_answer`` is False and ``check_steps`` reports one unparseable
step. Rejecting, rather than reading the first or the last ``MAX_CHECK_CHARS``
characters, is chosen because a cut text is a different text: keeping the
tail would credit a right ``#### answer`` placed after a megabyte of junk,
keeping the head would drop a real one, and either would make the verdict
depend on where the junk sits. A rejected text costs nothing to score, and
every parser below it is linear in a length that is bounded.

``parse_answer`` turns an answer's text into a number (``1,080``, ``$2.50``,
``18 dollars``); families that compare numbers rather than strings use it.
Nothing here evaluates text: numbers are read by regex.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from rtt_jax.tasks.safe_arith import NUMBER_PATTERN, format_number, parse_number

ANSWER_MARKER = "####"
# Model text is untrusted: the most characters any checker reads.
MAX_CHECK_CHARS = 20_000
# An answer is a number or a short phrase: only its head is looked at.
_MAX_ANSWER_HEAD = 200
_FIRST_NUMBER_RE = re.compile(r"-?\$?\s?(" + NUMBER_PATTERN + r")(?![0-9]|[.,][0-9])")


def readable(text: Any) -> str | None:
    """``text`` if a checker may read it, else None (not a string, or longer
    than ``MAX_CHECK_CHARS``): the one long-text rule; see the module docstring."""
    if not isinstance(text, str) or len(text) > MAX_CHECK_CHARS:
        return None
    return text


def split_marker_line(line: str) -> tuple[str, str, str] | None:
    """``(head, answer, tail)`` of a ``####`` marker line, else None.

    A marker line is optional spaces/tabs, ``####``, then the answer; ``head``
    is everything up to the answer and ``tail`` its trailing spaces/tabs, so
    ``head + answer + tail == line``. String methods, not a regex: the regex
    ``^[ \t]*####[ \t]*(.*?)[ \t]*$`` backtracks over a long run of spaces
    and took seconds on one 20,000-character model line.
    """
    body = line.lstrip(" \t")
    if not body.startswith(ANSWER_MARKER):
        return None
    rest = body[len(ANSWER_MARKER):]
    answer = rest.lstrip(" \t")
    head = line[:len(line) - len(answer)]
    stripped = answer.rstrip(" \t")
    return head, stripped, answer[len(stripped):]


def extract_final_answer(text: Any) -> str | None:
    """The text after the last ``####`` marker line; None if there is none or
    ``text`` is not ``readable``.

    Lines end at ``\n`` only (a ``\r`` stays in the answer for the caller's
    ``strip``). Linear in ``len(text)``: each line is looked at once, from the end.
    """
    text = readable(text)
    if text is None:
        return None
    end = len(text)
    while True:
        hit = text.rfind(ANSWER_MARKER, 0, end)
        if hit < 0:
            return None
        start = text.rfind("\n", 0, hit) + 1
        stop = text.find("\n", hit)
        parts = split_marker_line(text[start:stop if stop >= 0 else len(text)])
        if parts is not None:
            return parts[1]
        end = start  # this line has a '####' but not at its start: look above it


def parse_answer(text: str | None) -> Fraction | None:
    """The number an answer states: ``1,080``, ``-3``, ``$2.50``, ``18 dollars``,
    ``72.`` all parse; text without a leading number does not."""
    if text is None:
        return None
    text = text.strip()[:_MAX_ANSWER_HEAD]
    m = _FIRST_NUMBER_RE.match(text)
    if m is None:
        return None
    value = parse_number(m.group(1))
    if value is None:
        return None
    return -value if text.startswith("-") else value


def canonical_answer(text: str) -> str | None:
    """``parse_answer``'s number written the canonical way (``1080``, ``2.5``)."""
    value = parse_answer(text)
    return None if value is None else format_number(value)
