"""Multi-digit multiplication: long multiplication or a distributive split.

Level ``L``: ``a`` has exactly ``L`` digits, ``b`` has ``L`` digits half of the
time and 1..L otherwise; both are at least 1. The problem text is
``What is 47 * 36?``.

``long`` (one partial product per digit of ``b``, ones first, each shifted by
its place value, then a running sum of the rows)::

    Row 1: 47 * 6 * 1 = 282.
    Row 2: 47 * 3 * 10 = 1410.
    Add: 282 + 1410 = 1692.
    #### 1692

``distributive`` (split ``b`` into its nonzero place values, largest first,
multiply ``a`` by each part and add the products up)::

    Split 36 by place value: 30 + 6.
    47 * 30 = 1410.
    47 * 6 = 282.
    Add: 1410 + 282 = 1692.
    #### 1692
"""
from __future__ import annotations

import re

from rtt_jax.tasks.base import Problem, Step
from rtt_jax.tasks.digits import MAX_DIGITS, column_digit, random_with_digits
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import (LineChecker, RunningSum,
                                    solution_lines)

_N = r"([0-9]{1,%d})" % MAX_DIGITS
_ROW_RE = re.compile(rf"Row ([0-9]{{1,3}}): {_N} \* ([0-9]) \* (1(?:0{{0,{MAX_DIGITS}}})) = {_N}\.",
                     re.ASCII)
_SPLIT_RE = re.compile(r"Split %s by place value: ([0-9]{1,%d}(?: \+ [0-9]{1,%d}){0,%d})\."
                       % (_N, MAX_DIGITS, MAX_DIGITS, MAX_DIGITS), re.ASCII)
_MUL_RE = re.compile(rf"{_N} \* {_N} = {_N}\.", re.ASCII)
_ADD_RE = re.compile(rf"Add: {_N} \+ {_N} = {_N}\.", re.ASCII)


def place_value_parts(n: int) -> list[int]:
    """The nonzero place values of ``n``, largest first: 3052 -> [3000, 50, 2]."""
    s = str(n)
    return [int(c) * 10 ** (len(s) - 1 - i) for i, c in enumerate(s) if c != "0"]


def _is_place_value(t: int) -> bool:
    s = str(t)
    return s[0] != "0" and s[1:] == "0" * (len(s) - 1)


def _add_steps(terms: list[int]) -> list[Step]:
    steps, total = [], terms[0]
    for t in terms[1:]:
        steps.append(Step("add", (total, t), total + t, f"Add: {total} + {t} = {total + t}."))
        total += t
    return steps


class Multiplication(Family):
    name = "multiplication"
    styles = ("long", "distributive")
    levels = range(1, 9)
    train_levels = range(1, 5)

    def make_problem(self, rng, seed, index, level):
        other = level if rng.random() < 0.5 else rng.randint(1, level)
        a = random_with_digits(rng, level, low=1)
        b = random_with_digits(rng, other, low=1)
        return Problem(self.name, seed, index, level, f"What is {a} * {b}?", str(a * b),
                       {"a": a, "b": b})

    def solve_steps(self, problem, style):
        a, b = problem.data["a"], problem.data["b"]
        steps = []
        if style == "long":
            sb = str(b)
            for k in range(len(sb)):
                d, p = column_digit(sb, k), 10**k
                steps.append(Step("mul", (a, d, p), a * d * p,
                                  f"Row {k + 1}: {a} * {d} * {p} = {a * d * p}."))
        else:
            parts = place_value_parts(b)
            steps.append(Step("split", (b,), tuple(parts),
                              f"Split {b} by place value: {' + '.join(map(str, parts))}."))
            for part in parts:
                steps.append(Step("mul", (a, part), a * part, f"{a} * {part} = {a * part}."))
        return steps + _add_steps([s.result for s in steps if s.op == "mul"])

    def check_lines(self, problem, text, style, out: LineChecker):
        a, b = problem.data["a"], problem.data["b"]
        sb = str(b)
        running = RunningSum()
        parts: list[int] | None = None
        for line in solution_lines(text):
            m = _ADD_RE.fullmatch(line)
            if m is not None:
                out.claim(line, *running.claim(int(m[1]), int(m[2]), int(m[3])))
                continue
            if style == "long":
                m = _ROW_RE.fullmatch(line)
                if m is not None:
                    k, x, d, p, r = (int(g) for g in m.groups())
                    n = len(running.terms)
                    out.claim(line, x * d * p == r,
                              k == n + 1 and x == a and p == 10**n and d == column_digit(sb, n))
                    running.add_term(r)
                    continue
            else:
                m = _MUL_RE.fullmatch(line)
                if m is not None:
                    x, y, r = int(m[1]), int(m[2]), int(m[3])
                    n = len(running.terms)
                    out.claim(line, x * y == r,
                              x == a and parts is not None and n < len(parts) and y == parts[n])
                    running.add_term(r)
                    continue
                m = _SPLIT_RE.fullmatch(line)
                if m is not None:
                    terms = [int(t) for t in m[2].split(" + ")]
                    # Valid: the parts are distinct place values that add up;
                    # their order is the style's, not a correctness rule.
                    valid = (sum(terms) == int(m[1]) and all(map(_is_place_value, terms))
                             and len({len(str(t)) for t in terms}) == len(terms))
                    out.claim(line, valid, int(m[1]) == b)
                    parts = terms
                    continue
            out.unparseable(line)
        # Only a sum over every term is what the steps computed.
        return str(running.total) if running.complete else None


FAMILY = Multiplication()
