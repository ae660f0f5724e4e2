"""Equations in the prose of a GSM8K solution, read into parts a checker can use.

Human solutions write much of their arithmetic outside the calculator
annotations: chains such as ``$2,430 – ($1,250 + $850) = $2,430 – $2,100 =
$330``, percentages (``100% - 40% = 60%``), mixed numbers (``1 and 1/4``) and
algebra (``S + 2S + 4S = 7S = 847``, then ``S = 847 / 7``). This module only
reads them; ``rtt_jax.tasks.gsm8k_steps`` checks the calculations and
``rtt_jax.tasks.gsm8k_grounding`` decides which numbers the prose derived:

* ``chains(line)``: the ``A = B = C`` chains of a line, as ``Part`` objects
  (the expression text, parsed, with at most one variable).
* ``Part.form``: an expression as ``(a, b)`` for ``a * v + b`` (its variable
  ``v``), when it is linear; numbers have ``a == 0``.
* ``statements(line)``: the numbers a line states in words outside every
  equation, and its calculations written without "=".
* ``is_numeric_claim(a, b)``: whether ``A = B`` is a calculation to check.

Nothing here executes text: parts go through ``safe_arith``'s parser, and
forms are found by evaluating the parsed tree at a few values of the
variable. Everything is linear in the line's length; lines longer than
``MAX_LINE_CHARS`` and parts beyond ``MAX_PARTS`` per line are ignored.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from fractions import Fraction

from rtt_jax.tasks.safe_arith import (NUMBER_PATTERN, Node, SafeArithError, count_ops,
                                      evaluate_node, number_values, parse)

MAX_LINE_CHARS = 2_000
MAX_PARTS = 200
MAX_UNIT_WORDS = 4

# Tokens of a line: a number; a word; "="; a sentence break (",", ".", ":" ...
# before a space or the end, or ";?!" anywhere); spaces; an arithmetic
# character; anything else. Each alternative consumes at least one character
# and none backtracks into another, so tokenising is linear.
_TOKEN_RE = re.compile(
    r"(?P<num>[0-9]+(?:[.,][0-9]+)*|\.[0-9]+)"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<eq>=)"
    r"|(?P<brk>[,.:](?=\s|$)|[;?!\"“”<>\[\]{}|&@#])"
    r"|(?P<sp>\s+)"
    r"|(?P<op>[-+*/×÷−–·^%$€£()])"
    r"|(?P<other>.)")
# Letters that are English words, not variables (unless glued to a number: 5A).
_WORD_LETTERS = frozenset("aAI")
# "1 and 1/4", "16 and (2/3)": a mixed number written with "and".
_MIXED_AND_RE = re.compile(r"(?<![0-9.,/])([0-9]{1,12}) and [$€£]?\(?([0-9]{1,6}/[0-9]{1,6})\)?(?![0-9/])")
# Clock times ("7:50", "0900 hours") are not quantities to add.
_CLOCK_RE = re.compile(r"(?<![0-9.,])(?:[0-9]{1,2}:[0-9]{2}|0[0-9]{3})(?![0-9])")
# Words that are prose, never part of a unit ("4 or A^2", "29 + 24 to the").
_NOT_UNITS = frozenset(
    "and or is are was were be been so then thus therefore which that this these those it "
    "of to the an for with from by in on at as if but than equals makes gives total "
    "because since when while".split())
# A fraction or percent alone is a quantity ("4/7 is $24", "80% is $500"),
# not a calculation.
_QUANTITY_RE = re.compile(r"\s*[$€£]?\s*(?:[0-9]{1,6}/[0-9]{1,6}|" + NUMBER_PATTERN + r"\s?%)\s*")
# "18 000": thousands grouped by spaces.
_SPACED_THOUSANDS_RE = re.compile(r"(?<![0-9.,/])(?<![0-9] )([1-9][0-9]{0,2})((?: [0-9]{3})+)(?![0-9,]|\.[0-9]| [0-9])")
# "25 / 1/3" and "3/ 1/4": a spaced slash before a tight fraction divides by it.
_SPACED_SLASH_FRACTION_RE = re.compile(r"(?:/\s+|\s+/\s*)([0-9]{1,6}/[0-9]{1,6})(?![0-9./])")
# "2 1/2" inside an expression is two and a half.
_MIXED_RE = re.compile(r"(?<![0-9./])([0-9]{1,12}) ([0-9]{1,6})/([0-9]{1,6})(?![0-9])")
# "40%" is 40/100 unless an operand follows ("181 % 3" is a remainder).
_PERCENT_RE = re.compile(r"(?<![0-9.,])(" + NUMBER_PATTERN + r")\s?%(?!\s*[0-9.(])")
_PERCENT_LITERAL_RE = re.compile(r"\s*(" + NUMBER_PATTERN + r")\s?%\s*")
# "(3+1=4)" inside a line: an equation of its own.
_INNER_EQUATION_RE = re.compile(r"\(([^()=\n]{1,80}=[^()=\n]{1,40})\)")
# Operators in words, between numbers: "8 times .05 equals .4", "10% of 150".
_NUM_BEFORE = r"(?<=[0-9)%])"
_NUM_AFTER = r"(?=\s*[$€£]?\s*[0-9.(])"
_VERBAL_OPS = tuple((re.compile(_NUM_BEFORE + r"\s+" + words + r"\s+" + _NUM_AFTER, re.IGNORECASE), op)
                    for words, op in (("times", " * "), ("plus", " + "), ("minus", " - "),
                                      ("divided by", " / "), ("equals", " = "),
                                      ("is equal to", " = ")))
_PERCENT_OF_RE = re.compile(r"%\s+of" + _NUM_AFTER)
VULGAR_FRACTIONS = str.maketrans({"½": " 1/2", "¼": " 1/4", "¾": " 3/4", "⅓": " 1/3", "⅔": " 2/3",
                                   "⅕": " 1/5", "⅛": " 1/8"})
_CURRENCY = str.maketrans({"$": "", "€": "", "£": "", "−": "-", "–": "-", "·": "*"})


def normalize_line(line: str) -> str:
    """Rewrites that keep every number's value: mixed numbers with "and",
    operators in words ("times", "plus", "equals", "% of"), thousands grouped
    by spaces; and clock times become a word, so no chain reads them."""
    line = line.translate(VULGAR_FRACTIONS)
    line = _MIXED_AND_RE.sub(r"\1 \2", line)
    line = _CLOCK_RE.sub(" clock ", line)
    for pattern, op in _VERBAL_OPS:
        line = pattern.sub(op, line)
    line = _PERCENT_OF_RE.sub("% *", line)
    return join_spaced_thousands(line)


def join_spaced_thousands(text: str) -> str:
    """"5 650 000" -> "5650000"."""
    return _SPACED_THOUSANDS_RE.sub(lambda m: m.group(1) + m.group(2).replace(" ", ""), text)


def to_arithmetic(text: str) -> str:
    """A part's text as ``safe_arith`` reads it: no currency signs, dashes as
    minus, percents as fractions, mixed numbers as sums, a spaced slash before
    a tight fraction dividing by the whole fraction."""
    text = text.translate(_CURRENCY).strip()
    text = _PERCENT_RE.sub(r"(\1/100)", text)
    text = _SPACED_SLASH_FRACTION_RE.sub(r"/(\1)", text)
    return _MIXED_RE.sub(r"(\1+\2/\3)", text)


def percent_literal(text: str) -> Fraction | None:
    """The number of a part that is just ``N%`` (``60%`` -> 60), else None."""
    m = _PERCENT_LITERAL_RE.fullmatch(text.translate(_CURRENCY))
    if m is None:
        return None
    try:
        return Fraction(m.group(1).replace(",", ""))
    except ValueError:
        return None


def _is_times(text: str, i: int) -> bool:
    """``text[i]`` (an x) stands between two numbers: ``3 x 4``, ``(2) x $5``."""
    j = i - 1
    while j >= 0 and text[j] in " $€£":
        j -= 1
    k = i + 1
    while k < len(text) and text[k] in " $€£":
        k += 1
    return j >= 0 and text[j] in "0123456789)" and k < len(text) and text[k] in "0123456789(."


@dataclasses.dataclass(frozen=True)
class Part:
    """One side of an equation in a chain."""

    text: str  # as written (after ``normalize_line``)
    node: Node | None  # parsed; None if it does not parse
    variable: str | None  # the one letter it uses, if any (lowercase)
    # Starts with "+", "*" ... right after words: "the number of bikes + 12".
    leads_with_operator: bool = False

    @property
    def numbers(self) -> list[Fraction]:
        """Absolute values of its literals (signs are operations)."""
        return [abs(Fraction(v)) for v in number_values(self.node)] if self.node is not None else []

    @property
    def ops(self) -> int:
        return count_ops(self.node) if self.node is not None else 0

    @property
    def computes(self) -> bool:
        """It is a calculation: an operation other than writing a fraction or
        a percent (``4/7``, ``80%``). An improper fraction (``6/3``) is a
        division; a proper one is a quantity, checked only if the other side
        agrees with it."""
        if self.ops == 0 or self.leads_with_operator:
            return False
        m = _QUANTITY_RE.fullmatch(self.text)
        if m is None:
            return True
        if "%" in self.text:
            return False
        num, den = (int(x) for x in re.findall(r"[0-9]+", self.text))
        return num >= den

    def value(self) -> Fraction | None:
        """Its value, for a part without a variable."""
        if self.node is None or self.variable is not None:
            return None
        try:
            return Fraction(evaluate_node(self.node))
        except (SafeArithError, ZeroDivisionError, RecursionError):
            return None

    def form(self) -> tuple[Fraction, Fraction] | None:
        """``(a, b)`` with the part equal to ``a * v + b`` for every ``v``, if linear."""
        if self.node is None:
            return None
        if self.variable is None:
            v = self.value()
            return None if v is None else (Fraction(0), v)
        try:
            v, V = self.variable, self.variable.upper()
            ys = [Fraction(evaluate_node(self.node, {v: t, V: t})) for t in (0, 1, 2, 3)]
        except (SafeArithError, ZeroDivisionError, RecursionError):
            return None
        a = ys[1] - ys[0]
        if ys[2] - ys[1] != a or ys[3] - ys[2] != a:
            return None  # not linear (x * x, 120 / x): not derived here
        return a, ys[0]


def _part_text(tokens: list[tuple[str, str, int]]) -> str:
    """The kept tokens' text, a space wherever the line had anything between
    them (so "2 1/2" stays a mixed number and dropped unit words leave a gap)."""
    out, end = [], None
    for _, text, pos in tokens:
        if end is not None and pos > end:
            out.append(" ")
        out.append(text)
        end = pos + len(text)
    return "".join(out)


def _make_part(tokens: list[tuple[str, str, int]], after_words: bool = False) -> Part | None:
    if not tokens:
        return None
    text = _part_text(tokens)
    leads = after_words and tokens[0][0] == "op" and tokens[0][1] not in "($€£"
    # "J + 9 = 3(j - 11)": one unknown, whatever its case.
    letters = {t.lower() for kind, t, _ in tokens if kind == "var"}
    if not any(kind == "num" for kind, _, _ in tokens) and not letters:
        return None
    variable = None
    if letters:
        if len(letters) > 1:
            return Part(text, None, None, leads)  # two unknowns: not read
        (letter,) = letters
        times = [i for i, ch in enumerate(text) if ch.lower() == letter]
        if letter == "x" and all(_is_times(text, i) for i in times):
            letter = None  # "3 x 4": a times sign
        variable = letter
    names = (variable, variable.upper()) if variable else ()
    node = None
    # "((45/300)*100)%": a percent sign after a bracket is a unit, not a hundredth.
    for reading in (text, text.replace("%", "")) if "%" in text else (text,):
        try:
            node = parse(to_arithmetic(reading), names)
            break
        except (SafeArithError, RecursionError):
            continue
    return Part(text, node, variable, leads)


def _tokens(line: str) -> list[tuple[str, str, int]]:
    out = []
    for m in _TOKEN_RE.finditer(line):
        kind, text, pos = m.lastgroup, m.group(), m.start()
        if kind == "sp":
            continue
        if kind == "word" and len(text) == 1 and (
                text not in _WORD_LETTERS or pos > 0 and line[pos - 1].isdigit()) and not (
                pos > 0 and line[pos - 1] in "'’"):  # "that's", "John's"
            kind = "var"
        out.append((kind, text, pos))
    return out


def _unit_end(tokens: list[tuple[str, str, int]], i: int) -> int:
    """Where the unit words starting at ``tokens[i]`` end: "kids" in "5 kids /
    20 kids", "snakes/jaguar" in "5 snakes/jaguar * 6", "fifth graders" in
    "109 fifth graders + 115". Returns ``i`` if what follows the words is not
    an operator or "=" (then they are prose, not units)."""
    j, words = i, 0
    while j < len(tokens):
        kind, text, _ = tokens[j]
        if kind == "word" and text.lower() in _NOT_UNITS:
            return i
        if kind == "word" or kind == "var" and text not in "xX":
            words += 1
            j += 1
        elif (kind == "op" and text in "/-" and j + 1 < len(tokens) and tokens[j + 1][0] == "word"
              and tokens[j + 1][2] == tokens[j][2] + 1):
            j += 1  # "snakes/jaguar", "half-capacity"
        else:
            break
        if words > MAX_UNIT_WORDS:
            return i
    if j == i or j == len(tokens):
        return j
    kind, text, _ = tokens[j]
    if kind == "eq" or kind == "brk" or kind == "op" and text not in "($":
        return j
    if kind == "var" and text in "xX" and j + 1 < len(tokens) and tokens[j + 1][0] == "num":
        return j  # "3 grades x 6 adults"
    return i


@functools.lru_cache(maxsize=4096)
def chains(line: str) -> tuple[tuple[Part | None, ...], ...]:
    """The ``A = B = ...`` chains of ``line``: maximal runs of expressions
    joined by ``=``, cut at words and sentence breaks. Unit words right after
    a number are skipped when an operator or "=" follows them (``5 kids / 20
    kids * 100% = 25%``). A single letter is a variable (``7S``, ``x = 40``),
    except "a", "I" and a lone "A", and an ``x`` between numbers, which is a
    times sign. A bracketed equation (``600/(3+1=4)``) is a chain of its own
    and stands for its result in the line around it."""
    if len(line) > MAX_LINE_CHARS:
        return ()
    line = normalize_line(line)
    if "=" not in line:
        return ()
    inner: list[str] = []

    def lift(m: re.Match) -> str:
        inner.append(m.group(1))
        return "(" + m.group(1).rsplit("=", 1)[1] + ")"

    line = _INNER_EQUATION_RE.sub(lift, line)
    out: list[tuple[Part | None, ...]] = []
    for text in inner + [line]:
        out.extend(tuple(c) for c in _chains(_tokens(text), set()))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Statements:
    """Numbers a line states in words, outside every equation: "There are
    3 grades going", "Together they skip 150 times a minute"."""

    before: tuple[Fraction, ...]  # before the line's first equation
    after: tuple[Fraction, ...]  # the rest
    expressions: tuple[Part, ...] = ()  # calculations written without "="


@functools.lru_cache(maxsize=4096)
def statements(line: str) -> Statements:
    if len(line) > MAX_LINE_CHARS:
        return Statements((), ())
    line = _INNER_EQUATION_RE.sub(lambda m: " ", normalize_line(line))
    tokens = _tokens(line)
    covered: set[int] = set()
    loose: list[Part] = []
    _chains(tokens, covered, loose)
    first = min(covered, default=len(line))
    before, after = [], []
    for kind, text, pos in tokens:
        if kind == "num" and pos not in covered:
            try:
                value = Fraction(text.replace(",", ""))
            except ValueError:
                continue
            (before if pos < first else after).append(value)
    return Statements(tuple(before), tuple(after), tuple(loose))


def _chains(tokens: list[tuple[str, str, int]], covered: set[int],
            loose: list[Part] | None = None) -> list[list[Part | None]]:
    """Chains of a token list; adds to ``covered`` the positions of the
    tokens that went into an equation, and to ``loose`` the expressions
    outside any equation ("(2+3+4+5+6+7+8) pastries/7 days")."""
    out: list[list[Part | None]] = []
    chain: list[Part | None] = []
    part: list[tuple[str, str, int]] = []
    n_parts, i = 0, 0
    after_words = False  # the current part began right after prose

    def drop() -> None:
        if loose is not None and len(part) >= 3 and any(k == "op" for k, _, _ in part):
            p = _make_part(part)
            if p is not None and p.node is not None and p.variable is None and p.ops:
                loose.append(p)

    def close() -> None:
        nonlocal chain, part, after_words
        if chain:
            chain.append(_make_part(part))
            covered.update(pos for _, _, pos in part)
            if len(chain) >= 2:
                out.append(chain)
        chain, part, after_words = [], [], False

    while i < len(tokens):
        kind, text, pos = tokens[i]
        if kind == "eq":
            n_parts += 1
            if n_parts > MAX_PARTS:
                break
            chain.append(_make_part(part, after_words and not chain))
            covered.update(pos for _, _, pos in part)
            covered.add(pos)
            part = []
        elif kind in ("num", "var", "op"):
            part.append(tokens[i])
        elif kind == "word" and part and (part[-1][0] == "num" or len(part) > 1 and (
                part[-2][0] == "num" and part[-1][1] in "/-" and pos == part[-1][2] + 1)):
            end = _unit_end(tokens, i)
            if end > i:
                if part[-1][0] == "op":  # "36 eggs/tray": the slash is the unit's
                    part.pop()
                i = end
                continue
            if chain:
                close()
            drop()
            part, after_words = [], True
        elif chain:  # a word or break ends the chain's last part
            close()
            after_words = kind == "word" or kind == "var"
        else:  # ... or starts the first part afresh
            drop()
            part, after_words = [], kind == "word" or kind == "var"
        i += 1
    close()
    return out


def is_numeric_claim(a: Part | None, b: Part | None) -> bool:
    """``A = B`` is a calculation to check: both sides numbers, A computes."""
    if a is None or b is None or a.node is None or b.node is None:
        return False
    if a.variable is not None or b.variable is not None:
        return False
    if a.computes:
        return True
    # A proper fraction is a quantity ("4/7 is $24") unless the other side
    # is its value ("1/4 = 0.25").
    return a.ops > 0 and not a.leads_with_operator and "%" not in a.text and a.value() == b.value()
