"""Greatest common divisor or least common multiple of two numbers.

Each problem asks for one of the two (``data["ask"]`` is ``"gcd"`` or
``"lcm"``). Level ``L``: both numbers have ``L`` digits (at least 2) and share
a random common factor of up to ceil(L/2) digits, so that the gcd is rarely 1.
The problem text is ``What is the greatest common divisor of 252 and 105?``
(or ``least common multiple``).

``euclid`` (division with remainder, larger number first, until the remainder
is 0; for an lcm, divide one number by the gcd and multiply by the other)::

    252 = 2 * 105 + 42.
    105 = 2 * 42 + 21.
    42 = 2 * 21 + 0.
    The remainder is 0, so gcd(252, 105) = 21.
    252 / 21 = 12.
    12 * 105 = 1260.
    #### 1260

(the last two lines only when the lcm is asked).

``factorize`` (split off one prime at a time, collect each factorization,
then take shared primes to the smaller power for a gcd, every prime to the
larger power for an lcm)::

    252 = 2 * 126.
    126 = 2 * 63.
    63 = 3 * 21.
    21 = 3 * 7.
    7 is prime.
    So 252 = 2^2 * 3^2 * 7.
    105 = 3 * 35.
    35 = 5 * 7.
    7 is prime.
    So 105 = 3 * 5 * 7.
    The gcd takes each shared prime to its smaller power: 3 * 7 = 21.
    #### 21

With no shared prime the gcd line reads ``The gcd takes each shared prime to
its smaller power: none, so 1.``; the lcm line is ``The lcm takes each prime
to its larger power: 2^2 * 3^2 * 5 * 7 = 1260.``
"""
from __future__ import annotations

import math
import re
from collections import Counter

from rtt_jax.tasks.base import Problem, Step
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import LineChecker, solution_lines

_N = r"([0-9]{1,24})"  # primality below is exact up to 3.3e24
_DIV_RE = re.compile(rf"{_N} = {_N} \* {_N} \+ {_N}\.", re.ASCII)
_GCD_RE = re.compile(rf"The remainder is 0, so gcd\({_N}, {_N}\) = {_N}\.", re.ASCII)
_QUO_RE = re.compile(rf"{_N} / {_N} = {_N}\.", re.ASCII)
_PROD_RE = re.compile(rf"{_N} \* {_N} = {_N}\.", re.ASCII)
_SPLIT_RE = re.compile(rf"{_N} = {_N} \* {_N}\.", re.ASCII)
_PRIME_RE = re.compile(rf"{_N} is prime\.", re.ASCII)
_POWERS = r"([0-9]{1,24}(?:\^[0-9]{1,2})?(?: \* [0-9]{1,24}(?:\^[0-9]{1,2})?){0,80})"
_SO_RE = re.compile(rf"So {_N} = {_POWERS}\.", re.ASCII)
_COMBINE_RE = re.compile(
    r"The (gcd|lcm) takes each (?:shared )?prime to its (?:smaller|larger) power: "
    rf"(?:{_POWERS} = {_N}|none, so (1))\.", re.ASCII)

_SMALL_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin, exact for n < 3.3e24 (the first 13 prime bases)."""
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _SMALL_PRIMES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def smallest_prime_factor(n: int) -> int:
    if n % 2 == 0:
        return 2
    i = 3
    while i * i <= n:
        if n % i == 0:
            return i
        i += 2
    return n


def format_powers(factors: Counter) -> str:
    return " * ".join(f"{p}^{e}" if e > 1 else str(p) for p, e in sorted(factors.items()))


def parse_powers(text: str) -> Counter | None:
    """``2^2 * 3 * 7`` -> Counter({2: 2, 3: 1, 7: 1}); None if a base repeats."""
    out: Counter = Counter()
    for term in text.split(" * "):
        base, _, exp = term.partition("^")
        p, e = int(base), int(exp) if exp else 1
        if p in out or e < 1:
            return None
        out[p] = e
    return out


def _value(factors: Counter) -> int | None:
    # 24-digit bases to the 99th power would be 2,000+ digits; refuse early.
    if sum(len(str(p)) * e for p, e in factors.items()) > 200:
        return None
    return math.prod(p**e for p, e in factors.items())


class GcdLcm(Family):
    name = "gcd_lcm"
    styles = ("euclid", "factorize")
    levels = range(1, 9)
    train_levels = range(1, 5)

    def make_problem(self, rng, seed, index, level):
        lo, hi = max(2, 10 ** (level - 1)), 10**level - 1
        g = rng.randint(1, 10 ** ((level + 1) // 2))
        if -(-lo // g) > hi // g:
            g = 1
        a, b = (g * rng.randint(-(-lo // g), hi // g) for _ in range(2))
        ask = rng.choice(("gcd", "lcm"))
        value = math.gcd(a, b) if ask == "gcd" else math.lcm(a, b)
        what = "greatest common divisor" if ask == "gcd" else "least common multiple"
        return Problem(self.name, seed, index, level, f"What is the {what} of {a} and {b}?",
                       str(value), {"a": a, "b": b, "ask": ask})

    def solve_steps(self, problem, style):
        a, b, ask = problem.data["a"], problem.data["b"], problem.data["ask"]
        if style == "euclid":
            return self._euclid_steps(a, b, ask)
        steps, facs = [], []
        for n in (a, b):
            cur, fac = n, Counter()
            while True:
                p = smallest_prime_factor(cur)
                if p == cur:
                    steps.append(Step("is_prime", (cur,), True, f"{cur} is prime."))
                    fac[cur] += 1
                    break
                steps.append(Step("factor", (cur, p), cur // p, f"{cur} = {p} * {cur // p}."))
                fac[p] += 1
                cur //= p
            steps.append(Step("factorization", (n,), format_powers(fac),
                              f"So {n} = {format_powers(fac)}."))
            facs.append(fac)
        if ask == "gcd":
            comb = facs[0] & facs[1]
            value = _value(comb)
            body = f"{format_powers(comb)} = {value}" if comb else "none, so 1"
            text = f"The gcd takes each shared prime to its smaller power: {body}."
        else:
            comb = facs[0] | facs[1]
            value = _value(comb)
            text = f"The lcm takes each prime to its larger power: {format_powers(comb)} = {value}."
        steps.append(Step(ask, (a, b), value if comb else 1, text))
        return steps

    @staticmethod
    def _euclid_steps(a, b, ask):
        steps = []
        x, y = max(a, b), min(a, b)
        while True:
            q, r = divmod(x, y)
            steps.append(Step("divmod", (x, y), (q, r), f"{x} = {q} * {y} + {r}."))
            if r == 0:
                break
            x, y = y, r
        g = y
        steps.append(Step("gcd", (a, b), g, f"The remainder is 0, so gcd({a}, {b}) = {g}."))
        if ask == "lcm":
            steps.append(Step("div", (a, g), a // g, f"{a} / {g} = {a // g}."))
            steps.append(Step("mul", (a // g, b), a // g * b, f"{a // g} * {b} = {a // g * b}."))
        return steps

    def check_lines(self, problem, text, style, out: LineChecker):
        a, b, ask = problem.data["a"], problem.data["b"], problem.data["ask"]
        lines = solution_lines(text)
        if style == "euclid":
            return self._check_euclid(a, b, ask, lines, out)
        return self._check_factorize(a, b, ask, lines, out)

    @staticmethod
    def _check_euclid(a, b, ask, lines, out):
        expect = (max(a, b), min(a, b))  # the pair the next division must use
        last = None  # (divisor, remainder) of the last division claimed
        gcd = quotient = lcm = None
        for line in lines:
            m = _DIV_RE.fullmatch(line)
            if m is not None:
                x, q, y, r = (int(g) for g in m.groups())
                out.claim(line, q * y + r == x and 0 <= r < y, (x, y) == expect)
                expect, last = (y, r), (y, r)
                continue
            m = _GCD_RE.fullmatch(line)
            if m is not None:
                x, y, g = int(m[1]), int(m[2]), int(m[3])
                out.claim(line, last is not None and last == (g, 0), (x, y) == (a, b))
                gcd = g
                continue
            m = _QUO_RE.fullmatch(line)
            if m is not None:
                x, g, q = (int(v) for v in m.groups())
                out.claim(line, g > 0 and g * q == x, x == a and gcd is not None and g == gcd)
                quotient = q
                continue
            m = _PROD_RE.fullmatch(line)
            if m is not None:
                q, y, lcm = (int(v) for v in m.groups())
                out.claim(line, q * y == lcm, quotient is not None and q == quotient and y == b)
                continue
            out.unparseable(line)
        computed = gcd if ask == "gcd" else lcm
        return None if computed is None else str(computed)

    @staticmethod
    def _check_factorize(a, b, ask, lines, out):
        targets = (a, b)
        done: list[Counter] = []  # factorizations claimed by "So" lines
        cur, fac, finished = a, Counter(), False
        computed = None
        for line in lines:
            m = _SPLIT_RE.fullmatch(line)
            if m is not None:
                n, p, rest = (int(g) for g in m.groups())
                out.claim(line, p * rest == n and rest > 1 and is_prime(p),
                          n == cur and not finished)
                fac[p] += 1
                cur = rest
                continue
            m = _PRIME_RE.fullmatch(line)
            if m is not None:
                n = int(m[1])
                out.claim(line, is_prime(n), n == cur and not finished)
                fac[n] += 1
                finished = True
                continue
            m = _SO_RE.fullmatch(line)
            if m is not None:
                n, claimed = int(m[1]), parse_powers(m[2])
                ok = claimed is not None and all(map(is_prime, claimed)) and _value(claimed) == n
                k = len(done)
                out.claim(line, ok, finished and k < 2 and n == targets[k] and claimed == fac)
                done.append(claimed or Counter())
                if len(done) < 2:
                    cur, fac, finished = targets[len(done)], Counter(), False
                continue
            m = _COMBINE_RE.fullmatch(line)
            if m is not None:
                kind = m[1]
                claimed = parse_powers(m[2]) if m[2] else Counter()
                value = int(m[3] or m[4])
                want_text = ("The gcd takes each shared prime to its smaller power: "
                             if kind == "gcd" else "The lcm takes each prime to its larger power: ")
                valid = (claimed is not None and line.startswith(want_text)
                         and (_value(claimed) or 1) == value)
                grounded = len(done) == 2 and kind == ask and claimed == (
                    done[0] & done[1] if kind == "gcd" else done[0] | done[1])
                out.claim(line, valid, grounded)
                computed = str(value)
                continue
            out.unparseable(line)
        return computed


FAMILY = GcdLcm()
