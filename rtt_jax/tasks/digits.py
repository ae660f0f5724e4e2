"""Digit and number helpers shared by the arithmetic families.

The families' line patterns read numbers as ``[0-9]{1,MAX_DIGITS}`` under
``re.ASCII``, never ``\\d`` or a bare ``int()`` on model text: those accept
any Unicode decimal digit (``'٣'`` is 3 to them), so a checker using them would
credit text that no ASCII grader would. The length cap rejects an answer like
``10**10**10`` or a million-digit integer before any arithmetic is tried.
"""
from __future__ import annotations

import random

# The longest integer (in digits) a checker will read. Generated problems stay
# far below it (the largest is a 16-digit product); anything longer is hostile.
MAX_DIGITS = 40
DIGIT_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def random_with_digits(rng: random.Random, n: int, low: int = 0) -> int:
    """A uniform integer with exactly ``n`` decimal digits; for ``n == 1`` one
    of ``low``..9 (so ``low=1`` excludes zero without biasing toward 1)."""
    if n <= 1:
        return rng.randrange(low, 10)
    return rng.randrange(10 ** (n - 1), 10**n)


def column_digit(n_str: str, k: int) -> int:
    """The ``k``-th column digit (0 = ones) of a decimal string, 0 beyond its length."""
    return int(n_str[-1 - k]) if k < len(n_str) else 0


def to_base(n: int, base: int) -> str:
    """``n`` written in ``base`` (2..36) with digits 0-9 then A-Z."""
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, base)
        out.append(DIGIT_CHARS[r])
    return "".join(reversed(out))


def digit_value(ch: str) -> int | None:
    """Value of one ASCII digit character 0-9, A-Z or a-z, else None."""
    if len(ch) != 1:
        return None
    i = DIGIT_CHARS.find(ch.upper())
    return i if i >= 0 else None
