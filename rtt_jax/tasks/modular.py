"""Modular sums: a chain of single-digit additions and subtractions, mod 10.

The task where step-by-step traces should matter most at small scale. The
answer is the last digit of ``a0 ± a1 ± ... ± aL``: it depends on *every*
operand (its "globality", Abbe et al. 2024, is the number of terms), and a
fixed-depth transformer cannot compute long such chains in one forward pass
(Feng et al. 2023, arithmetic mod p), so a model trained on answers alone has
no shortcut, while each line of a trace is a local one-digit computation.
Answers are uniform over 0-9: chance is 10%.

Level ``L`` (1 to 32; training 1 to 8) has ``L`` operations, ``L + 1``
terms; each operation is ``+`` or ``-`` with equal odds. The question is
``7+5-9+3 mod 10``; the prompt adds the style's cue line. (Levels 17-32 were
added for length generalisation, issue 27: levels 1-16 are unchanged.)

Each line of every style does one exact operation (``7+5=12``, ``2-9=-7``),
and a result is reduced mod 10 only when a later line starts from it (12
carries on as 2, -7 as 3) or at the end. Why not reduce inside the line: a
digit of ``(x + y) mod 10`` is a pure interaction of x and y (knowing x alone
says nothing about it), the XOR-like target a small transformer learns only
after a long plateau, while ``x + y`` exactly, and the last digit of a
number, each carry signal from one input at a time. Measured: a 2-layer
d=128 model trained 600 steps on levels 1-2 reached a loss of 0.05 per
target token with exact lines and stayed at 0.2 (every result digit at
chance) with reduced ones.

Styles (``7+5-9+3 mod 10``):

``running`` (a running total; each line starts from the last result mod 10)::

    7+5=12
    2-9=-7
    3+3=6
    #### 6

``rewrite`` (rewrite the expression, doing its first operation each line;
the head carries on mod 10, and the answer is the last head mod 10)::

    =12-9+3
    =-7+3
    =6
    #### 6

``exact`` (exact integer totals, reduced once at the end)::

    7+5=12
    12-9=3
    3+3=6
    6 mod 10=6
    #### 6

``pairwise`` (a balanced tree: add neighbouring signed terms in rounds; the
results carry on mod 10, and an odd one out moves up to the next round)::

    7+5=12
    -9+3=-6
    2+4=6
    #### 6

``hinted`` (``running`` with index hints, Zhou et al. 2024, arXiv
2402.09371: the prompt labels every term with a letter, ``n7+o5-p9+q3 mod
10``, and each line names the term it adds by its letter, so a model finds
the next operand by matching the letter, not by counting terms; the letters
run on from a random start through a-z then A-Z, cyclically, drawn from
(seed, level, index) apart from the problem itself)::

    7+o5=12
    2-p9=-7
    3+q3=6
    #### 6

``check_steps`` replays the lines. A line ``x±y=z`` is *valid* when ``z`` is
``x±y`` exactly or reduced mod 10 (both are true statements), and a line
``t mod 10=r`` when ``r`` is ``t`` mod 10. It is *grounded* when its operands
are the next ones the style works on: an earlier result as claimed or
carried mod 10 (the first term at the start) and the next signed term, as
written in the question (``-0`` stays a subtraction); for ``pairwise`` the
next pair of the current round. A ``rewrite`` line ``=h±t...`` is valid when
it keeps the value mod 10 and grounded when it is the previous line with its
first operation done. A skipped line therefore leaves the following one
ungrounded, and an answer that is not what the lines computed does not
follow: the last result mod 10, except in ``exact``, whose answer is what its
``mod`` line says (a total outside 0-9 left unreduced computes no answer). Numbers are read with ASCII-only regexes and at most
``MAX_DIGITS`` digits; nothing is evaluated.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

from rtt_jax.tasks.base import Problem, Step, make_rng_seed
from rtt_jax.tasks.digits import MAX_DIGITS
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import LineChecker, solution_lines

MODULUS = 10
STYLE_CUES = {  # short: the cue is in every prompt, trace or not
    "running": "Running total mod 10.",
    "rewrite": "Rewrite, mod 10.",
    "exact": "Exact total, then mod 10.",
    "pairwise": "Pairs in rounds, mod 10.",
    "hinted": "Running total by letter, mod 10.",
}
# Index hints (``hinted``): term i of a problem is labelled HINTS[(start + i) % 52].
HINTS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_N = r"[0-9]{1,%d}" % MAX_DIGITS
_OP_RE = re.compile(rf"^(-?{_N}) ?([+-]) ?({_N}) ?= ?(-?{_N})\.?$", re.ASCII)
_MOD_RE = re.compile(rf"^(-?{_N}) mod {MODULUS} ?= ?(-?{_N})\.?$", re.ASCII)
_REWRITE_RE = re.compile(rf"^= ?(-?{_N}(?: ?[+-] ?{_N}){{0,64}})\.?$", re.ASCII)
_TERM_RE = re.compile(rf"([+-]?) ?({_N})", re.ASCII)
_HINTED_RE = re.compile(rf"^(-?{_N}) ?([+-]) ?([A-Za-z])({_N}) ?= ?(-?{_N})\.?$", re.ASCII)


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


def _carried(value: int) -> int:
    """What a later line starts from: a result reduced mod 10 (12 -> 2, -7 -> 3)."""
    return value % MODULUS


def pairwise_rounds(terms: Sequence) -> list[list[tuple]]:
    """Rounds of (x, y, x + y) until one value is left: x and y are signed
    terms in the first round and earlier results, carried mod 10, after."""
    rounds, cur = [], list(terms)
    while len(cur) > 1:
        pairs = []
        for i in range(0, len(cur) - 1, 2):
            x, y = cur[i], cur[i + 1]
            xv = _value(x) if isinstance(x, tuple) else x
            pairs.append((x, y if isinstance(y, tuple) else ("+", y),
                          xv + (_value(y) if isinstance(y, tuple) else y)))
        rounds.append(pairs)
        cur = [_carried(z) for _, _, z in pairs] + ([cur[-1]] if len(cur) % 2 else [])
    return rounds


def hints(problem: Problem) -> str:
    """The letters labelling the problem's terms in the ``hinted`` style: a run
    of ``HINTS`` (cyclic) from a start drawn from (seed, level, index) with
    its own stream, so the problem itself is what every other style sees."""
    start = random.Random(make_rng_seed(problem.seed, "modular/hints", problem.level,
                                        problem.index)).randrange(len(HINTS))
    n = len(problem.data["terms"])
    if n > len(HINTS):
        raise ValueError(f"modular: {n} terms is more than the {len(HINTS)} index hints")
    return "".join(HINTS[(start + i) % len(HINTS)] for i in range(n))


def hinted_question(problem: Problem) -> str:
    """``n7+o5-p9+q3 mod 10``: the question with every term labelled by its hint."""
    labels = hints(problem)
    return "".join(f"{'' if i == 0 else sign}{labels[i]}{v}"
                   for i, (sign, v) in enumerate(signed_terms(problem))) + f" mod {MODULUS}"


def _read_op(line: str):
    """``(x, (sign, y), z)`` of an ``x±y=z`` line; x keeps its sign as text."""
    m = _OP_RE.match(line)
    if not m:
        return None
    return m[1], (m[2], int(m[3])), int(m[4])


def _from(x: int, claimed: int | None) -> bool:
    """Whether operand ``x`` is the claimed result ``claimed``, as is or carried mod 10."""
    return claimed is not None and x in (claimed, _carried(claimed))


class Modular(Family):
    name = "modular"
    styles = ("running", "rewrite", "exact", "pairwise", "hinted")
    style_cues = STYLE_CUES
    levels = range(1, 33)
    train_levels = range(1, 9)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        terms = [rng.randrange(MODULUS) for _ in range(level + 1)]
        ops = [rng.choice("+-") for _ in range(level)]
        question = str(terms[0]) + "".join(f"{op}{t}" for op, t in zip(ops, terms[1:])) \
            + f" mod {MODULUS}"
        total = terms[0] + sum(t if op == "+" else -t for op, t in zip(ops, terms[1:]))
        return Problem(self.name, seed, index, level, question, str(total % MODULUS),
                       {"terms": terms, "ops": ops, "modulus": MODULUS})

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        terms = signed_terms(problem)
        steps: list[Step] = []
        if style == "pairwise":
            for pairs in pairwise_rounds(terms):
                steps += [Step("add", (_text(x), _text(y)), z, _line(x, y, z))
                          for x, y, z in pairs]
            return steps
        labels = hints(problem) if style == "hinted" else ""
        total = terms[0][1]
        for k, term in enumerate(terms[1:], 2):
            x = total if style == "exact" else _carried(total)
            total = x + _value(term)
            if style == "rewrite":
                text = "=" + _expression(total, terms[k:])
            elif style == "hinted":
                text = f"{x}{term[0]}{labels[k - 1]}{term[1]}={total}"
            else:
                text = _line(x, term, total)
            steps.append(Step("add" if term[0] == "+" else "sub", (x, term[1]), total, text))
        if style == "exact":
            steps.append(Step("mod", (total, MODULUS), _carried(total),
                              f"{total} mod {MODULUS}={_carried(total)}"))
        return steps

    def position_coupling(self, style: str) -> tuple[int, int]:
        """``(anchor, stride)`` for ``model.positions=coupled`` (position
        coupling, Cho et al. 2024): with ids 0 (BOS), 1, 2, ... over the
        prompt, completion line k starting at ``anchor + stride * k`` puts
        each ``running`` line on the ids of the question's text it works on:
        its carry on the previous term, its sign and digit on the term it
        adds (``7+5-9``: 7 at id 1, +5 at 2-3, -9 at 4-5; line ``2-9=-7`` at
        3, 4, 5, ...). ``hinted`` terms take three characters (``-p9``), so
        its lines step by 3 from the first digit (id 2). Other styles' lines
        do not follow the question term by term."""
        if style == "running":
            return 1, 2
        if style == "hinted":
            return 2, 3
        raise ValueError(f"modular: style {style!r} has no position coupling "
                         "(running and hinted have)")

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        """As every family's, except that ``hinted`` asks the hinted question."""
        prompt, completion = super().format_example(problem, style)
        if style == "hinted":
            prompt = hinted_question(problem) + prompt[len(problem.question):]
        return prompt, completion

    # --- reading model text ------------------------------------------------
    def check_lines(self, problem: Problem, text: str, style: str,
                    out: LineChecker) -> str | None:
        terms = signed_terms(problem)
        if style == "pairwise":
            return self._check_pairwise(terms, text, out)
        if style == "rewrite":
            return self._check_rewrite(terms, text, out)
        labels = hints(problem) if style == "hinted" else None
        total = terms[0][1]  # the running total the text has claimed
        k = 1  # the next term
        for line in solution_lines(text):
            read, label = _read_op(line), None
            if labels is not None:  # a hinted line names its term: x±hy=z
                m = _HINTED_RE.match(line)
                read = m and (m[1], (m[2], int(m[4])), int(m[5]))
                label = m and m[3]
            if read:
                x, term, z = read
                exact = int(x) + _value(term)
                grounded = k < len(terms) and _from(int(x), total) and term == terms[k] \
                    and (labels is None or label == labels[k])
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
        if style == "exact":  # its own discipline: the answer is what the mod line says
            return str(total) if 0 <= total < MODULUS else None
        return str(_carried(total))

    def _check_rewrite(self, terms: list, text: str, out: LineChecker) -> str | None:
        """``=h±t...`` lines: valid when the expression keeps the previous one's
        value mod 10; grounded when it is the previous one with its first
        operation done, from the head as written or carried mod 10 (the result
        exact or reduced), or, with nothing left to add, the head reduced."""
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
            if rest:
                done = {x + _value(rest[0]) for x in (head, _carried(head))}
                grounded = new_rest == rest[1:] and any(
                    new_head in (d, _carried(d)) for d in done)
            else:  # only the reduction is left
                grounded = not new_rest and new_head == _carried(head) != head
            out.claim(line, new_value == value, grounded)
            head, rest, value = new_head, new_rest, new_value
        if rest:
            return None
        return str(_carried(head))

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
            # an earlier result by its value, as claimed or carried mod 10.
            grounded = i + 1 < len(cur) and (
                x == _text(cur[i]) if isinstance(cur[i], tuple) else _from(int(x), cur[i])) and (
                term == cur[i + 1] if isinstance(cur[i + 1], tuple)
                else _value(term) in (cur[i + 1], _carried(cur[i + 1])))
            out.claim(line, z == exact or z == exact % MODULUS, grounded)
            overrun = overrun or len(cur) == 1
            nxt.append(z)
            i += 2
            if i >= len(cur) - 1:  # the round is done: the odd one out moves up
                cur, nxt, i = nxt + cur[i:], [], 0
        if overrun or len(cur) != 1 or nxt or isinstance(cur[0], tuple):
            return None
        return str(_carried(cur[0]))


FAMILY = Modular()
