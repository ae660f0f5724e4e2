"""A problem's question asked in a textbook's words, not always the generator's.

Every task family asks its questions in one fixed form ("What is 71 divided
by 5? Give the quotient and the remainder.", "A farm has ... How many legs
are there in total?"). Printed verbatim in every worked example, exercise
and mistake, those few forms were the largest block of repeated 4-grams in
the generated sections (issue 28, item 5). A textbook asks the same thing in
many ways: "Divide 71 by 5: find the quotient and the remainder", "Find
gcd(76, 22)", "Solve 3x = 18 for x".

``restate(problem, rng)`` matches the family's question form and returns one
of several phrasings, the generator's own among them. Each phrasing copies
every number, expression, equation or formula of the question unchanged
(the named groups of the pattern), so it asks exactly what the original
asks; ``tests/test_textbook.py`` checks that the numbers and symbols match.
A question that matches no pattern is returned as it is.
"""
from __future__ import annotations

import random
import re
from typing import Callable

from rtt_jax.tasks.base import Problem
from rtt_jax.textbook.templates import vary

_Forms = Callable[[dict[str, str]], tuple[str, ...]]


def _sum(g):
    return ("Find {a} + {b}.", "Work out {a} + {b}.", "Add {a} and {b}.",
            "Compute the sum {a} + {b}.", "How much is {a} + {b}?", "What do {a} and {b} add up to?")


def _difference(g):
    return ("Find {a} - {b}.", "Work out {a} - {b}.", "Subtract {b} from {a}.",
            "Compute the difference {a} - {b}.", "How much is {a} - {b}?", "Take {b} away from {a}.")


def _product(g):
    return ("Find {a} * {b}.", "Multiply {a} by {b}.", "Compute the product {a} * {b}.",
            "What is {a} times {b}?", "How much is {a} * {b}?", "Work out {a} * {b}.")


def _division(g):
    return ("Divide {n} by {d}. [Give|State|Find] the quotient and the remainder.",
            "Find the quotient and the remainder when {n} is divided by {d}.",
            "How many times does {d} go into {n}, and what is left over?",
            "Split {n} into groups of {d}: how many [full groups|groups] are there, and how many are left?",
            "[Work out|Compute] {n} / {d} as a quotient and a remainder.")


def _gcd_lcm(g):
    short = "gcd" if g["what"].startswith("greatest") else "lcm"
    return ("Find the {what} of {a} and {b}.", f"Compute {short}({{a}}, {{b}}).",
            f"What is {short}({{a}}, {{b}})?", "Which number is the {what} of {a} and {b}?",
            "[Work out|Determine] the {what} of {a} and {b}.")


def _to_base(g):
    return ("Write {n} in base {base}.", "Express {n} in base {base}.", "What is {n} in base {base}?",
            "[Rewrite|Give] the number {n} in base {base}.")


def _from_base(g):
    return ("Write the base-{base} number {d} in base 10.", "What is {d} (base {base}) in base 10?",
            "Express the base {base} numeral {d} in base 10.",
            "[Find|Give] the base-10 value of {d}, written in base {base}.")


def _expression(g):
    return ("Find the value of {e}.", "Work out {e}.", "Compute {e}.", "What is {e}?",
            "[Simplify|Calculate] {e}.")


def _equation(g):
    return ("Find x if {eq}.", "Solve {eq} for x.", "What value of x makes {eq} true?",
            "Find the x that satisfies {eq}.", "[Solve|Solve the equation] {eq}.")


def _logic(g):
    if " = " not in g["given"]:  # facts said in words ("p is True and q is False")
        return ("Suppose {given}. What is {f}?", "Evaluate {f} when {given}.",
                "If {given}, what is the value of {f}?",
                "Suppose {given}. [Work out|Decide] whether {f} is True or False.",
                "When {given}, is {f} True or False?")
    return ("Let {given}. What is {f}?", "With {given}, find the value of {f}.",
            "Evaluate {f} when {given}.", "Take {given}. Is {f} True or False?",
            "Suppose {given}. [Work out|Decide] whether {f} is True or False.")


def _modular(g):
    return ("What is {e} mod 10?", "Find {e} mod 10.", "Compute {e}, then reduce it mod 10.",
            "[Work out|Give] the value of {e} mod 10.")


def _counting(g):
    heads = ("A farm has {herd}.", "On a farm there are {herd}.", "A farmer keeps {herd}.",
             "A farm is home to {herd}.")
    tails = ("How many legs are there in total?", "How many legs [do they have|are there] "
             "[altogether|in all]?", "Find the total number of legs.", "Count all the legs.",
             "What is the total number of legs?", "How many legs do the animals have [in total|together]?")
    return tuple(f"{h} {{legs}}. {t}" for h in heads for t in tails)


def _word_problem(g):
    return ("{story} How many {x} does {who} have?", "{story} Find how many {x} {who} has.",
            "{story} Work out the number of {x} {who} has.", "{story} How many {x} [has|does] {who} [got|have]?")


_ID = r"[A-Za-z0-9]+"
_PATTERNS: dict[str, tuple[tuple[re.Pattern, _Forms], ...]] = {
    "addition": ((re.compile(r"What is (?P<a>\d+) \+ (?P<b>\d+)\?"), _sum),),
    "subtraction": ((re.compile(r"What is (?P<a>\d+) - (?P<b>\d+)\?"), _difference),),
    "multiplication": ((re.compile(r"What is (?P<a>\d+) \* (?P<b>\d+)\?"), _product),),
    "division": ((re.compile(r"What is (?P<n>\d+) divided by (?P<d>\d+)\? "
                             r"Give the quotient and the remainder\."), _division),),
    "gcd_lcm": ((re.compile(r"What is the (?P<what>greatest common divisor|least common multiple) "
                            r"of (?P<a>\d+) and (?P<b>\d+)\?"), _gcd_lcm),),
    "base_conversion": ((re.compile(rf"Convert (?P<n>{_ID}) to base (?P<base>\d+)\."), _to_base),
                        (re.compile(rf"Convert (?P<d>{_ID}) from base (?P<base>\d+) to base 10\."),
                         _from_base)),
    "expressions": ((re.compile(r"Evaluate: (?P<e>.+)"), _expression),),
    "linear_equation": ((re.compile(r"Solve for x: (?P<eq>.+)"), _equation),),
    "logic": ((re.compile(r"Given (?P<given>.+), evaluate: (?P<f>.+)"), _logic),),
    "modular": ((re.compile(r"(?P<e>[0-9+\-]+) mod 10"), _modular),),
    "counting": ((re.compile(r"A farm has (?P<herd>.+?)\. (?P<legs>[^.]+)\. "
                             r"How many legs are there in total\?"), _counting),),
    "word_problem": ((re.compile(r"(?P<story>.+\.) How many (?P<x>\w+) does (?P<who>\w+) have\?"),
                      _word_problem),),
}


# The facts inside a question are reworded too, one sentence or item at a
# time, where the family writes them in one fixed form: a word problem's
# relations ("Tom has 4 more books than Finn.") and a farm's legs per kind
# ("dogs have 4 legs, ants have 6 legs"), a logic problem's facts ("p = True,
# q = False"). Every name, number and truth value is copied, so each
# rewording states the same facts.
_N, _W = r"(?P<n>[A-Z][a-z]+)", r"(?P<i>[a-z]+)"
_STATEMENTS: tuple[tuple[re.Pattern, tuple[str, ...]], ...] = (
    (re.compile(rf"{_N} has (?P<v>\d+) {_W}\."),
     ("{n} has {v} {i}.", "{n} owns {v} {i}.")),
    (re.compile(rf"{_N} has as many {_W} as (?P<a>[A-Z][a-z]+) and (?P<b>[A-Z][a-z]+) together\."),
     ("{n} has as many {i} as {a} and {b} together.", "{n} has as many {i} as {a} and {b} combined.",
      "{n} has the same number of {i} as {a} and {b} put together.")),
    (re.compile(rf"{_N} has as many {_W} as (?P<a>[A-Z][a-z]+) has more than (?P<b>[A-Z][a-z]+)\."),
     ("{n} has as many {i} as {a} has more than {b}.",
      "{n} has as many {i} as the difference between {a}'s and {b}'s.",
      "{n} has as many {i} as {a} has over and above {b}.")),
    (re.compile(rf"{_N} has (?P<c>\d+) more {_W} than (?P<a>[A-Z][a-z]+)\."),
     ("{n} has {c} more {i} than {a}.", "{n} has {c} {i} more than {a}.",
      "{n} has {c} more {i} than {a} does.", "{n} owns {c} more {i} than {a}.")),
    (re.compile(rf"{_N} has (?P<c>\d+) fewer {_W} than (?P<a>[A-Z][a-z]+)\."),
     ("{n} has {c} fewer {i} than {a}.", "{n} has {c} {i} fewer than {a}.",
      "{n} has {c} fewer {i} than {a} does.", "{n} owns {c} fewer {i} than {a}.")),
    (re.compile(rf"{_N} has (?P<c>\d+) times as many {_W} as (?P<a>[A-Z][a-z]+)\."),
     ("{n} has {c} times as many {i} as {a}.", "{n} has {c} times the number of {i} that {a} has.",
      "{n} owns {c} times as many {i} as {a}.")),
)


def _reword_story(story: str, rng: random.Random) -> str:
    """Each statement of a word problem in one of its wordings (others as they are)."""
    out = []
    for sentence in re.split(r"(?<=\.) ", story):
        for pattern, forms in _STATEMENTS:
            m = pattern.fullmatch(sentence)
            if m:
                sentence = rng.choice(forms).format(**m.groupdict())
                break
        out.append(sentence)
    return " ".join(out)


def _and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


_LEGS_RE = re.compile(r"([A-Za-z]+) have (\d+) legs")


def _reword_legs(legs: str, rng: random.Random) -> str:
    """'Dogs have 4 legs, ants have 6 legs and cows have 4 legs' in another
    of its forms; kinds and leg counts copied in order."""
    pairs = [(k.lower(), n) for k, n in _LEGS_RE.findall(legs)]
    if len(pairs) < 2 or rng.random() < 0.4:
        return legs

    (k0, n0), rest = pairs[0], pairs[1:]
    said = rng.choice((
        f"{k0.capitalize()} have {n0} legs each, " + _and_list([f"{k} {n}" for k, n in rest]),
        "Legs per animal: " + _and_list([f"{k} {n}" for k, n in pairs]),
        f"Each of the {k0} has {n0} legs, " + _and_list([f"each of the {k} {n}" for k, n in rest]),
        "The legs per animal are " + _and_list([f"{n} for the {k}" for k, n in pairs]),
    ))
    return said


_FACT_RE = re.compile(r"([a-z]) = (True|False)")


def _reword_facts(given: str, rng: random.Random) -> str:
    """'p = True, q = False, r = True' said another way: 'p is True, q is
    False and r is True', or grouped by value, 'p and r are True and q is
    False'. The same letters with the same values, letters in their order."""
    facts = _FACT_RE.findall(given)
    if not facts or ", ".join(f"{v} = {b}" for v, b in facts) != given or rng.random() < 0.4:
        return given

    if rng.random() < 0.5:
        return _and_list([f"{v} is {b}" for v, b in facts])
    groups = []
    for value in dict.fromkeys(b for _, b in facts):  # values in order of first use
        letters = [v for v, b in facts if b == value]
        groups.append(f"{_and_list(letters)} {'are' if len(letters) > 1 else 'is'} {value}")
    if len(groups) == 1 and len(facts) > 1:
        return f"{_and_list([v for v, _ in facts])} are {'both' if len(facts) == 2 else 'all'} {facts[0][1]}"
    return " and ".join(groups) if len(groups) == 2 and " and " not in groups[0] else "; ".join(groups)


def restate(problem: Problem, rng: random.Random) -> str:
    """The question of ``problem`` in one of several phrasings (its own form
    about one time in four); every number and formula copied as it is."""
    q = problem.question
    for pattern, forms in _PATTERNS.get(problem.family, ()):
        m = pattern.fullmatch(q)
        if m is None:
            continue
        if rng.random() < 0.25:
            return q
        g = m.groupdict()
        if problem.family == "word_problem":
            g["story"] = _reword_story(g["story"], rng)
        elif problem.family == "counting":
            g["legs"] = _reword_legs(g["legs"], rng)
        elif problem.family == "logic":
            g["given"] = _reword_facts(g["given"], rng)
        return vary(rng.choice(forms(g)).format(**g), rng)
    return q
