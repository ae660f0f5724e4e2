"""Modular sums: a chain of single-digit additions and subtractions, mod 10.

The task where step-by-step traces should matter most at small scale. The
answer is the last digit of ``a0 ± a1 ± ... ± aL``: it depends on *every*
operand (its "globality", Abbe et al. 2024, is the number of terms), and a
fixed-depth transformer cannot compute long such chains in one forward pass
(Feng et al. 2023, arithmetic mod p), so a model trained on answers alone has
no shortcut, while each line of a trace is a local one-digit computation.
Answers are uniform over 0-9: chance is 10%.

Level ``L`` (1 to 16; training 1 to 8) has ``L`` operations, ``L + 1``
terms; each operation is ``+`` or ``-`` with equal odds. The question is
``7+5-9+3 mod 10``; the prompt adds the style's cue line.

Styles (``7+5-9+3 mod 10``):

``rewrite`` (rewrite the expression, doing its first operation mod 10 each line)::

    =2-9+3
    =3+3
    =6
    #### 6

``running`` (a running total, reduced mod 10 at every step)::

    7+5=2
    2-9=3
    3+3=6
    #### 6

``exact`` (exact integer totals, reduced once at the end)::

    7+5=12
    12-9=3
    3+3=6
    6 mod 10=6
    #### 6

``pairwise`` (a balanced tree: add neighbouring signed terms in rounds,
reducing mod 10; an odd one out moves up to the next round)::

    7+5=2
    -9+3=4
    2+4=6
    #### 6

``check_steps`` replays the lines. A line ``x±y=z`` is *valid* when ``z`` is
``x±y`` exactly or reduced mod 10 (both are true statements), and a line
``t mod 10=r`` when ``r`` is ``t`` mod 10. It is *grounded* when its operands
are the next ones the style works on: for ``running``/``exact`` the previous
line's result (the first term at the start) and the next signed term (a
``mod`` line reduces the total so far, at the end or along the way); for
``pairwise`` the next pair of the current round. A ``rewrite`` line
``=h±t...`` is valid when it keeps the value mod 10 and grounded when it is
the previous line with its first operation done (mod 10 or exactly). A
skipped line therefore leaves the following one ungrounded, and an answer
that is not what the lines computed does not follow. Numbers are read with ASCII-only regexes and at most
``MAX_DIGITS`` digits; nothing is evaluated.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

from rtt_jax.tasks.base import ANSWER_MARKER, Problem, Step
from rtt_jax.tasks.digits import MAX_DIGITS
from rtt_jax.tasks.stepwise import ArithmeticFamily, LineChecker, solution_lines

MODULUS = 10
STYLE_CUES = {
    "rewrite": "Rewrite from the left, mod 10.",
    "running": "Keep a running total mod 10.",
    "exact": "Add exactly, then take mod 10.",
    "pairwise": "Add neighbours in rounds, mod 10.",
}
_N = r"[0-9]{1,%d}" % MAX_DIGITS
_OP_RE = re.compile(rf"^(-?{_N}) ?([+-]) ?({_N}) ?= ?(-?{_N})\.?$", re.ASCII)
_MOD_RE = re.compile(rf"^(-?{_N}) mod {MODULUS} ?= ?(-?{_N})\.?$", re.ASCII)
_REWRITE_RE = re.compile(rf"^= ?(-?{_N}(?: ?[+-] ?{_N}){{0,64}})\.?$", re.ASCII)
_TERM_RE = re.compile(rf"([+-]?) ?({_N})", re.ASCII)


def signed_terms(problem: Problem) -> list[tuple[str, int]]:
    """The terms with their signs: ``7+5-9+3`` -> ``[("+", 7), ("+", 5), ("-", 9), ("+", 3)]``
    (a sign, not a negative number, so that ``-0`` stays a subtraction)."""
    terms, ops = problem.data["terms"], problem.data["ops"]
    return [("+", terms[0])] + list(zip(ops, terms[1:]))


def _value(term) -> int:
    sign, v = term
    return -v if sign == "-" else v


def _text(x) -> str:
    """An operand as written: a signed term ``("-", 9)`` is ``-9``, a result its number."""
    if isinstance(x, tuple):
        return f"-{x[1]}" if x[0] == "-" else str(x[1])
    return str(x)


def _expression(head: int, terms) -> str:
    """``2-9+3``: a result followed by the signed terms still to add."""
    return str(head) + "".join(f"{sign}{v}" for sign, v in terms)


def _line(x, term: tuple[str, int], z: int) -> str:
    """``7+5=2``, ``12-9=3``, ``-9+3=4``: operand x, the signed term, the result."""
    return f"{_text(x)}{term[0]}{term[1]}={z}"


def pairwise_rounds(terms: Sequence) -> list[list[tuple]]:
    """Rounds of (x, y, (x + y) mod 10) until one value is left; x and y are
    signed terms in the first round and results (0-9, written ``+y``) after."""
    rounds, cur = [], list(terms)
    while len(cur) > 1:
        pairs = []
        for i in range(0, len(cur) - 1, 2):
            x, y = cur[i], cur[i + 1]
            xv = _value(x) if isinstance(x, tuple) else x
            yv = _value(y) if isinstance(y, tuple) else y
            pairs.append((x, y if isinstance(y, tuple) else ("+", y), (xv + yv) % MODULUS))
        rounds.append(pairs)
        cur = [z for _, _, z in pairs] + ([cur[-1]] if len(cur) % 2 else [])
    return rounds


def _read_op(line: str):
    """``(x, (sign, y), z)`` of an ``x±y=z`` line; x keeps its sign as text."""
    m = _OP_RE.match(line)
    if not m:
        return None
    return m[1], (m[2], int(m[3])), int(m[4])


class Modular(ArithmeticFamily):
    name = "modular"
    styles = ("rewrite", "running", "exact", "pairwise")
    style_cues = STYLE_CUES
    levels = range(1, 17)
    train_levels = range(1, 9)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        terms = [rng.randrange(MODULUS) for _ in range(level + 1)]
        ops = [rng.choice("+-") for _ in range(level)]
        question = str(terms[0]) + "".join(f"{op}{t}" for op, t in zip(ops, terms[1:])) \
            + f" mod {MODULUS}"
        total = terms[0] + sum(t if op == "+" else -t for op, t in zip(ops, terms[1:]))
        return Problem(self.name, seed, index, level, question, str(total % MODULUS),
                       {"terms": terms, "ops": ops, "modulus": MODULUS})

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        trace = self.solve(problem, style)
        return (f"{problem.question}\n{STYLE_CUES[style]}\n",
                f"{trace.text}\n{ANSWER_MARKER} {trace.answer}")

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        terms = signed_terms(problem)
        steps: list[Step] = []
        if style == "rewrite":
            total = terms[0][1]
            for k, term in enumerate(terms[1:], 2):
                z = (total + _value(term)) % MODULUS
                steps.append(Step("add" if term[0] == "+" else "sub", (total, term[1]), z,
                                  "=" + _expression(z, terms[k:])))
                total = z
            return steps
        if style == "pairwise":
            for pairs in pairwise_rounds(terms):
                steps += [Step("add", (_text(x), _text(y)), z, _line(x, y, z))
                          for x, y, z in pairs]
            return steps
        total = terms[0][1]
        for term in terms[1:]:
            exact = total + _value(term)
            z = exact if style == "exact" else exact % MODULUS
            steps.append(Step("add" if term[0] == "+" else "sub", (total, term[1]), z,
                              _line(total, term, z)))
            total = z
        if style == "exact":
            r = total % MODULUS
            steps.append(Step("mod", (total, MODULUS), r, f"{total} mod {MODULUS}={r}"))
        return steps

    # --- reading model text ------------------------------------------------
    def check_lines(self, problem: Problem, text: str, style: str,
                    out: LineChecker) -> str | None:
        terms = signed_terms(problem)
        if style == "pairwise":
            return self._check_pairwise(terms, text, out)
        if style == "rewrite":
            return self._check_rewrite(terms, text, out)
        total = terms[0][1]  # the running total the text has claimed
        k = 1  # the next term
        for line in solution_lines(text):
            read = _read_op(line)
            if read:
                x, term, z = read
                exact = int(x) + _value(term)
                grounded = k < len(terms) and int(x) == total and term == terms[k]
                out.claim(line, z == exact or z == exact % MODULUS, grounded)
                total, k = z, k + 1
                continue
            m = _MOD_RE.match(line)
            if m:  # reduces the total so far, at the end or along the way
                t, r = int(m[1]), int(m[2])
                out.claim(line, r == t % MODULUS, t == total)
                total = r
                continue
            out.unparseable(line)
        if k != len(terms):
            return None
        return str(total) if 0 <= total < MODULUS else None

    def _check_rewrite(self, terms: list, text: str, out: LineChecker) -> str | None:
        """``=z...`` lines: valid when the expression keeps the previous one's
        value mod 10; grounded when it is the previous one with its first
        operation done (mod 10 or exactly)."""
        head, rest = terms[0][1], terms[1:]  # the previous line: head, then signed terms
        value = (head + sum(map(_value, rest))) % MODULUS
        for line in solution_lines(text):
            m = _REWRITE_RE.match(line)
            if not m:
                out.unparseable(line)
                continue
            parts = [(sign or "+", int(v)) for sign, v in _TERM_RE.findall(m[1])]
            new_head, new_rest = _value(parts[0]), parts[1:]  # an exact head may be negative
            new_value = (new_head + sum(map(_value, new_rest))) % MODULUS
            exact = head + _value(rest[0]) if rest else None
            grounded = exact is not None and new_rest == rest[1:] and \
                new_head in (exact, exact % MODULUS)
            out.claim(line, new_value == value, grounded)
            head, rest, value = new_head, new_rest, new_value
        if rest or not 0 <= head < MODULUS:
            return None
        return str(head)

    def _check_pairwise(self, terms: list, text: str, out: LineChecker) -> str | None:
        cur, nxt, i = list(terms), [], 0  # this round's operands, the next round's, position
        overrun = False  # a line after the last round: like running's extra lines, no answer
        for line in solution_lines(text):
            read = _read_op(line)
            if not read:
                out.unparseable(line)
                continue
            x, term, z = read
            exact = int(x) + _value(term)
            # Signed terms must be written as given (``-0`` stays a subtraction);
            # a result by its value, so ``2-6`` uses an exact partial sum -6.
            grounded = i + 1 < len(cur) and (
                x == _text(cur[i]) if isinstance(cur[i], tuple) else int(x) == cur[i]) and (
                term == cur[i + 1] if isinstance(cur[i + 1], tuple)
                else _value(term) == cur[i + 1])
            out.claim(line, z == exact or z == exact % MODULUS, grounded)
            overrun = overrun or len(cur) == 1
            nxt.append(z)
            i += 2
            if i >= len(cur) - 1:  # the round is done: the odd one out moves up
                cur, nxt, i = nxt + cur[i:], [], 0
        if overrun or len(cur) != 1 or nxt or isinstance(cur[0], tuple):
            return None
        return str(cur[0]) if 0 <= cur[0] < MODULUS else None


FAMILY = Modular()
