"""Integer division with remainder: long division or chunking.

Answer format: ``<quotient> R <remainder>``, always with both parts, e.g.
``#### 176 R 2`` and ``#### 12 R 0``; ``check_answer`` ignores extra spaces
and the case of the ``R``.

Level ``L``: the dividend has ``L + 1`` digits and the divisor 1..ceil((L+1)/2)
digits (at least 2). The problem text is ``What is 1234 divided by 7? Give the
quotient and the remainder.``

``long`` (one line per dividend digit: bring it down next to the remainder,
divide, multiply back, subtract; then read the quotient digits)::

    Bring down 1 to remainder 0: 1 / 7 = 0, 0 * 7 = 0, 1 - 0 = 1.
    Bring down 2 to remainder 1: 12 / 7 = 1, 1 * 7 = 7, 12 - 7 = 5.
    Bring down 3 to remainder 5: 53 / 7 = 7, 7 * 7 = 49, 53 - 49 = 4.
    Bring down 4 to remainder 4: 44 / 7 = 6, 6 * 7 = 42, 44 - 42 = 2.
    The quotient digits 0176 give 176, remainder 2.
    #### 176 R 2

``chunking`` (repeatedly subtract the largest "digit times power of ten"
multiple of the divisor that fits, then add up the multiples taken)::

    Take 100 * 7 = 700: 1234 - 700 = 534.
    Take 70 * 7 = 490: 534 - 490 = 44.
    Take 6 * 7 = 42: 44 - 42 = 2.
    Add the multiples: 100 + 70 + 6 = 176, remainder 2.
    #### 176 R 2
"""
from __future__ import annotations

import re

from rtt_jax.tasks.base import Problem, Step
from rtt_jax.tasks.digits import MAX_DIGITS, random_with_digits
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import LineChecker, solution_lines

_N = r"([0-9]{1,%d})" % MAX_DIGITS
_LONG_RE = re.compile(
    rf"Bring down ([0-9]) to remainder {_N}: {_N} / {_N} = ([0-9]), ([0-9]) \* {_N} = {_N}, "
    rf"{_N} - {_N} = {_N}\.", re.ASCII)
_QUOT_RE = re.compile(rf"The quotient digits {_N} give {_N}, remainder {_N}\.", re.ASCII)
_TAKE_RE = re.compile(rf"Take {_N} \* {_N} = {_N}: {_N} - {_N} = {_N}\.", re.ASCII)
_SUM_RE = re.compile(r"Add the multiples: ([0-9]{1,%d}(?: \+ [0-9]{1,%d}){0,400}) = %s, "
                     r"remainder %s\." % (MAX_DIGITS, MAX_DIGITS, _N, _N), re.ASCII)
_ANSWER_RE = re.compile(r"([0-9]{1,%d}) *[Rr] *([0-9]{1,%d})" % (MAX_DIGITS, MAX_DIGITS), re.ASCII)


def chunks(n: int, d: int) -> list[int]:
    """The multiples of ``d`` chunking takes from ``n``: digit * 10^k, largest first."""
    out = []
    for k in range(len(str(n)) - 1, -1, -1):
        q = n // (d * 10**k)
        if q:
            out.append(q * 10**k)
            n -= q * 10**k * d
    return out


def _answer(q: int, r: int) -> str:
    return f"{q} R {r}"


class Division(Family):
    name = "division"
    styles = ("long", "chunking")
    levels = range(1, 9)
    train_levels = range(1, 5)

    def make_problem(self, rng, seed, index, level):
        n = random_with_digits(rng, level + 1)
        d = random_with_digits(rng, rng.randint(1, (level + 2) // 2), low=2)
        q, r = divmod(n, d)
        return Problem(self.name, seed, index, level,
                       f"What is {n} divided by {d}? Give the quotient and the remainder.",
                       _answer(q, r), {"n": n, "d": d})

    def solve_steps(self, problem, style):
        n, d = problem.data["n"], problem.data["d"]
        steps = []
        if style == "long":
            rem, qdigits = 0, ""
            for ch in str(n):
                cur = rem * 10 + int(ch)
                q = cur // d
                steps.append(Step("divmod", (cur, d), (q, cur - q * d),
                                  f"Bring down {ch} to remainder {rem}: {cur} / {d} = {q}, "
                                  f"{q} * {d} = {q * d}, {cur} - {q * d} = {cur - q * d}."))
                rem, qdigits = cur - q * d, qdigits + str(q)
            q = int(qdigits)
            steps.append(Step("read_digits", (qdigits, rem), _answer(q, rem),
                              f"The quotient digits {qdigits} give {q}, remainder {rem}."))
            return steps
        cur = n
        taken = chunks(n, d)
        for m in taken:
            steps.append(Step("sub", (cur, m * d), cur - m * d,
                              f"Take {m} * {d} = {m * d}: {cur} - {m * d} = {cur - m * d}."))
            cur -= m * d
        terms = " + ".join(map(str, taken)) if taken else "0"
        steps.append(Step("add", tuple(taken), _answer(sum(taken), cur),
                          f"Add the multiples: {terms} = {sum(taken)}, remainder {cur}."))
        return steps

    def answers_equal(self, got, want):
        mg = _ANSWER_RE.fullmatch(got.strip()) if got is not None else None
        mw = _ANSWER_RE.fullmatch(want.strip()) if want is not None else None
        return (mg is not None and mw is not None
                and (int(mg[1]), int(mg[2])) == (int(mw[1]), int(mw[2])))

    def check_lines(self, problem, text, style, out: LineChecker):
        n, d = problem.data["n"], problem.data["d"]
        lines = solution_lines(text)
        if style == "chunking":
            return self._check_chunking(n, d, lines, out)
        sn = str(n)
        qdigits, rem = "", 0
        computed = None
        for line in lines:
            m = _LONG_RE.fullmatch(line)
            if m is not None:
                g = [int(x) for x in m.groups()]
                digit, rin, cur, dv, q, q2, d2, prod, cur2, prod2, r = g
                valid = (cur == rin * 10 + digit and (q2, d2, cur2, prod2) == (q, dv, cur, prod)
                         and q * dv == prod and cur - prod == r and 0 <= r < dv)
                k = len(qdigits)
                grounded = k < len(sn) and digit == int(sn[k]) and rin == rem and dv == d
                out.claim(line, valid, grounded)
                qdigits, rem = qdigits + str(q), r
                continue
            m = _QUOT_RE.fullmatch(line)
            if m is not None and qdigits:
                out.claim(line, int(m[1]) == int(m[2]),
                          m[1] == qdigits and int(m[3]) == rem and len(qdigits) == len(sn))
                computed = _answer(int(m[2]), int(m[3]))
                continue
            out.unparseable(line)
        return computed

    @staticmethod
    def _check_chunking(n, d, lines, out):
        cur = n
        taken: list[int] = []
        computed = None
        for line in lines:
            m = _TAKE_RE.fullmatch(line)
            if m is not None:
                mult, dv, c, x, c2, y = (int(g) for g in m.groups())
                out.claim(line, mult * dv == c and c2 == c and x - c == y and y >= 0,
                          x == cur and dv == d)
                taken.append(mult)
                cur = y
                continue
            m = _SUM_RE.fullmatch(line)
            if m is not None:
                terms = [int(t) for t in m[1].split(" + ")]
                q, r = int(m[2]), int(m[3])
                # The remainder must be below the divisor, or the division is
                # not finished.
                out.claim(line, sum(terms) == q and r < d,
                          terms == (taken or [0]) and r == cur)
                computed = _answer(q, r)
                continue
            out.unparseable(line)
        return computed


FAMILY = Division()
