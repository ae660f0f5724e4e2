"""Multi-digit subtraction, by column borrowing or by counting up.

Negative results are not part of this family: every generated problem has
``a >= b`` (the larger number is always first), so both methods stay
the way they are taught. A checker given a problem with ``a < b`` (built by
hand) still never raises; the column style simply cannot ground its last line.

Level ``L``: ``a`` has exactly ``L`` digits, ``b`` has ``L`` digits half of the
time and 1..L otherwise (swapped if needed so that ``a >= b``). The problem
text is ``What is 503 - 247?``.

``column_borrow``, one line per column from the right, then the reading::

    Column 1: 3 - 7 - borrow 0 is negative, so 13 - 7 - 0 = 6, write 6, borrow 1.
    Column 2: 0 - 4 - borrow 1 is negative, so 10 - 4 - 1 = 5, write 5, borrow 1.
    Column 3: 5 - 2 - borrow 1 = 2, write 2, borrow 0.
    Reading the written digits from left to right: 256.
    #### 256

(When the top columns write zeros, the reading drops them:
``Reading the written digits from left to right: 0005, which is 5.``)

``count_up`` (adding on from the smaller number, first to round numbers, then
by the largest place-value jumps, and finally summing the jumps)::

    Count up from 247 to 503.
    247 + 3 = 250.
    250 + 50 = 300.
    300 + 200 = 500.
    500 + 3 = 503.
    Add the jumps: 3 + 50 + 200 + 3 = 256.
    #### 256
"""
from __future__ import annotations

import re

from rtt_jax.tasks.base import Problem, Step
from rtt_jax.tasks.digits import MAX_DIGITS, column_digit, random_with_digits
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import LineChecker, solution_lines

_N = r"([0-9]{1,%d})" % MAX_DIGITS
_COL_RE = re.compile(
    r"Column ([0-9]{1,3}): ([0-9]) - ([0-9]) - borrow ([0-9])"
    r"(?: is negative, so ([0-9]{1,2}) - ([0-9]) - ([0-9]))? = ([0-9]{1,2}), "
    r"write ([0-9]), borrow ([0-9])\.", re.ASCII)
_READ_RE = re.compile(rf"Reading the written digits from left to right: {_N}(?:, which is {_N})?\.",
                      re.ASCII)
_START_RE = re.compile(rf"Count up from {_N} to {_N}\.", re.ASCII)
_JUMP_RE = re.compile(rf"{_N} \+ {_N} = {_N}\.", re.ASCII)
_TOTAL_RE = re.compile(r"Add the jumps: ([0-9]{1,%d}(?: \+ [0-9]{1,%d}){0,400}) = %s\."
                       % (MAX_DIGITS, MAX_DIGITS, _N), re.ASCII)


def count_up_jumps(b: int, a: int) -> list[int]:
    """Jumps from ``b`` up to ``a``: to the next multiple of 10, 100, ...
    while that stays within ``a``, then down the place values of what is left."""
    jumps = []
    cur, p = b, 10
    while p <= a:  # (from 0 every rounding is 0 itself; stop at a's size)
        m = -(-cur // p) * p
        if m > a:
            break
        if m > cur:
            jumps.append(m - cur)
            cur = m
        p *= 10
    rest = a - cur
    p = 10 ** len(str(rest))
    while rest:
        j = rest // p * p
        if j:
            jumps.append(j)
            rest -= j
        p //= 10
    return jumps


class Subtraction(Family):
    name = "subtraction"
    styles = ("column_borrow", "count_up")
    levels = range(1, 13)
    train_levels = range(1, 7)

    def make_problem(self, rng, seed, index, level):
        other = level if rng.random() < 0.5 else rng.randint(1, level)
        a, b = random_with_digits(rng, level), random_with_digits(rng, other)
        if b > a:
            a, b = b, a
        return Problem(self.name, seed, index, level, f"What is {a} - {b}?", str(a - b),
                       {"a": a, "b": b})

    def solve_steps(self, problem, style):
        a, b = problem.data["a"], problem.data["b"]
        if style == "count_up":
            return self._count_up_steps(a, b)
        sa, sb = str(a), str(b)
        steps, writes, borrow = [], [], 0
        for k in range(len(sa)):
            x, y = column_digit(sa, k), column_digit(sb, k)
            d = x - y - borrow
            if d < 0:
                text = (f"Column {k + 1}: {x} - {y} - borrow {borrow} is negative, so "
                        f"{x + 10} - {y} - {borrow} = {d + 10}, write {d + 10}, borrow 1.")
                nb, d = 1, d + 10
            else:
                text = f"Column {k + 1}: {x} - {y} - borrow {borrow} = {d}, write {d}, borrow 0."
                nb = 0
            steps.append(Step("sub_column", (x, y, borrow), d, text))
            writes.append(d)
            borrow = nb
        spelled = "".join(map(str, reversed(writes)))
        tail = f", which is {a - b}" if spelled != str(a - b) else ""
        steps.append(Step("read_digits", tuple(writes), a - b,
                          f"Reading the written digits from left to right: {spelled}{tail}."))
        return steps

    @staticmethod
    def _count_up_steps(a, b):
        steps = [Step("setup", (b, a), None, f"Count up from {b} to {a}.")]
        cur = b
        jumps = count_up_jumps(b, a)
        for j in jumps:
            steps.append(Step("add", (cur, j), cur + j, f"{cur} + {j} = {cur + j}."))
            cur += j
        terms = " + ".join(map(str, jumps)) if jumps else "0"
        steps.append(Step("add", tuple(jumps), a - b, f"Add the jumps: {terms} = {a - b}."))
        return steps

    def check_lines(self, problem, text, style, out: LineChecker):
        a, b = problem.data["a"], problem.data["b"]
        lines = solution_lines(text)
        if style == "count_up":
            return self._check_count_up(a, b, lines, out)
        sa, sb = str(a), str(b)
        writes: list[int] = []
        borrow = 0
        computed = None
        for line in lines:
            m = _COL_RE.fullmatch(line)
            if m is not None:
                col, x, y, c = (int(m[i]) for i in range(1, 5))
                d, w, nb = int(m[8]), int(m[9]), int(m[10])
                if m[5] is None:
                    valid = x - y - c == d and nb == 0
                else:
                    t, y2, c2 = int(m[5]), int(m[6]), int(m[7])
                    valid = (x - y - c < 0 and t == x + 10 and (y2, c2) == (y, c)
                             and t - y - c == d and nb == 1)
                valid = valid and w == d
                grounded = (col == len(writes) + 1 and c == borrow
                            and x == column_digit(sa, col - 1) and y == column_digit(sb, col - 1))
                out.claim(line, valid, grounded)
                writes.append(w)
                borrow = nb
                continue
            m = _READ_RE.fullmatch(line)
            if m is not None and writes:
                spelled = "".join(map(str, reversed(writes)))
                computed = str(int(spelled))
                value_ok = (m[2] == computed) if m[2] else (m[1] == computed)
                out.claim(line, m[1] == spelled and value_ok and borrow == 0,
                          len(writes) >= len(sa))
                continue
            out.unparseable(line)
        return computed

    @staticmethod
    def _check_count_up(a, b, lines, out):
        cur = None
        jumps: list[int] = []
        computed = None
        for line in lines:
            m = _JUMP_RE.fullmatch(line)
            if m is not None:
                x, j, y = int(m[1]), int(m[2]), int(m[3])
                out.claim(line, x + j == y, cur is not None and x == cur)
                jumps.append(j)
                cur = y
                continue
            m = _START_RE.fullmatch(line)
            if m is not None:
                out.claim(line, True, (int(m[1]), int(m[2])) == (b, a))
                cur = int(m[1])
                continue
            m = _TOTAL_RE.fullmatch(line)
            if m is not None:
                terms = [int(t) for t in m[1].split(" + ")]
                total = int(m[2])
                claimed = jumps if jumps else [0]
                out.claim(line, sum(terms) == total, terms == claimed and cur == a)
                computed = str(total)
                continue
            out.unparseable(line)
        return computed


FAMILY = Subtraction()
