"""What if the numbers were different? One changed input and its effect.

``variation(problem, answer, rng)`` returns a sentence that changes one
thing about a worked problem and says what happens to the answer: one more
group in a product, a larger dividend, both numbers doubled (which doubles
their gcd and their lcm), one fact of a formula flipped, a term of a mod-10
chain raised by 10. Seeing how an answer responds to its inputs is part of
understanding the operation, not only carrying it out.

Every changed answer is computed here from ``problem.data`` with exact
integer arithmetic (logic through ``tasks.logic``'s own evaluator, never
``eval``), so the sentence is true; tests check it. None for a family
without a variation.
"""
from __future__ import annotations

import math
import random
from typing import Callable

from rtt_jax.tasks import logic as logic_task
from rtt_jax.tasks.base import Problem
from rtt_jax.textbook.templates import vary

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LEADS = ("What if the numbers change?", "A variation.", "One change:", "Twist:", "", "")


def _addition(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])
    k = rng.choice((1, 10, 100)) if a >= 100 else rng.choice((1, 2, 10))
    return (f"[If the first number were|With] {a + k} instead of {a}, the sum would be {a + b + k}: "
            f"[{k} more in, {k} more out|the sum grows by the same {k}].")


def _subtraction(p: Problem, rng: random.Random) -> str | None:
    a, b = int(p.data["a"]), int(p.data["b"])
    k = rng.choice((1, 2, 10))
    if b + k <= a:
        return (f"[Taking away|Subtracting] {b + k} instead of {b} would leave {a - b - k}, "
                f"[{k} less|smaller by {k}].")
    return f"[Starting from|With] {a + k} instead of {a}, {a + k - b} would be left, {k} more."


def _multiplication(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])
    return rng.choice((
        f"One more group of {b} [would make|gives] {a + 1} * {b} = {(a + 1) * b}, {b} more than before.",
        f"Doubling {a} to {2 * a} doubles the product: {2 * a} * {b} = {2 * a * b}.",
    ))


def _division(p: Problem, rng: random.Random) -> str:
    n, d = int(p.data["n"]), int(p.data["d"])
    q, r = divmod(n, d)
    return rng.choice((
        f"With {n + d} instead of {n}, each share grows by one: quotient {q + 1}, remainder {r} still.",
        f"If there were {n + 1} instead, the quotient would be {(n + 1) // d} and the remainder "
        f"{(n + 1) % d}.",
    ))


def _gcd_lcm(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])
    if p.data["ask"] == "gcd":
        return (f"Doubling both numbers doubles the gcd: gcd({2 * a}, {2 * b}) = {2 * math.gcd(a, b)}.")
    return f"Doubling both numbers doubles the lcm: lcm({2 * a}, {2 * b}) = {2 * math.lcm(a, b)}."


def _base_conversion(p: Problem, rng: random.Random) -> str | None:
    base, n = int(p.data["base"]), int(p.data["n"])
    m, digits = n + 1, []
    while m:
        m, d = divmod(m, base)
        digits.append(_DIGITS[d])
    one_more = "".join(reversed(digits)) or "0"
    return (f"One more, {n + 1}, is written {one_more} in base {base}"
            + (": the last digit rolls over and carries." if n % base == base - 1
               else ": only the last digit changes."))


def _modular(p: Problem, rng: random.Random) -> str:
    terms, ops = [int(t) for t in p.data["terms"]], list(p.data["ops"])
    total = terms[0]
    for op, t in zip(ops, terms[1:]):
        total = total + t if op == "+" else total - t
    return (f"Replacing {terms[0]} by {terms[0] + 10} changes the exact total to {total + 10} but not "
            f"the answer: {total + 10} mod 10 = {(total + 10) % 10}.")


def _counting(p: Problem, rng: random.Random) -> str:
    counts, legs = p.data["counts"], p.data["legs"]
    total = sum(counts[k] * legs[k] for k in counts)
    kind = rng.choice(sorted(counts))
    return f"One more of the {kind} would add {legs[kind]} legs, making {total + legs[kind]}."


def _logic(p: Problem, rng: random.Random) -> str | None:
    facts = dict(p.data["facts"])
    try:
        tree = logic_task.parse(p.data["formula"])
    except logic_task.FormulaError:
        return None
    letter = rng.choice(sorted(facts))
    before = logic_task.evaluate(tree, facts)
    facts[letter] = not facts[letter]
    after = logic_task.evaluate(tree, facts)
    if after == before:
        return f"Flipping {letter} to {facts[letter]} would not change the answer: still {after}."
    return f"Flipping {letter} to {facts[letter]} would change the answer to {after}."


_VARIATIONS: dict[str, Callable[[Problem, random.Random], str | None]] = {
    "addition": _addition, "subtraction": _subtraction, "multiplication": _multiplication,
    "division": _division, "gcd_lcm": _gcd_lcm, "base_conversion": _base_conversion,
    "modular": _modular, "counting": _counting, "logic": _logic,
}


def variation(problem: Problem, rng: random.Random) -> str | None:
    """A what-if sentence about ``problem`` (None where the family has none)."""
    make = _VARIATIONS.get(problem.family)
    text = make(problem, rng) if make else None
    if not text:
        return None
    lead = rng.choice(_LEADS)
    return f"{lead} {vary(text, rng)}" if lead else vary(text, rng)
