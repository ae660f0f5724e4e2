"""Counting legs on a farm: multiply per kind, then add up.

A problem lists how many animals of each kind there are and how many legs
each kind has, and asks for the total number of legs. Level ``L`` (1 to 10;
training 1 to 6) is the number of kinds, so a solution does ``L``
multiplications and ``L - 1`` additions.

Styles (``A farm has 3 chickens and 4 cows. Chickens have 2 legs and cows have
4 legs. How many legs are there in total?``):

``per_kind``: a subtotal for each kind, then one sum::

    3 chickens have 3 * 2 = 6 legs.
    4 cows have 4 * 4 = 16 legs.
    In total: 6 + 16 = 22 legs.

``running``: keep a running total, adding one kind per line::

    After the chickens: 3 * 2 = 6 legs.
    After the cows: 6 + 4 * 4 = 22 legs.

``check_steps`` reads those three kinds of line. A subtotal must multiply the
problem's count and legs for that kind (wrong facts make it invalid); a sum is
grounded when its terms are exactly the subtotals of every kind, claimed on
earlier lines; a running line is grounded when it adds this kind's count times
legs to the previous running total.
"""
from __future__ import annotations

import random
import re
from fractions import Fraction

from rtt_jax.tasks import safe_arith as sa
from rtt_jax.tasks.answers import extract_final_answer
from rtt_jax.tasks.base import (INVALID, UNPARSEABLE, VALID, Problem, Step, StepReport,
                                StepVerdict)
from rtt_jax.tasks.family import Family

# plural name -> legs; plurals only, since every count is at least 2.
ANIMALS = {
    "chickens": 2, "ducks": 2, "geese": 2, "ostriches": 2, "cows": 4, "horses": 4,
    "dogs": 4, "cats": 4, "sheep": 4, "goats": 4, "pigs": 4, "spiders": 8, "ants": 6,
    "beetles": 6, "crabs": 10,
}
_MAX_LINE = 400
_NUM = r"-?" + sa.NUMBER_PATTERN
_KIND_RE = re.compile(rf"^(?P<n>{_NUM}) (?P<kind>[a-z]+) have (?P<expr>[^=]+?) = (?P<res>{_NUM}) legs\.?$")
_TOTAL_RE = re.compile(rf"^In total:? (?P<expr>[^=]+?) = (?P<res>{_NUM}) legs\.?$")
_RUNNING_RE = re.compile(rf"^After the (?P<kind>[a-z]+): (?P<expr>[^=]+?) = (?P<res>{_NUM}) legs\.?$")
# Each run of spaces belongs to exactly one \s* (no two are adjacent), so a
# failing match backtracks linearly, not over every way to split the run.
_ANSWER_RE = re.compile(rf"^\s*(?P<num>{_NUM})\s*(?:legs\s*)?(?:\.\s*)?$")
STYLE_CUES = {
    "per_kind": "Count the legs of each kind, then add them up.",
    "running": "Keep a running total, one kind per line.",
}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


class CountingFamily(Family):
    name = "counting"
    styles = ("per_kind", "running")
    style_cues = STYLE_CUES
    levels = range(1, 11)
    train_levels = range(1, 7)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        kinds = rng.sample(sorted(ANIMALS), level)
        counts = {k: rng.randint(2, 9 if level <= 3 else 30) for k in kinds}
        herd = _join([f"{counts[k]} {k}" for k in kinds])
        legs = _join([f"{k} have {ANIMALS[k]} legs" for k in kinds])
        question = (f"A farm has {herd}. {legs[0].upper()}{legs[1:]}. "
                    "How many legs are there in total?")
        total = sum(counts[k] * ANIMALS[k] for k in kinds)
        return Problem(self.name, seed, index, level, question, str(total),
                       {"counts": counts, "legs": {k: ANIMALS[k] for k in kinds}})

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        counts, legs = problem.data["counts"], problem.data["legs"]
        steps, running = [], None
        for k, n in counts.items():
            sub = n * legs[k]
            if style == "per_kind":
                steps.append(Step("mul", (n, legs[k]), sub,
                                  f"{n} {k} have {n} * {legs[k]} = {sub} legs."))
            elif running is None:
                running = sub
                steps.append(Step("mul", (n, legs[k]), sub, f"After the {k}: {n} * {legs[k]} = {sub} legs."))
            else:
                steps.append(Step("add_mul", (running, n, legs[k]), running + sub,
                                  f"After the {k}: {running} + {n} * {legs[k]} = {running + sub} legs."))
                running += sub
        if style == "per_kind" and len(counts) > 1:
            subs = [counts[k] * legs[k] for k in counts]
            steps.append(Step("add", tuple(subs), sum(subs),
                              f"In total: {' + '.join(map(str, subs))} = {sum(subs)} legs."))
        return steps

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        value = _answer_value(got)
        return value is not None and value == Fraction(want)

    def read_steps(self, problem: Problem, text: str, style: str | None) -> StepReport:
        state = {"subtotals": {}, "running": None, "last": None}
        verdicts = []
        for line in [ln.strip() for ln in text.splitlines()]:
            if line and not line.startswith("####"):
                verdicts.append(_check_line(line, problem.data, state))
        got = _answer_value(extract_final_answer(text))
        return StepReport(tuple(verdicts), state["last"] is not None and got == state["last"])


def _has_product(tree: sa.Node, a: Fraction, b: Fraction) -> bool:
    if isinstance(tree, sa.Binary):
        if tree.op == "*" and sorted(sa.number_values(tree)) == sorted([a, b]):
            return True
        return _has_product(tree.left, a, b) or _has_product(tree.right, a, b)
    return False


def _check_line(line: str, data: dict, state: dict) -> StepVerdict:
    if len(line) > _MAX_LINE:
        return StepVerdict(line[:80], UNPARSEABLE, False, "line too long")
    m = _KIND_RE.match(line) or _TOTAL_RE.match(line) or _RUNNING_RE.match(line)
    if m is None:
        return StepVerdict(line, UNPARSEABLE, False, "not a recognised step")
    res = sa.parse_number(m.group("res"))
    try:
        tree = sa.parse(m.group("expr"))
        value = sa.evaluate_node(tree)
    except sa.SafeArithError as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e))
    if res is None:
        return StepVerdict(line, UNPARSEABLE, False, "bad result")
    used = sorted(sa.number_values(tree))
    arith_ok = value == res
    kind = m.groupdict().get("kind")
    facts = None
    if kind is not None:
        if kind not in data["counts"]:
            return StepVerdict(line, INVALID, False, f"no {kind} on this farm")
        facts = (data["counts"][kind], data["legs"][kind])
    state["last"] = res
    if "n" in m.groupdict():  # "3 chickens have 3 * 2 = 6 legs."
        state["subtotals"][kind] = res
        right = (sa.parse_number(m.group("n")) == facts[0] and used == sorted(facts)
                 and sa.count_ops(tree) == 1 and isinstance(tree, sa.Binary) and tree.op == "*")
        ok = arith_ok and right
        return StepVerdict(line, VALID if ok else INVALID, right,
                           "" if ok else "wrong arithmetic" if right else "wrong count or legs")
    if kind is None:  # "In total: 6 + 16 = 22 legs."
        subs = state["subtotals"]
        grounded = set(subs) == set(data["counts"]) and used == sorted(subs.values())
        plus_only = _only_additions(tree)
        ok = arith_ok and plus_only
        return StepVerdict(line, VALID if ok else INVALID, grounded and plus_only,
                           "" if ok and grounded else "wrong arithmetic" if not ok
                           else "terms are not every kind's subtotal")
    # "After the cows: 6 + 4 * 4 = 22 legs."
    prev = state["running"]
    expected = sorted(list(facts) + ([prev] if prev is not None else []))
    state["running"] = res
    grounded = used == expected and sa.count_ops(tree) == len(expected) - 1
    if grounded or _has_product(tree, *facts):
        return StepVerdict(line, VALID if arith_ok else INVALID, grounded,
                           "" if arith_ok and grounded else "wrong arithmetic" if not arith_ok
                           else "does not add to the previous running total")
    return StepVerdict(line, INVALID, False, "wrong count or legs")


def _only_additions(tree: sa.Node) -> bool:
    if isinstance(tree, sa.Binary):
        return tree.op == "+" and _only_additions(tree.left) and _only_additions(tree.right)
    return isinstance(tree, sa.Num)


def _answer_value(answer: str | None) -> Fraction | None:
    m = _ANSWER_RE.match(answer[:100]) if answer else None
    return sa.parse_number(m.group("num")) if m else None


FAMILY = CountingFamily()
