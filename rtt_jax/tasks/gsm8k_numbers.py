"""The numbers a GSM8K question gives, in digits and in words.

A solution may use a number the question never writes in digits: "three
friends" (3, and 4 with the speaker), "a dozen" (12), "per hour" (60),
"Monday to Friday" (5), "from 8:00 AM to noon" (4 hours, 240 minutes).
``question_numbers`` and ``word_numbers`` list them, so the step checker
(``rtt_jax.tasks.gsm8k_steps``) can tell such a number from one that came
from nowhere. ``COMMON_CONSTANTS`` are the numbers any solution may use
unstated. Everything here is a regular expression or a table lookup, linear
in the text's length.
"""
from __future__ import annotations

import functools
import re
from fractions import Fraction

from rtt_jax.tasks.gsm8k_prose import MAX_LINE_CHARS, VULGAR_FRACTIONS, join_spaced_thousands
from rtt_jax.tasks.safe_arith import NUMBER_PATTERN, parse_number

MAX_CLOCK_TIMES = 12
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
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_PERCENT_RE = re.compile(r"(?<![0-9.,])(" + NUMBER_PATTERN + r")\s?%")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_RE = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")s?\b", re.IGNORECASE)
_WEEKDAY_RANGE_RE = re.compile(
    r"\b(" + "|".join(_WEEKDAYS) + r")s?(?:\s+(?:to|through|thru|until)\s+|\s*[-–]\s*)("
    + "|".join(_WEEKDAYS) + r")s?\b", re.IGNORECASE)
# "8:00 AM", "10 pm", "13:00".
_CLOCK_TIME_RE = re.compile(r"(?<![0-9.,:])([0-9]{1,2})(?::([0-9]{2})(?:\s*([ap])\.?m\b)?|\s*([ap])\.?m\b)")


@functools.lru_cache(maxsize=8192)
def question_numbers(question: str) -> frozenset[Fraction]:
    """The numbers a question gives: written in digits (``50%`` also as
    0.5) or in words (``WORD_NUMBERS``, "twenty-five", days named)."""
    question = join_spaced_thousands(question.translate(VULGAR_FRACTIONS))
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
    return frozenset(nums | day_counts(lower) | clock_durations(text))


def _count(text: str) -> Fraction | None:
    if text in _UNITS:
        return Fraction(_UNITS[text])
    small = WORD_NUMBERS.get(text)
    if small and len(small) == 1:
        return Fraction(small[0])
    return parse_number(text)


def day_counts(text: str) -> set[Fraction]:
    """Counts of days a text names: "Monday, Wednesday, and Friday" are 3
    days, "Monday to Friday" 5."""
    out = set()
    days = {d.lower() for d in _WEEKDAY_RE.findall(text)}
    if days:
        out.add(Fraction(len(days)))
    for first, last in _WEEKDAY_RANGE_RE.findall(text):
        out.add(Fraction((_WEEKDAYS.index(last.lower()) - _WEEKDAYS.index(first.lower())) % 7 + 1))
    return out


def clock_durations(text: str) -> set[Fraction]:
    """Times between the clock times a text names, in minutes and in hours:
    "starts at 8:00 AM ... done by noon" gives 240 and 4."""
    times = []
    for h, m, half_after_minutes, half in _CLOCK_TIME_RE.findall(text[:MAX_LINE_CHARS].lower()):
        hour, minute, half = int(h), int(m or 0), half or half_after_minutes
        if hour > 24 or minute > 59:
            continue
        if half == "p" and hour < 12:
            hour += 12
        elif half == "a" and hour == 12:
            hour = 0
        times.append(60 * hour + minute)
    if "noon" in text.lower():
        times.append(12 * 60)
    out = set()
    times = times[:MAX_CLOCK_TIMES]
    for i, a in enumerate(times):  # from each time to every later one
        for b in times[i + 1:]:
            if a != b:
                d = Fraction((b - a) % (24 * 60))
                out |= {d, d / 60}
    return out
