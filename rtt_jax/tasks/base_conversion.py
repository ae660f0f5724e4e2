"""Conversion between base 10 and a base from 2 to 16, both directions.

``data["direction"]`` is ``"to_base"`` (``Convert 156 to base 7.``, answer
``312``) or ``"to_decimal"`` (``Convert 312 from base 7 to base 10.``, answer
``156``). Digits above 9 are the capital letters A-F; ``check_answer`` accepts
either case. Level ``L``: the number has ``L`` decimal digits (at least 1).

``repeated_division``: base 10 -> b by dividing by b and reading the
remainders backwards; b -> 10 by its inverse, Horner's multiply-and-add::

    156 / 7 = 22 remainder 2 (digit 2).
    22 / 7 = 3 remainder 1 (digit 1).
    3 / 7 = 0 remainder 3 (digit 3).
    Reading the digits from last to first: 312.
    #### 312

    Start with the first digit 3 = 3.
    3 * 7 + 1 = 22.
    22 * 7 + 2 = 156.
    #### 156

``place_values``: base 10 -> b by taking out the largest powers of b; b -> 10
by weighing each digit by its power of b and adding up::

    Powers of 7 up to 156: 1, 7, 49.
    156 = 3 * 49 + 9.
    9 = 1 * 7 + 2.
    2 = 2 * 1 + 0.
    The digit values 3, 1, 2 give 312.
    #### 312

    3 * 7^2 = 3 * 49 = 147.
    1 * 7^1 = 1 * 7 = 7.
    2 * 7^0 = 2 * 1 = 2.
    Add: 147 + 7 = 154.
    Add: 154 + 2 = 156.
    #### 156

(Digits above 9 appear by value in the arithmetic: ``11 * 16^1 = 11 * 16 = 176.``,
``Start with the first digit B = 11.``, ``... remainder 11 (digit B).``.)
"""
from __future__ import annotations

import re

from rtt_jax.tasks.base import Problem, Step
from rtt_jax.tasks.digits import MAX_DIGITS, digit_value, random_with_digits, to_base
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import (LineChecker, RunningSum,
                                    solution_lines)

_N = r"([0-9]{1,%d})" % MAX_DIGITS
_B = r"([0-9]{1,2})"  # a base
_DIVREM_RE = re.compile(rf"{_N} / {_B} = {_N} remainder {_N} \(digit ([0-9A-Za-z])\)\.", re.ASCII)
_READ_RE = re.compile(r"Reading the digits from last to first: ([0-9A-Za-z]{1,160})\.", re.ASCII)
_START_RE = re.compile(rf"Start with the first digit ([0-9A-Za-z]) = {_N}\.", re.ASCII)
_HORNER_RE = re.compile(rf"{_N} \* {_B} \+ {_N} = {_N}\.", re.ASCII)
_POWERS_RE = re.compile(rf"Powers of {_B} up to {_N}: ([0-9]{{1,{MAX_DIGITS}}}(?:, [0-9]{{1,{MAX_DIGITS}}}){{0,160}})\.",
                        re.ASCII)
_TAKE_RE = re.compile(rf"{_N} = {_N} \* {_N} \+ {_N}\.", re.ASCII)
_VALUES_RE = re.compile(r"The digit values ([0-9]{1,2}(?:, [0-9]{1,2}){0,160}) give "
                        r"([0-9A-Za-z]{1,160})\.", re.ASCII)
_WEIGH_RE = re.compile(rf"{_N} \* {_B}\^([0-9]{{1,3}}) = {_N} \* {_N} = {_N}\.", re.ASCII)
_ADD_RE = re.compile(rf"Add: {_N} \+ {_N} = {_N}\.", re.ASCII)
_DIGIT_CHARS = "0123456789ABCDEF"


def _powers_upto(n: int, base: int) -> list[int]:
    out = [1]
    while out[-1] * base <= n:
        out.append(out[-1] * base)
    return out


class BaseConversion(Family):
    name = "base_conversion"
    styles = ("repeated_division", "place_values")
    levels = range(1, 9)
    train_levels = range(1, 5)

    def make_problem(self, rng, seed, index, level):
        n = random_with_digits(rng, level, low=1)
        base = rng.choice([b for b in range(2, 17) if b != 10])
        direction = rng.choice(("to_base", "to_decimal"))
        digits = to_base(n, base)
        if direction == "to_base":
            question, answer = f"Convert {n} to base {base}.", digits
        else:
            question, answer = f"Convert {digits} from base {base} to base 10.", str(n)
        return Problem(self.name, seed, index, level, question, answer,
                       {"n": n, "base": base, "digits": digits, "direction": direction})

    def answers_equal(self, got, want):
        return super().answers_equal(got and got.upper(), want and want.upper())

    # --- solving -----------------------------------------------------------
    def solve_steps(self, problem, style):
        n, base, digits = problem.data["n"], problem.data["base"], problem.data["digits"]
        to_b = problem.data["direction"] == "to_base"
        steps = []
        if style == "repeated_division" and to_b:
            cur = n
            while cur:
                q, r = divmod(cur, base)
                steps.append(Step("divmod", (cur, base), (q, r),
                                  f"{cur} / {base} = {q} remainder {r} (digit {_DIGIT_CHARS[r]})."))
                cur = q
            steps.append(Step("read_digits", (), digits,
                              f"Reading the digits from last to first: {digits}."))
        elif style == "repeated_division":
            cur = digit_value(digits[0])
            steps.append(Step("start", (digits[0],), cur,
                              f"Start with the first digit {digits[0]} = {cur}."))
            for ch in digits[1:]:
                v = digit_value(ch)
                steps.append(Step("mul_add", (cur, base, v), cur * base + v,
                                  f"{cur} * {base} + {v} = {cur * base + v}."))
                cur = cur * base + v
        elif to_b:
            powers = _powers_upto(n, base)
            steps.append(Step("powers", (base, n), tuple(powers),
                              f"Powers of {base} up to {n}: {', '.join(map(str, powers))}."))
            cur, values = n, []
            for p in reversed(powers):
                d, r = divmod(cur, p)
                steps.append(Step("divmod", (cur, p), (d, r), f"{cur} = {d} * {p} + {r}."))
                values.append(d)
                cur = r
            steps.append(Step("read_digits", tuple(values), digits,
                              f"The digit values {', '.join(map(str, values))} give {digits}."))
        else:
            terms = []
            for i, ch in enumerate(digits):
                e = len(digits) - 1 - i
                v, p = digit_value(ch), base**e
                steps.append(Step("mul", (v, p), v * p,
                                  f"{v} * {base}^{e} = {v} * {p} = {v * p}."))
                terms.append(v * p)
            total = terms[0]
            for t in terms[1:]:
                steps.append(Step("add", (total, t), total + t, f"Add: {total} + {t} = {total + t}."))
                total += t
        return steps

    # --- checking ----------------------------------------------------------
    def check_lines(self, problem, text, style, out: LineChecker):
        lines = solution_lines(text)
        d = problem.data
        if d["direction"] == "to_base":
            check = self._check_division if style == "repeated_division" else self._check_powers
        else:
            check = self._check_horner if style == "repeated_division" else self._check_weigh
        return check(d["n"], d["base"], d["digits"], lines, out)

    @staticmethod
    def _check_division(n, base, digits, lines, out):
        cur, got = n, []
        computed = None
        for line in lines:
            m = _DIVREM_RE.fullmatch(line)
            if m is not None:
                x, b, q, r = (int(m[i]) for i in range(1, 5))
                out.claim(line, b > 1 and q * b + r == x and r < b and digit_value(m[5]) == r,
                          x == cur and b == base and cur > 0)
                got.append(m[5].upper())
                cur = q
                continue
            m = _READ_RE.fullmatch(line)
            if m is not None and got:
                computed = "".join(reversed(got))
                out.claim(line, m[1].upper() == computed, cur == 0)
                continue
            out.unparseable(line)
        return computed

    @staticmethod
    def _check_horner(n, base, digits, lines, out):
        cur, used = None, 0
        for line in lines:
            m = _HORNER_RE.fullmatch(line)
            if m is not None:
                x, b, v, y = (int(g) for g in m.groups())
                out.claim(line, x * b + v == y and v < b,
                          x == cur and b == base and used < len(digits)
                          and v == digit_value(digits[used]))
                cur, used = y, used + 1
                continue
            m = _START_RE.fullmatch(line)
            if m is not None:
                v = int(m[2])
                out.claim(line, digit_value(m[1]) == v, used == 0 and m[1].upper() == digits[0])
                cur, used = v, 1
                continue
            out.unparseable(line)
        return None if cur is None else str(cur)

    @staticmethod
    def _check_powers(n, base, digits, lines, out):
        powers: list[int] = []
        cur, values = n, []
        computed = None
        for line in lines:
            m = _TAKE_RE.fullmatch(line)
            if m is not None:
                x, dv, p, r = (int(g) for g in m.groups())
                k = len(values)
                out.claim(line, dv * p + r == x and r < p and dv < base,
                          x == cur and k < len(powers) and p == powers[-1 - k])
                values.append(dv)
                cur = r
                continue
            m = _POWERS_RE.fullmatch(line)
            if m is not None:
                b, x = int(m[1]), int(m[2])
                listed = [int(t) for t in m[3].split(", ")]
                valid = listed == _powers_upto(x, b) if 1 < b <= 36 and len(listed) < 200 else False
                out.claim(line, valid, (b, x) == (base, n))
                powers = listed
                continue
            m = _VALUES_RE.fullmatch(line)
            if m is not None:
                listed = [int(t) for t in m[1].split(", ")]
                spelled = "".join(_DIGIT_CHARS[v] if v < 16 else "?" for v in listed)
                out.claim(line, spelled == m[2].upper() and max(listed) < base,
                          listed == values and cur == 0 and len(values) == len(powers))
                computed = m[2].upper()
                continue
            out.unparseable(line)
        return computed

    @staticmethod
    def _check_weigh(n, base, digits, lines, out):
        running = RunningSum()
        for line in lines:
            m = _ADD_RE.fullmatch(line)
            if m is not None:
                out.claim(line, *running.claim(int(m[1]), int(m[2]), int(m[3])))
                continue
            m = _WEIGH_RE.fullmatch(line)
            if m is not None:
                v, b, e, v2, p, r = (int(g) for g in m.groups())
                k = len(running.terms)
                # Cap the power before computing it: 99^999 is hostile, not a step.
                valid = (v2 == v and 1 < b <= 36 and e <= 200 and b**e == p and v * p == r
                         and v < b)
                grounded = (k < len(digits) and v == digit_value(digits[k]) and b == base
                            and e == len(digits) - 1 - k)
                out.claim(line, valid, grounded)
                running.add_term(r)
                continue
            out.unparseable(line)
        # Only a sum over every term is what the steps computed.
        return str(running.total) if running.complete else None


FAMILY = BaseConversion()
