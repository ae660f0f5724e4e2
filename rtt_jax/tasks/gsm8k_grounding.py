"""Which numbers a GSM8K solution has established so far: the grounding rules.

A step's number is *grounded* when it did not come from nowhere. ``ProseFacts``
holds the numbers known so far (the question's, the common constants, results
claimed by earlier steps) plus what the prose derives, as read by
``rtt_jax.tasks.gsm8k_prose``: the numbers of a rewrite ``A = B`` of a known
expression (``7S`` after ``S + 2S + 4S``), the values of sub-expressions of
known expressions (``215-55`` is 160), the solution of a linear equation whose
numbers are known (``7S = 847`` gives 121), and every number of a later
equation with the same solution (``2x = 16`` after ``2x - 5 = 11``).
``grounded(v)`` also accepts a percent written as a fraction (``0.4`` once 40
is known, in a problem about percent or cents), ``1 ± p`` for a known fraction
``p`` (``1.15`` or ``115%`` for "15% more", ``0.8`` for "20% off", ``1.5`` for
"half again") and reciprocals (5 for 20%). Numbers the prose states in words
outside any equation ("Together they skip 150 times a minute") are grounded
too: they are *stated*, and ``by_statement_only`` tells them apart.

Nothing here executes text: numbers come from ``safe_arith``'s parsed trees.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Iterable

from rtt_jax.tasks.gsm8k_numbers import clock_durations, day_counts
from rtt_jax.tasks.gsm8k_prose import Part, chains
from rtt_jax.tasks.safe_arith import (Binary, Node, Num, SafeArithError, Unary, Var,
                                      evaluate_node)


def subtree_values(node: Node) -> list[Fraction]:
    """Values of the sub-expressions of ``node`` that have no variable."""
    out: list[Fraction] = []

    def walk(n: Node) -> bool:  # whether n is constant
        if isinstance(n, Num):
            return True
        if isinstance(n, Var):
            return False
        if isinstance(n, Unary):
            return walk(n.operand)
        if isinstance(n, Binary):
            left, right = walk(n.left), walk(n.right)
            if left and right:
                try:
                    out.append(abs(Fraction(evaluate_node(n))))
                except (SafeArithError, ZeroDivisionError, RecursionError):
                    return False
                return True
        return False

    walk(node)
    return out


@dataclasses.dataclass(frozen=True)
class AlgebraStep:
    """One ``A = B`` with an unknown that derives numbers: a ``rewrite`` of
    a known expression (``S + 2S + 4S = 7S``), an equation ``solved`` from
    known numbers (``7S = 847``), or one ``consistent`` with the value
    already solved for (``2x = 16`` after ``2x - 5 = 11``). Algebra only
    ever grounds: an equation that fits none of these is no step at all
    (letters get reused, and a wrong setup shows in the answer anyway)."""

    left: str
    right: str
    variable: str
    status: str
    solution: Fraction | None = None


def _magnitude(value):
    """|value| as an int when whole (ints hash and compare like Fractions, faster)."""
    if type(value) is int:
        return -value if value < 0 else value
    v = abs(Fraction(value))
    return v.numerator if v.denominator == 1 else v


class ProseFacts:
    """What a solution has established so far, line by line.

    ``known`` holds absolute values. ``percent`` says whether the problem
    talks about percent or cents, where ``k/100`` of a known ``k`` is the
    same number written another way.
    """

    def __init__(self, known: Iterable[Fraction], percent: bool = False):
        self.known: set = {_magnitude(v) for v in known}
        self.percent = percent
        self.solutions: dict[str, Fraction] = {}  # variable -> solved value
        self.derived: list[Fraction] = []  # every derived number, in order (for reports)
        self.stated: set[Fraction] = set()  # numbers the prose stated, not derived

    def _base(self, v) -> bool:
        if v in self.known or v in self.stated:
            return True
        # Percent and fraction, cents and dollars: the same number, scaled.
        return self.percent and any(w in self.known or w in self.stated
                                    for w in (v * 100, Fraction(v) / 100))

    def by_statement_only(self, value) -> bool:
        """Grounded, but only through a number the prose stated."""
        if not self.grounded(value):
            return False
        stated, self.stated = self.stated, set()
        try:
            return not self.grounded(value)
        finally:
            self.stated = stated

    def grounded(self, value) -> bool:
        v = _magnitude(value)
        if v in self.known or self._base(v):
            return True
        if v == 0:
            return False
        # 1 ± p: "15% more" is 1.15 (or 115 in percent), "20% off" is 0.8.
        for one in (1, 100) if self.percent else (1,):
            if 0 < v < 2 * one and v != one and self._base(abs(one - Fraction(v)) / one):
                return True
        # A reciprocal: 20% is a fifth, so 6 women are a fifth: 6 * 5.
        inverse = 1 / Fraction(v)
        return inverse in self.known or inverse in self.stated

    def part_grounded(self, part: Part) -> bool:
        return part.node is not None and not self.ungrounded(part.node)

    def ungrounded(self, node: Node) -> list[Fraction]:
        """The numbers of ``node`` that are not grounded. A written proper
        fraction counts as one number: 6/12 is grounded when a half is."""
        if isinstance(node, Num):
            return [] if self.grounded(node.value) else [abs(Fraction(node.value))]
        if isinstance(node, Unary):
            return self.ungrounded(node.operand)
        if isinstance(node, Binary):
            if (node.op == "/" and isinstance(node.left, Num) and isinstance(node.right, Num)
                    and 0 < node.left.value < node.right.value
                    and self.grounded(Fraction(node.left.value) / Fraction(node.right.value))):
                return []
            return self.ungrounded(node.left) + self.ungrounded(node.right)
        return []

    def add(self, value) -> None:
        v = _magnitude(value)
        if v not in self.known:
            self.known.add(v)
            self.derived.append(v)

    def _learn(self, part: Part) -> None:
        """Every number of ``part`` and of its constant sub-expressions."""
        for v in part.numbers:
            self.add(v)
        if part.node is not None:
            for v in subtree_values(part.node):
                self.add(v)
        form = part.form()
        if form is not None:
            self.add(form[0])
            self.add(form[1])

    def state(self, values: Iterable[Fraction]) -> None:
        self.stated.update(m for m in map(_magnitude, values) if m not in self.known)

    def compute(self, expressions: Iterable[Part]) -> None:
        """Learn the values of calculations written without "=" whose numbers
        are known: "(2+3+4+5+6+7+8) pastries" is 35 pastries."""
        for part in expressions:
            if self.part_grounded(part):
                self._learn(part)

    def absorb(self, line: str) -> list[AlgebraStep]:
        """Learn what the chains of ``line`` derive, and the days it counts;
        returns its steps of algebra (equations with an unknown)."""
        for v in day_counts(line) | clock_durations(line):
            self.add(v)
        steps = []
        for chain in chains(line):
            for a, b in zip(chain, chain[1:]):
                if a is None or b is None or a.node is None or b.node is None:
                    continue
                step = self._pair(a, b)
                if step is not None:
                    steps.append(step)
        return steps

    def _pair(self, a: Part, b: Part) -> AlgebraStep | None:
        fa, fb = a.form(), b.form()
        if fa is None or fb is None:
            return None
        ga, gb = self.part_grounded(a), self.part_grounded(b)
        variable = a.variable or b.variable
        if fa == fb:  # a rewrite: "S + 2S + 4S = 7S", "300/3 = 100"
            if ga:
                self._learn(a)
                self._learn(b)
                if variable is not None:
                    return AlgebraStep(a.text, b.text, variable, "rewrite")
            return None
        if variable is None or (a.variable and b.variable and a.variable != b.variable):
            return None  # two different numbers: wrong arithmetic is the claims' business
        if fa[0] == fb[0]:
            return None  # no solution or every value: nothing derived
        solution = (fb[1] - fa[1]) / (fa[0] - fb[0])
        # An equation that disagrees with the value solved for before is not
        # called wrong: one letter often names two things in one solution
        # (x for a price, then x for a percent). It is judged afresh.
        consistent = self.solutions.get(variable) == solution
        if consistent or ga and gb:
            self.solutions[variable] = solution
            self.add(solution)
            self._learn(a)
            self._learn(b)
            return AlgebraStep(a.text, b.text, variable,
                               "consistent" if consistent else "solved", solution)
        return None  # an equation set up with numbers from nowhere: not derived
