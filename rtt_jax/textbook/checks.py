"""Checking an answer another way, and estimating it first.

``check(problem, answer, rng)`` returns a short paragraph that confirms the
answer by a different route: the inverse operation (``136 - 93 = 43``),
quotient times divisor plus remainder, substituting x back into both sides,
expanding a numeral in powers of its base, the exact total reduced mod 10.
``estimate(problem, rng)`` rounds the operands to one significant figure and
says roughly how large the answer must be. Both return None where a family
has no such check.

Every number is computed here with exact integer arithmetic from
``problem.data`` (x is substituted through ``safe_arith``, never ``eval``),
and every ``a op b = c`` they write is true: tests read them back with the
GSM8K claim checker.
"""
from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Callable

from rtt_jax.tasks import safe_arith
from rtt_jax.tasks.base import Problem

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _round1(n: int) -> int:
    """``n`` to one significant figure: 342493 -> 300000, 87 -> 90."""
    if abs(n) < 10:
        return n
    scale = 10 ** (len(str(abs(n))) - 1)
    return (abs(n) + scale // 2) // scale * scale * (1 if n >= 0 else -1)


def _lead(rng: random.Random, options: tuple[str, ...]) -> str:
    return rng.choice(options)


# Short on purpose: the numbers right after it are what make each check its own.
_CHECK_LEADS = ("Check:", "Check:", "Check:", "Check:", "To check,")


def _addition(p: Problem, ans: str, rng: random.Random) -> str:
    a, b, s = int(p.data["a"]), int(p.data["b"]), int(ans)
    return rng.choice((
        f"{_lead(rng, _CHECK_LEADS)} {s} - {b} = {s - b}, the first number again.",
        f"{_lead(rng, _CHECK_LEADS)} {s} - {a} = {s - a}, which is the second number.",
        f"{_lead(rng, _CHECK_LEADS)} subtraction undoes addition: {s} - {b} = {a}.",
    ))


def _subtraction(p: Problem, ans: str, rng: random.Random) -> str:
    a, b, d = int(p.data["a"]), int(p.data["b"]), int(ans)
    return rng.choice((
        f"{_lead(rng, _CHECK_LEADS)} {d} + {b} = {d + b}, where we started.",
        f"{_lead(rng, _CHECK_LEADS)} {b} + {d} = {b + d}, which is {a}.",
        f"{_lead(rng, _CHECK_LEADS)} adding back what was taken: {d} + {b} = {a}.",
    ))


def _multiplication(p: Problem, ans: str, rng: random.Random) -> str | None:
    a, b, m = int(p.data["a"]), int(p.data["b"]), int(ans)
    if b == 0 or a == 0:
        return f"{_lead(rng, _CHECK_LEADS)} any number times 0 is 0."
    return rng.choice((
        f"{_lead(rng, _CHECK_LEADS)} {m} / {b} = {m // b}, the other factor.",
        f"{_lead(rng, _CHECK_LEADS)} {m} / {a} = {m // a}, as it should.",
        f"{_lead(rng, _CHECK_LEADS)} division undoes multiplication: {m} / {b} = {a}.",
    ))


def _division(p: Problem, ans: str, rng: random.Random) -> str | None:
    n, d = int(p.data["n"]), int(p.data["d"])
    q, r = divmod(n, d)
    return rng.choice((
        f"{_lead(rng, _CHECK_LEADS)} {q} * {d} + {r} = {q * d + r}, the number we divided, and {r} is "
        f"less than {d}.",
        f"{_lead(rng, _CHECK_LEADS)} {d} groups of {q} make {q * d}; with the {r} left over, "
        f"{q * d} + {r} = {n}.",
        f"{_lead(rng, _CHECK_LEADS)} {q} * {d} = {q * d} and {n} - {q * d} = {r}.",
    ))


def _gcd_lcm(p: Problem, ans: str, rng: random.Random) -> str | None:
    a, b = int(p.data["a"]), int(p.data["b"])
    g, lcm = math.gcd(a, b), math.lcm(a, b)
    if g == 0:
        return None
    if p.data["ask"] == "gcd":
        return rng.choice((
            f"{_lead(rng, _CHECK_LEADS)} {a} / {g} = {a // g} and {b} / {g} = {b // g}, and "
            f"{a // g} and {b // g} share no factor.",
            f"{_lead(rng, _CHECK_LEADS)} {g} divides both: {a} / {g} = {a // g}, {b} / {g} = {b // g}."))
    return rng.choice((
        f"{_lead(rng, _CHECK_LEADS)} {lcm} / {a} = {lcm // a} and {lcm} / {b} = {lcm // b}.",
        f"{_lead(rng, _CHECK_LEADS)} {g} * {lcm} = {g * lcm}, and {a} * {b} = {a * b}: gcd times lcm is "
        "the product."))


def _base_conversion(p: Problem, ans: str, rng: random.Random) -> str | None:
    # ``digits`` is the base-b numeral whichever way the problem converts.
    base, digits = int(p.data["base"]), str(p.data["digits"])
    values = [_DIGITS.index(ch) for ch in digits.upper()]
    if len(values) > 8:
        return None
    n = len(values)
    terms = " + ".join(f"{v} * {base ** (n - 1 - k)}" for k, v in enumerate(values))
    total = sum(v * base ** (n - 1 - k) for k, v in enumerate(values))
    return rng.choice((f"{_lead(rng, _CHECK_LEADS)} {terms} = {total}.",
                       f"{_lead(rng, _CHECK_LEADS)} the digits of {digits} times powers of {base}: "
                       f"{terms} = {total}."))


def _linear_equation(p: Problem, ans: str, rng: random.Random) -> str | None:
    left, right = p.data["equation"].split("=")
    try:
        x = Fraction(ans)
        sides = [safe_arith.evaluate_node(safe_arith.parse(t, ("x",)), {"x": x}) for t in (left, right)]
    except (ValueError, ZeroDivisionError, safe_arith.SafeArithError):
        return None
    if sides[0] != sides[1]:
        return None  # never for a solver's answer; a check must not claim a falsehood
    value = safe_arith.format_number(sides[0])
    return rng.choice((
        f"{_lead(rng, _CHECK_LEADS)} with x = {ans}, {left.strip()} is {value} and {right.strip()} is "
        f"{value} too.",
        f"{_lead(rng, _CHECK_LEADS)} x = {ans} makes both sides of {p.data['equation']} equal {value}.",
    ))


def _modular(p: Problem, ans: str, rng: random.Random) -> str | None:
    terms, ops = [int(t) for t in p.data["terms"]], list(p.data["ops"])
    total = terms[0]
    for op, t in zip(ops, terms[1:]):
        total = total + t if op == "+" else total - t
    expr = str(terms[0]) + "".join(f" {op} {t}" for op, t in zip(ops, terms[1:]))
    return rng.choice((f"{_lead(rng, _CHECK_LEADS)} {expr} = {total} exactly, and {total} mod 10 = "
                       f"{total % 10}.",
                       f"{_lead(rng, _CHECK_LEADS)} exactly, {expr} = {total}; its remainder mod 10 "
                       f"is {total % 10}."))


_CHECKS: dict[str, Callable[[Problem, str, random.Random], str | None]] = {
    "addition": _addition, "subtraction": _subtraction, "multiplication": _multiplication,
    "division": _division, "gcd_lcm": _gcd_lcm, "base_conversion": _base_conversion,
    "linear_equation": _linear_equation, "modular": _modular,
}

_ESTIMATE_LEADS = ("Before calculating, estimate.", "A rough estimate first:", "Estimate first.",
                   "It helps to know roughly what to expect.", "First, a ballpark figure.")


def check(problem: Problem, answer: str, rng: random.Random) -> str | None:
    """A paragraph confirming ``answer`` another way, or None."""
    make = _CHECKS.get(problem.family)
    return make(problem, answer, rng) if make else None


def estimate(problem: Problem, rng: random.Random) -> str | None:
    """Roughly how large the answer of an arithmetic problem is, or None."""
    fam = problem.family
    if fam not in ("addition", "subtraction", "multiplication"):
        return None
    a, b = int(problem.data["a"]), int(problem.data["b"])
    ra, rb = _round1(a), _round1(b)
    if a < 10 and b < 10:
        return None  # nothing to round
    op, value = {"addition": ("+", ra + rb), "subtraction": ("-", ra - rb),
                 "multiplication": ("*", ra * rb)}[fam]
    return rng.choice((f"{rng.choice(_ESTIMATE_LEADS)} {a} is about {ra} and {b} is about {rb}, and "
                       f"{ra} {op} {rb} = {value}, so expect about {value}.",
                       f"{rng.choice(_ESTIMATE_LEADS)} roughly {ra} {op} {rb} = {value}."))
