"""GSM8K (Cobbe et al. 2021) as a problem source with checkable steps.

File format: JSONL, one ``{"question": str, "answer": str}`` per line. The
answer is a human solution whose calculations carry calculator annotations,
``48/2 = <<48/2=24>>24``, and whose last line is ``#### 72`` (the answer may
have thousands commas: ``#### 1,080``).

What this module makes of it:

* ``load(path, on_error="raise")`` -> ``LoadReport`` with one ``Problem`` per
  line: family ``gsm8k``, ``index`` = 0-based line number, ``level`` = number
  of calculator annotations (a difficulty proxy used in the literature),
  ``answer`` = the canonical number (``1080``, ``-3``, ``2.5``) and ``data``
  = ``{"solution", "split", "line", "steps"}``. A line that is not JSON, lacks
  a field, or has no parseable ``####`` answer raises ``GSM8KFormatError``
  naming ``file:line``; with ``on_error="skip"`` it is counted in
  ``report.unparsed`` instead.
* ``FAMILY``: a family-like object (``check_answer``, ``check_steps``,
  ``solve``, ``format_example``) so evaluation scores GSM8K completions like
  any other family. Styles: ``calc`` (the human solution as written, with
  annotations) and ``plain`` (annotations removed).

How model text is checked (it is untrusted; nothing is ``eval``-ed): each line
yields its claims, either its ``<<expr=result>>`` annotations or, if it has
none, its surface equations ``expr = number`` where ``expr`` contains an
operator. Expressions go through ``safe_arith``. A claim is valid when the
expression's exact value equals the claimed number, or rounds to it at the
claimed number of decimals (``10/3 = 3.33``). It is grounded when every
number it uses is in the question (``50%`` also counts as ``0.5``), a result
claimed earlier, 0, 1, 2 or 100, or a fact the question's words call for
(``WORD_NUMBERS``: "three" is 3, "dozen" 12, "week" 7 and 52, "hour" 60...).
An annotation's claim must also match the number written right after it
(``<<9*2=18>>18``). The final answer follows when it equals a result claimed
by a step.

``python -m rtt_jax.tasks.gsm8k FILE.jsonl [--skip-bad-lines] [--allow_empty]``
prints a loader report; its last line is JSON with ``problems``,
``annotations``, ``annotations_valid``, ``unparsed`` and more. A file that
cannot be read (missing, not UTF-8, JSON nested too deep, a bad line without
``--skip-bad-lines``, no problems without ``--allow_empty``) is one error
line naming ``file:line``.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import sys
from fractions import Fraction
from typing import Any, Iterable, Sequence

from rtt_jax import json_lines
from rtt_jax.cli_errors import EmptyInputError, parse_flags, run_reporting, usage_error
from rtt_jax.tasks import gsm8k_prose as prose
from rtt_jax.tasks.answers import (ANSWER_MARKER, canonical_answer,
                                   extract_final_answer, parse_answer, readable)
from rtt_jax.tasks.base import (INVALID, UNPARSEABLE, VALID, Problem, Step, StepReport,
                                StepVerdict, Trace)
from rtt_jax.tasks.safe_arith import (NUMBER_PATTERN, SafeArithError, evaluate,
                                      evaluate_node, format_number, number_values,
                                      parse, parse_number)

NAME = "gsm8k"
STYLES = ("calc", "plain")
# Numbers GSM8K solutions use without the question stating them.
# Always allowed: identities, halving/doubling and percent scaling (20*.01).
COMMON_CONSTANTS = frozenset(Fraction(n) for n in (0, 1, 2, 100, "0.01", "0.5"))
# Numbers a question implies through its words (lowercase word stem -> values).
WORD_NUMBERS: dict[str, tuple] = {
    "one": (1,), "two": (2,), "three": (3,), "four": (4,), "five": (5,), "six": (6,),
    "seven": (7,), "eight": (8,), "nine": (9,), "ten": (10,), "eleven": (11,),
    "twelve": (12,), "thirteen": (13,), "fourteen": (14,), "fifteen": (15,),
    "sixteen": (16,), "seventeen": (17,), "eighteen": (18,), "nineteen": (19,),
    "twenty": (20,), "thirty": (30,), "forty": (40,), "fifty": (50,), "sixty": (60,),
    "seventy": (70,), "eighty": (80,), "ninety": (90,),
    "hundred": (100,), "thousand": (1000,), "million": (1_000_000,),
    "half": (2, "0.5"), "twice": (2,), "double": (2,), "triple": (3,), "thrice": (3,),
    # A fraction word also names its unit fraction: "one-eighth" of 16 is 16 * 0.125.
    "third": (3, "1/3"), "quarter": (4, "0.25", 25, 3), "quarterly": (4, 3),
    "fourth": (4, "0.25"), "fifth": (5, "0.2"), "sixth": (6, "1/6"), "seventh": (7, "1/7"),
    "eighth": (8, "0.125"), "ninth": (9, "1/9"), "tenth": (10, "0.1"), "twelfth": (12, "1/12"),
    "hundredth": (100, "0.01"),
    "dozen": (12,), "pair": (2,), "week": (7, 52), "day": (24, 7, 30, 365), "hour": (60, 24, 3600),
    "minute": (60,), "second": (60,), "month": (12, 30, 31, 4), "year": (12, 52, 365),
    "decade": (10,), "century": (100,), "percent": (100,), "%": (100,), "cent": (100,),
    "nickel": (5, "0.05"), "dime": (10, "0.1"), "penny": (1, "0.01"), "pennies": (1, "0.01"),
    "foot": (12,), "feet": (12, 3), "inch": (12,), "yard": (3, 36), "mile": (5280,),
    "pound": (16,), "ounce": (16,), "gallon": (4, 128, 8, 16), "meter": (100, 1000),
    "kilo": (1000,), "score": (20,), "weekend": (2,), "weekday": (5,), "triangle": (3, 180),
    "square": (4,), "angle": (180, 90, 360), "hexagon": (6,), "octagon": (8,), "legs": (2, 4), "wheels": (2, 4),
    "rectangle": (4,), "pentagon": (5,), "finger": (10, 5), "toe": (10, 5), "hand": (2,),
    "doubled": (2,), "tripled": (3,), "quadrupled": (4,), "halved": (2, "0.5"),
    "cup": (8, 16), "pint": (16, 2, 8), "quart": (4, 32, 2), "tricycle": (3,), "trike": (3,),
    "bicycle": (2,), "bike": (2,),
    # Metric and weight conversions.
    "liter": (1000,), "litre": (1000,), "milliliter": (1000,), "ml": (1000,), "l": (1000,),
    "kilogram": (1000,), "kg": (1000,), "gram": (1000,), "kilometer": (1000,), "km": (1000,),
    "centimeter": (100,), "cm": (100,), "millimeter": (10, 1000), "mm": (10, 1000),
    "ton": (2000, 1000), "kilowatt": (1000,), "kw": (1000,), "kwh": (1000,),
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9}
# "twenty-five" is 25.
_COMPOUND_RE = re.compile(r"\b(" + "|".join(_TENS) + r")[- ](" + "|".join(_UNITS) + r")\b")
# "one hundred forty-four": a number in words with hundreds.
_HUNDREDS_RE = re.compile(r"\b(" + "|".join(_UNITS) + r") hundred(?: and)?(?: (" + "|".join(_TENS)
                          + r"))?(?:[- ](" + "|".join(_UNITS) + r"))?\b")
_DAY_ABBREVIATIONS = re.compile(r"\b(mon|tues?|wed|thu(?:rs?)?|fri)\b\.?")
# "1/4 of the kids ... the other 3": a fraction's complement.
_FRACTION_RE = re.compile(r"(?<![0-9./])([0-9]{1,3})/([0-9]{1,3})(?![0-9/])")
_SCALES = {"thousand": 1000, "million": 10 ** 6, "billion": 10 ** 9}
_COMPANIONS = ("friend", "sibling", "brother", "sister", "cousin", "classmate", "teammate",
               "roommate", "coworker", "colleague", "guest")
_MULTIPLE_UNITS = ("week", "day", "hour", "minute", "year", "month", "dozen", "foot", "feet", "yard",
                   "gallon", "pound")
# "2 weeks", "three dozen", "$120 million", "and her 3 friends".
_QUANTITY_RE = re.compile(
    r"(?<![0-9.,a-z])(" + NUMBER_PATTERN + r"|[a-z]+)[- ](?:of (?:his|her|their) |(?:his|her|their) )?"
    r"(?:best |close |younger |older )?(" + "|".join(_SCALES) + "|" + "|".join(_COMPANIONS)
    + "|" + "|".join(_MULTIPLE_UNITS) + r")s?\b")
_AND_A_HALF_RE = re.compile(r"(?<![a-z0-9])([a-z]+|[0-9]{1,6}) and a half\b")
_HOURS_AND_MINUTES_RE = re.compile(r"(?<![a-z0-9])([a-z]+|[0-9]{1,3}) hours? and ([0-9]{1,2}) minutes?\b")
_HALF_HOUR_RE = re.compile(r"\b(?:half|quarter) (?:of )?an? hour|\b(?:half|quarter)[- ]hour")
_MONTH_DAYS = {"January": 31, "February": 28, "March": 31, "April": 30, "May": 31, "June": 30,
               "July": 31, "August": 31, "September": 30, "October": 31, "November": 30,
               "December": 31}
_MONTH_RE = re.compile(r"\b(" + "|".join(_MONTH_DAYS) + r")\b")
_DAY_NAMES = {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
              "fri": "friday"}
_WORD_RE = re.compile(r"[a-z]+|%")
_ANNOTATION_RE = re.compile(r"<<([^<>\n]{0,300})>>")
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_PERCENT_RE = re.compile(r"(?<![0-9.,])(" + NUMBER_PATTERN + r")\s?%")
# "\s*(?:[$€£]\s*)?", never "\s*[$€£]?\s*": two adjacent \s* split a run of
# spaces in quadratically many ways before the match fails.
_WRITTEN_AFTER_RE = re.compile(r"\s*(?:[$€£]\s*)?(-?" + NUMBER_PATTERN + r"(?:/[0-9]{1,12})?)")
_NO_CURRENCY = str.maketrans({"$": "", "€": "", "£": ""})
UNGROUNDED = "ungrounded"  # the reason's word for a number from nowhere
_MAX_LINES = 200
_MAX_CLAIMS = 200


class GSM8KFormatError(ValueError):
    """A GSM8K line that cannot be used; the message names file:line."""


# --------------------------------------------------------------------------
# claims: what a line of a solution asserts


@dataclasses.dataclass(frozen=True)
class Claim:
    expression: str
    claimed: str
    line: str
    annotated: bool = False  # from a <<expr=result>> annotation
    written: str | None = None  # the number written right after the annotation
    algebra: prose.AlgebraStep | None = None  # an equation with an unknown


def _surface_claims(line: str) -> list[Claim]:
    """``A = B`` calculations written in plain text, left to right.

    Each link of a chain is one claim (``9 * 10 - 7 = 90 - 7 = 83`` claims
    ``9 * 10 - 7`` is ``90 - 7`` and ``90 - 7`` is 83). Algebra (``4x+12 =
    56``, ``B - 35 = 16``, ``= 5A``) is not a numeric claim and is skipped
    here (``gsm8k_prose.ProseFacts`` reads it), as are equations whose left
    side computes nothing (``x = 5``, ``150 = 150``).
    """
    out = []
    for chain in prose.chains(line):
        for a, b in zip(chain, chain[1:]):
            if prose.is_numeric_claim(a, b):
                out.append(Claim(a.text, b.text.translate(_NO_CURRENCY).strip(), line))
    return out


def _bare_annotation_expression(line: str, m: re.Match) -> str | None:
    """For ``36 - 8 = <<28=28>>28``, whose annotation computes nothing: the
    written expression ``36 - 8`` right before it, if there is one."""
    before = strip_annotations(line[:m.start()]).rstrip()
    if not before.endswith("="):
        return None
    found = prose.chains(before + " 0")
    if not found or len(found[-1]) < 2:
        return None
    a, b = found[-1][-2], found[-1][-1]
    return a.text if prose.is_numeric_claim(a, b) else None


def claims_in_line(line: str) -> list[Claim]:
    annotations = list(_ANNOTATION_RE.finditer(line))
    if annotations:
        out = []
        for m in annotations:
            left, eq, right = m.group(1).rpartition("=")
            expression = left if eq else m.group(1)
            if eq and not any(ch in expression for ch in "+-*/x×÷%("):
                expression = _bare_annotation_expression(line, m) or expression
            written = _WRITTEN_AFTER_RE.match(line, m.end())
            out.append(Claim(expression, right if eq else "", line,
                             annotated=True, written=written.group(1) if written else None))
        return out
    return _surface_claims(line)


_DECIMALS_RE = re.compile(r"-?[0-9,]*\.([0-9]+)")
_WRITTEN_NUMBER_RE = re.compile(r"\s*[$€£]?\s*(-?(?:[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+))\s?%?\s*")
_PERCENT_WORDS_RE = re.compile(r"%|\bpercent|\bcents?\b", re.IGNORECASE)
# "100 / 3 = 33, with 1 remaining": a whole number of times, not the quotient.
_PERCENT_AS_UNIT_RE = re.compile(r"(?<![0-9.])100\s?%|\)\s?%")
_ROUNDS_RE = re.compile(r"\bround", re.IGNORECASE)
_WHOLE_TIMES_RE = re.compile(r"remain|left over|leftover|\bfull\b|\bwhole\b|\bcomplete", re.IGNORECASE)


def _close_enough(value: Fraction, claimed: Fraction, claimed_text: str) -> bool:
    """Equal, or equal to the places shown: rounded (10/3 = 3.33, not 3.34)
    or cut off (3/21 = 14.28%). A percent is compared as written (16.66%)."""
    if value == claimed:
        return True
    m = _WRITTEN_NUMBER_RE.fullmatch(claimed_text)
    d = _DECIMALS_RE.fullmatch(m.group(1)) if m else None
    if d is None or claimed == 0:
        return False
    written = parse_number(m.group(1))
    if not written:
        return False
    shown = value * written / claimed  # the value in the written number's scale
    unit = Fraction(1, 10 ** len(d.group(1)))
    cut = (abs(shown) // unit) * unit * (1 if shown >= 0 else -1)
    return abs(shown - written) * 2 <= unit or cut == written


@functools.lru_cache(maxsize=8192)
def question_numbers(question: str) -> frozenset[Fraction]:
    """The numbers a question gives: written in digits (``50%`` also as
    0.5) or in words (``WORD_NUMBERS``, "twenty-five", days named)."""
    question = prose.join_spaced_thousands(question.translate(prose.VULGAR_FRACTIONS))
    nums = {v for m in _NUMBER_RE.finditer(question)
            if (v := parse_number(m.group(0))) is not None}
    nums |= {v / 100 for m in _PERCENT_RE.finditer(question)
             if (v := parse_number(m.group(1))) is not None}
    return frozenset(nums | word_numbers(question))


@functools.lru_cache(maxsize=8192)
def word_numbers(text: str) -> frozenset[Fraction]:
    """The numbers ``text`` gives in words: "three", "a dozen", "per hour"
    (60), "twenty-five", "Monday to Friday" (5)."""
    nums: set[Fraction] = set()
    lower = text.lower()
    for word in set(_WORD_RE.findall(lower)):
        # "weeks" -> "week", "halves" is rare enough to ignore.
        values = WORD_NUMBERS.get(word) or WORD_NUMBERS.get(word.rstrip("s"))
        nums |= {Fraction(v) for v in values or ()}
    nums |= {Fraction(_TENS[t] + _UNITS[u]) for t, u in _COMPOUND_RE.findall(lower)}
    nums |= {Fraction(100 * _UNITS[h] + _TENS.get(t, 0) + _UNITS.get(u, 0))
             for h, t, u in _HUNDREDS_RE.findall(lower)}
    nums |= {Fraction(int(b) - int(a)) for a, b in _FRACTION_RE.findall(lower) if int(a) < int(b)}
    for m in _QUANTITY_RE.finditer(lower):
        n = _count(m.group(1))
        unit = m.group(2)
        if n is None:
            continue
        if unit in _SCALES:  # "120 million"
            nums.add(n * _SCALES[unit])
        elif unit in _COMPANIONS:  # "her 3 friends" and herself
            nums.add(n + 1)
        else:  # "two weeks" are 14 days
            nums |= {n * Fraction(v) for v in WORD_NUMBERS[unit]}
    nums |= {Fraction(_MONTH_DAYS[m]) for m in _MONTH_RE.findall(text)}
    if "school week" in lower:
        nums.add(Fraction(5))
    for whole in _AND_A_HALF_RE.findall(lower):  # "four and a half"
        n = _count(whole)
        if n is not None:
            nums.add(n + Fraction(1, 2))
    for hours, minutes in _HOURS_AND_MINUTES_RE.findall(lower):  # "an hour and 45 minutes"
        h = Fraction(1) if hours in ("an", "a", "one") else _count(hours)
        if h is not None and minutes.isdigit():
            nums |= {h + Fraction(int(minutes), 60), 60 * h + int(minutes)}
    if _HALF_HOUR_RE.search(lower):
        nums |= {Fraction(30), Fraction(15)}
    lower = _DAY_ABBREVIATIONS.sub(lambda m: _DAY_NAMES[m.group(1)[:3]], lower)
    return frozenset(nums | prose.day_counts(lower) | prose.clock_durations(text))


def _count(text: str) -> Fraction | None:
    if text in _UNITS:
        return Fraction(_UNITS[text])
    small = WORD_NUMBERS.get(text)
    if small and len(small) == 1:
        return Fraction(small[0])
    return parse_number(text)


def _claimed_value(text: str) -> Fraction | None:
    # Annotations occasionally claim a fraction ("3/4=3/4"); evaluate covers it,
    # and a written chain claims an expression ("= 90 - 7 = 83").
    return evaluate(prose.to_arithmetic(text).replace(",", "")) if text else None


@dataclasses.dataclass
class Judgement:
    """What ``judge_lines`` found: the claims, one verdict each, the claimed
    results in order (plus values solved for in prose), and the facts."""

    claims: list[Claim]
    verdicts: list[StepVerdict]
    results: list[Fraction]
    facts: prose.ProseFacts


def _arith_match(c: Claim, value: Fraction, claimed: Fraction, claimed_text: str) -> Fraction | None:
    """The number the claim rightly says ``value`` is, if it does: usually
    ``claimed``; B's first number when the "=" runs on."""
    if _close_enough(value, claimed, claimed_text):
        return claimed
    # "600 / 50 = 12 * 60 = 720": the "=" runs on, A is B's first number.
    try:
        first = number_values(parse(prose.to_arithmetic(claimed_text)))[:1]
    except (SafeArithError, RecursionError):
        first = []
    if first and first[0] != claimed and value == first[0]:
        return Fraction(first[0])
    # "100 / 3 = 33 with 1 remaining": whole times.
    if (value.denominator != 1 and claimed == value.numerator // value.denominator
            and _WHOLE_TIMES_RE.search(c.line)):
        return claimed
    # "$1 / 2 = 50 cents".
    number = claimed_text.strip()
    if value * 100 == claimed and len(number) < 20 and re.search(r"(?<![0-9.])" + re.escape(number) + r"\s*cents?\b",
                                            c.line):
        return claimed
    return None


def _judge(c: Claim, facts: prose.ProseFacts) -> tuple[StepVerdict, Fraction | None]:
    """The claim's verdict and its claimed value (None if unreadable).

    A percent sign is a hundredth ("20 * 40% = 8"); where that reading
    fails, "* 100%" or a bracket's "%" may be a unit (".6 x 100% = 60",
    "(45/300*100)% = 15%"), and so may a "%" on both sides. "20 * 40% = 800"
    stays wrong."""
    readings = []
    pairs = [(c.expression, c.claimed)]
    if _PERCENT_AS_UNIT_RE.search(c.expression) or "%" in c.expression and "%" in c.claimed:
        pairs.append((c.expression.replace("%", ""), c.claimed.replace("%", "")))
    for expression, claimed_text in pairs:
        try:
            node = parse(prose.to_arithmetic(expression))
            value = Fraction(evaluate_node(node))
        except (SafeArithError, RecursionError, ZeroDivisionError):
            continue
        readings.append((node, value, _claimed_value(claimed_text), claimed_text))
    if not readings:
        return StepVerdict(c.line[:200], UNPARSEABLE, False,
                           f"cannot evaluate {c.expression[:60]!r}"), None
    if readings[0][2] is None:
        return StepVerdict(c.line[:200], UNPARSEABLE, False,
                           f"result {c.claimed[:30]!r} is not a number"), None
    node, value, claimed, _ = readings[0]
    ok = False
    for r_node, r_value, r_claimed, r_text in readings:
        said = None if r_claimed is None else _arith_match(c, r_value, r_claimed, r_text)
        if said is not None:
            node, value, claimed, ok = r_node, r_value, said, True
            break
    ungrounded = [format_number(v) for v in facts.ungrounded(node)]
    reason = "" if ok else f"{c.expression} is {format_number(value)}, not {c.claimed}"
    if ok and c.written is not None and _claimed_value(c.written) not in (claimed, value):
        ok, reason = False, f"annotation says {c.claimed} but the text says {c.written}"
    if ungrounded:
        reason = (reason + "; " if reason else "") + f"{UNGROUNDED} {', '.join(ungrounded[:5])}"
    return StepVerdict(c.line[:200], VALID if ok else INVALID, not ungrounded, reason), claimed


def _add_algebra(out: "Judgement", steps: Sequence[prose.AlgebraStep], line: str) -> None:
    """A valid, grounded step for each equation that derived numbers."""
    for step in steps:
        out.claims.append(Claim(step.left, step.right, line, algebra=step))
        out.verdicts.append(StepVerdict(line[:200], VALID, True, f"algebra ({step.status})"))


def judge_lines(question: str, lines: Sequence[str]) -> Judgement:
    """Judge every claim of ``lines`` (solution lines, without the ``####``
    line) in order. Before and after a line's claims, its prose is read for
    the numbers it derives (``gsm8k_prose.ProseFacts``), so a claim is
    grounded by the question, an earlier result, a common constant or a
    number the prose derived before it."""
    facts = prose.ProseFacts(question_numbers(question) | COMMON_CONSTANTS,
                             percent=bool(_PERCENT_WORDS_RE.search(question)))
    out = Judgement([], [], [], facts)
    for line in lines[:_MAX_LINES]:
        claims = claims_in_line(line)[:_MAX_CLAIMS - len(out.claims)]
        surface = strip_annotations(line)
        facts.percent = facts.percent or "%" in surface
        said = prose.statements(surface)
        facts.state(said.before)
        if len(surface) <= prose.MAX_LINE_CHARS:
            facts.state(word_numbers(surface))
        facts.compute(said.expressions)
        algebra = facts.absorb(surface)
        _add_algebra(out, algebra, line)
        for c in claims:
            verdict, claimed = _judge(c, facts)
            out.claims.append(c)
            out.verdicts.append(verdict)
            if claimed is not None:
                out.results.append(claimed)
                facts.add(claimed)
                pct = prose.percent_literal(c.claimed)
                if pct is not None:  # "= 30%" also states the number 30
                    out.results.append(pct)
                    facts.add(pct)
        if claims:  # what the line's results make derivable
            seen = {(a.left, a.right) for a in algebra}
            _add_algebra(out, [a for a in facts.absorb(surface)
                               if (a.left, a.right) not in seen], line)
        facts.state(said.after)
        if len(out.claims) >= _MAX_CLAIMS:
            break
    out.results.extend(facts.solutions.values())
    return out


def judge_claims(question: str, claims: Sequence[Claim]) -> tuple[list[StepVerdict], list[Fraction]]:
    """One verdict per claim, and the claimed results in order (claims taken
    from their lines: ``judge_lines`` over the distinct lines they come from)."""
    lines = list(dict.fromkeys(c.line for c in claims))
    j = judge_lines(question, lines)
    return j.verdicts, j.results


def solution_lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines()[:_MAX_LINES]:
        line = raw.strip()
        if line and not line.startswith(ANSWER_MARKER):
            out.append(line)
    return out


def solution_claims(text: str) -> list[Claim]:
    return [c for line in solution_lines(text) for c in claims_in_line(line)]


def strip_annotations(text: str) -> str:
    return _ANNOTATION_RE.sub("", text)


# --------------------------------------------------------------------------
# the family-like object


class GSM8KFamily:
    """GSM8K problems behind the task-family interface.

    ``generate`` needs a file (``GSM8KFamily(path)``); checking does not.
    """

    name = NAME
    styles = STYLES
    levels = range(0, 100)  # level = number of annotations
    train_levels = range(0, 100)

    def __init__(self, path: str | None = None, split: str = "train"):
        self._path = path
        self._split = split
        self._problems: list[Problem] | None = None

    def problems(self) -> list[Problem]:
        if self._path is None:
            raise ValueError("GSM8KFamily(path) is needed to generate problems")
        if self._problems is None:
            self._problems = load(self._path, split=self._split).problems
        return self._problems

    def generate(self, seed: int, index: int, level: int | None = None) -> Problem:
        """Problem ``index`` of the file (GSM8K is fixed: seed and level are ignored)."""
        problems = self.problems()
        return problems[index % len(problems)]

    def solve(self, problem: Problem, style: str) -> Trace:
        if style not in STYLES:
            raise ValueError(f"gsm8k: unknown style {style!r}; known: {', '.join(STYLES)}")
        solution = problem.data["solution"]
        body = [ln for ln in solution.splitlines() if not ln.strip().startswith(ANSWER_MARKER)]
        steps = []
        for ln in body:
            text = ln if style == "calc" else strip_annotations(ln)
            claims = claims_in_line(ln)
            for c in claims:
                steps.append(Step("calc", (c.expression,), c.claimed, text))
            if not claims:
                steps.append(Step("say", (), None, text))
        return Trace(NAME, style, tuple(steps), problem.answer,
                     rendered="\n".join(ln if style == "calc" else strip_annotations(ln)
                                        for ln in body))

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        trace = self.solve(problem, style)
        return problem.question + "\n", f"{trace.text}\n{ANSWER_MARKER} {problem.answer}"

    def extract_answer(self, problem: Problem, text: str, style: str | None = None) -> str | None:
        return extract_final_answer(text)

    def check_answer(self, problem: Problem, text: str, style: str | None = None) -> bool:
        got = parse_answer(extract_final_answer(text))
        return got is not None and got == parse_answer(problem.answer)

    def check_steps(self, problem: Problem, text: str, style: str | None = None) -> StepReport:
        if readable(text) is None:
            return StepReport((StepVerdict("", UNPARSEABLE, False, "not text or too long"),), False)
        j = judge_lines(problem.question, solution_lines(text))
        final = parse_answer(extract_final_answer(text))
        return StepReport(tuple(j.verdicts),
                          final is not None and _follows(final, j, problem.question, text))


FAMILY = GSM8KFamily()


def _follows(final: Fraction, j: Judgement, question: str, text: str = "") -> bool:
    """The final answer is a computed result; or, when the question asks for
    a percentage, a computed fraction times 100 (``12/15 = .8``, ``#### 80``);
    or, when the text says it rounds, a result rounded to a whole number
    (``15.36 minutes, which rounds down to 15``)."""
    if final in j.results:
        return True
    if _PERCENT_WORDS_RE.search(question) and final / 100 in j.results:
        return True
    if final.denominator == 1 and _ROUNDS_RE.search(text):
        return any(r.denominator != 1 and final in (r.numerator // r.denominator,
                                                    r.numerator // r.denominator + 1)
                   for r in j.results)
    return False


# --------------------------------------------------------------------------
# loading


@dataclasses.dataclass
class LoadReport:
    path: str
    problems: list[Problem]
    annotations: int = 0
    annotations_valid: int = 0
    annotations_grounded: int = 0
    surface_equations: int = 0  # "a + b = c" in lines without annotations
    surface_equations_valid: int = 0
    algebra_steps: int = 0  # equations with an unknown, judged by gsm8k_prose
    algebra_steps_valid: int = 0
    answers_follow: int = 0
    unparsed: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)  # first few, for the log

    def summary(self) -> dict[str, Any]:
        return {"path": self.path, "problems": len(self.problems),
                "annotations": self.annotations, "annotations_valid": self.annotations_valid,
                "annotations_grounded": self.annotations_grounded,
                "surface_equations": self.surface_equations,
                "surface_equations_valid": self.surface_equations_valid,
                "algebra_steps": self.algebra_steps,
                "algebra_steps_valid": self.algebra_steps_valid,
                "answers_follow": self.answers_follow, "unparsed": self.unparsed}


def problem_from_json(obj: Any, where: str, index: int, split: str) -> Problem:
    if not isinstance(obj, dict):
        raise GSM8KFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("question", "answer"):
        if not isinstance(obj.get(key), str):
            raise GSM8KFormatError(f"{where}: field {key!r} missing or not a string")
    solution = obj["answer"]
    answer = canonical_answer(extract_final_answer(solution) or "")
    if answer is None:
        raise GSM8KFormatError(f"{where}: no '#### <number>' final answer line")
    claims = solution_claims(solution)
    steps = [{"expression": c.expression, "claimed": c.claimed} for c in claims]
    return Problem(NAME, 0, index, len(claims), obj["question"], answer,
                   {"solution": solution, "split": split, "line": index + 1, "steps": steps})


def iter_problems(path: str, split: str, on_error: str, report: LoadReport) -> Iterable[Problem]:
    """The problems of the file's non-blank lines. A line that is not UTF-8,
    nests too deep, is not JSON or lacks a field raises GSM8KFormatError
    naming ``file:line``, or with ``on_error="skip"`` is counted in
    ``report.unparsed``."""
    def bad(e: ValueError) -> None:
        if on_error == "raise":
            raise GSM8KFormatError(str(e)) from None
        report.unparsed += 1
        if len(report.errors) < 10:
            report.errors.append(str(e))

    for lineno, obj in json_lines.iter_json_lines(path, on_error=bad):
        try:
            yield problem_from_json(obj, f"{path}:{lineno}", lineno - 1, split)
        except GSM8KFormatError as e:
            bad(e)


def load(path: str, split: str | None = None, on_error: str = "raise") -> LoadReport:
    """Read a GSM8K JSONL file. ``on_error``: ``"raise"`` (default) stops at the
    first bad line with ``GSM8KFormatError``; ``"skip"`` counts it as unparsed."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    split = split or re.sub(r"\.jsonl$", "", path.rsplit("/", 1)[-1])
    report = LoadReport(path, [])
    for p in iter_problems(path, split, on_error, report):
        report.problems.append(p)
    for p in report.problems:
        j = judge_lines(p.question, solution_lines(p.data["solution"]))
        for claim, verdict in zip(j.claims, j.verdicts):
            if claim.algebra is not None:
                report.algebra_steps += 1
                report.algebra_steps_valid += verdict.verdict == VALID
            elif claim.annotated:
                report.annotations += 1
                report.annotations_valid += verdict.verdict == VALID
                report.annotations_grounded += verdict.grounded
            else:
                report.surface_equations += 1
                report.surface_equations_valid += verdict.verdict == VALID
        report.answers_follow += _follows(parse_answer(p.answer), j, p.question, p.data["solution"])
    return report


PROG = "python -m rtt_jax.tasks.gsm8k"


def _define_flags(fv) -> None:
    from absl import flags
    flags.DEFINE_boolean("skip-bad-lines", False,
                         "count unusable lines as unparsed instead of stopping", flag_values=fv)
    flags.DEFINE_boolean("allow_empty", False, "accept a file with no problems", flag_values=fv)


def main(argv: Sequence[str]) -> int:
    """``argv`` as ``sys.argv`` (program name first); the exit status."""
    a, files = parse_flags(argv[1:], _define_flags, PROG, usage="FILE.jsonl ")
    if len(files) != 1:
        usage_error("the arguments are required: file (one GSM8K JSONL file)" if not files
                    else f"expected one file, got {len(files)}", PROG)
    path, skip = files[0], a["skip-bad-lines"].value

    def run() -> int:
        report = load(path, on_error="skip" if skip else "raise")
        if not report.problems and not a.allow_empty:
            raise EmptyInputError(path, "problems")
        _print_report(report)
        return 0
    return run_reporting(run, path=path, verbosity=a.verbosity)


def _print_report(report: LoadReport) -> None:
    s = report.summary()
    print(f"{s['path']}: {s['problems']} problems, {s['unparsed']} unparsed lines")
    print(f"annotations: {s['annotations']}, arithmetically valid {s['annotations_valid']}, "
          f"grounded {s['annotations_grounded']}")
    print(f"equations outside annotations: {s['surface_equations']}, "
          f"valid {s['surface_equations_valid']}")
    print(f"steps of algebra: {s['algebra_steps']}, consistent {s['algebra_steps_valid']}")
    print(f"final answer equals a computed result: {s['answers_follow']}")
    for err in report.errors:
        print(f"skipped: {err}")
    print(json.dumps(s, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
