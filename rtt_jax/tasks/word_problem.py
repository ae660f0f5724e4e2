"""Multi-step word problems generated from a graph of quantities (iGSM-like).

Each problem is a small tree of people's counts of one item: some are given
("Tom has 5 apples."), the rest follow from one relation each ("Anna has 3
more apples than Tom.", "... 2 fewer ...", "... 3 times as many ...", "... 1/2
as many ...", "... as many apples as Tom and Anna together.", "... as many
apples as Anna has more than Tom."). Level ``L``
(1 to 10; training 1 to 6) is the number of relations, and every one of them
is needed for the question, so a solution has exactly ``L`` computations. The
statements are shuffled, so a solver must find the order itself.

Styles (``Anna has 3 more apples than Tom. Tom has 5 apples. Ben has 2 times
as many apples as Anna. How many apples does Ben have?``):

``forward``: compute from the knowns toward the goal, one relation a line::

    Anna has 5 + 3 = 8 apples.
    Ben has 8 * 2 = 16 apples.

``backward``: goal first: say what each unknown needs, then compute it::

    To find Ben's apples, we need Anna's.
    To find Anna's apples, we need Tom's.
    Anna has 5 + 3 = 8 apples.
    Ben has 8 * 2 = 16 apples.

``check_steps`` reads three kinds of line: a computation ``Name has <arithmetic>
= N item.`` (valid when the arithmetic is right and it applies Name's relation
to the right inputs; grounded when those inputs are given or computed on an
earlier line), a restatement ``Name has N item.`` and a plan ``To find Name's
item, we need A's and B's.`` (valid when those are exactly Name's inputs).
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

NAMES = ("Tom", "Anna", "Ben", "Cara", "Dan", "Eve", "Finn", "Gina", "Hugo", "Iris",
         "Jack", "Kate", "Leo", "Mia", "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sam",
         "Tara", "Uma", "Vic", "Wes", "Zoe")
ITEMS = ("apples", "marbles", "stickers", "books", "pencils", "coins", "shells",
         "cards", "stamps", "cookies")
_MAX_VALUE = 5_000
_MAX_LINE = 300
_NUM = r"-?" + sa.NUMBER_PATTERN
_COMPUTE_RE = re.compile(
    rf"^(?P<name>[A-Z][a-z]+) has (?P<expr>[^=]+?) = (?P<res>{_NUM}) (?P<item>[a-z]+)\.?$")
_RESTATE_RE = re.compile(rf"^(?P<name>[A-Z][a-z]+) has (?P<res>{_NUM}) (?P<item>[a-z]+)\.?$")
_PLAN_RE = re.compile(r"^To find (?P<name>[A-Z][a-z]+)'s (?P<item>[a-z]+), we need (?P<deps>.+?)\.?$")
_DEP_RE = re.compile(r"([A-Z][a-z]+)'s")
STYLE_CUES = {
    "forward": "Work forward from what is known, one step per line.",
    "backward": "Start from the question: say what is needed, then compute it.",
}


def _statement(node: dict, nodes: list[dict], item: str) -> str:
    n, op, c = node["name"], node["op"], node["const"]
    args = [nodes[i]["name"] for i in node["args"]]
    if op == "given":
        return f"{n} has {node['value']} {item}."
    if op == "sum":
        return f"{n} has as many {item} as {args[0]} and {args[1]} together."
    if op == "diff":
        return f"{n} has as many {item} as {args[0]} has more than {args[1]}."
    return {
        "add": f"{n} has {c} more {item} than {args[0]}.",
        "sub": f"{n} has {c} fewer {item} than {args[0]}.",
        "mul": f"{n} has {c} times as many {item} as {args[0]}.",
        "div": f"{n} has 1/{c} as many {item} as {args[0]}.",
    }[op]


def _operands(node: dict, values: list) -> list:
    """The numbers node's relation combines, in the order a trace writes them."""
    ins = [values[i] for i in node["args"]]
    return ins if node["op"] in _BINARY else ins + [node["const"]]


_SYMBOL = {"add": "+", "sum": "+", "sub": "-", "diff": "-", "mul": "*", "div": "/"}
_BINARY = ("sum", "diff")  # relations between two people, with no constant


def _apply(node: dict, operands: list) -> sa.Number:
    a, b = operands
    op = _SYMBOL[node["op"]]
    return a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else sa.divide(a, b)


class WordProblemFamily(Family):
    name = "word_problem"
    styles = ("forward", "backward")
    style_cues = STYLE_CUES
    levels = range(1, 11)
    train_levels = range(1, 7)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        names = rng.sample(NAMES, len(NAMES))
        item = rng.choice(ITEMS)
        nodes: list[dict] = []

        def given() -> int:
            nodes.append({"name": names[len(nodes)], "op": "given", "args": [],
                          "const": None, "value": rng.randint(2, 20)})
            return len(nodes) - 1

        def derive(op: str, args: list[int]) -> int:
            vals = [nodes[i]["value"] for i in args]
            const = None
            if op == "mul" and vals[0] * 5 > _MAX_VALUE:
                op = "add"
            if op == "div":
                divisors = [k for k in (2, 3, 4, 5) if vals[0] % k == 0]
                if divisors:
                    const = rng.choice(divisors)
                else:
                    op = "sub"
            if op == "sub" and vals[0] < 3:
                op = "add"
            if op == "add":
                const = rng.randint(1, 20)
            elif op == "sub":
                const = rng.randint(1, min(20, vals[0] - 1))
            elif op == "mul":
                const = rng.randint(2, 5)
            value = int(_apply({"op": op, "const": const, "args": args},
                               vals + ([] if op in _BINARY else [const])))
            nodes.append({"name": names[len(nodes)], "op": op, "args": args,
                          "const": const, "value": value})
            return len(nodes) - 1

        # Keep at most two unused quantities; merging them with "together"
        # makes a tree in which every relation feeds the goal.
        dangling = [given()]
        for i in range(level):
            remaining = level - i
            if len(dangling) == 2 and (remaining == 1 or rng.random() < 0.5):
                a, b = sorted(dangling, key=lambda j: -nodes[j]["value"])
                if nodes[a]["value"] > nodes[b]["value"] and rng.random() < 0.4:
                    dangling = [derive("diff", [a, b])]  # stays positive
                else:
                    dangling = [derive("sum", dangling)]
                continue
            if len(dangling) == 1 and remaining >= 2 and rng.random() < 0.4:
                dangling.append(given())
            j = rng.randrange(len(dangling))
            dangling[j] = derive(rng.choice(("add", "sub", "mul", "div")), [dangling[j]])
        goal = dangling[0]
        statements = [_statement(n, nodes, item) for n in nodes]
        rng.shuffle(statements)
        question = " ".join(statements) + f" How many {item} does {nodes[goal]['name']} have?"
        return Problem(self.name, seed, index, level, question, str(nodes[goal]["value"]),
                       {"nodes": nodes, "item": item, "goal": goal})

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        nodes, item = problem.data["nodes"], problem.data["item"]
        values = [n["value"] for n in nodes]
        steps: list[Step] = []

        def compute(i: int) -> None:
            node = nodes[i]
            ops = _operands(node, values)
            expr = f" {_SYMBOL[node['op']]} ".join(sa.format_number(v) for v in ops)
            steps.append(Step(node["op"], tuple(sa.format_number(v) for v in ops), node["value"],
                              f"{node['name']} has {expr} = {node['value']} {item}."))

        def visit(i: int) -> None:
            node = nodes[i]
            if node["op"] == "given":
                return
            deps = " and ".join(f"{nodes[j]['name']}'s" for j in node["args"])
            steps.append(Step("plan", tuple(nodes[j]["name"] for j in node["args"]), None,
                              f"To find {node['name']}'s {item}, we need {deps}."))
            for j in node["args"]:
                visit(j)
            compute(i)

        if style == "forward":
            # Creation order is a topological order of the tree.
            for i, node in enumerate(nodes):
                if node["op"] != "given":
                    compute(i)
        else:
            visit(problem.data["goal"])
        return steps

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        value = _answer_value(got)
        return value is not None and value == Fraction(want)

    def read_steps(self, problem: Problem, text: str, style: str | None) -> StepReport:
        nodes, goal = problem.data["nodes"], problem.data["goal"]
        by_name = {n["name"]: i for i, n in enumerate(nodes)}
        # Claimed values so far: a wrong earlier claim is judged once, and later
        # lines are judged on whether they follow from what was claimed.
        known: dict[int, sa.Number] = {i: n["value"] for i, n in enumerate(nodes)
                                      if n["op"] == "given"}
        numbers = set(known.values()) | {n["const"] for n in nodes if n["const"]}
        verdicts = []
        for line in [ln.strip() for ln in text.splitlines()]:
            if not line or line.startswith("####"):
                continue
            verdicts.append(_check_line(line, nodes, by_name, known, numbers))
        got = _answer_value(extract_final_answer(text))
        return StepReport(tuple(verdicts), goal in known and got == known[goal])


def _check_line(line, nodes, by_name, known, numbers) -> StepVerdict:
    if len(line) > _MAX_LINE:
        return StepVerdict(line[:80], UNPARSEABLE, False, "line too long")
    if m := _PLAN_RE.match(line):
        i = by_name.get(m.group("name"))
        if i is None or nodes[i]["op"] == "given":
            return StepVerdict(line, INVALID, False, "nothing to find for that name")
        needs = {nodes[j]["name"] for j in nodes[i]["args"]}
        ok = set(_DEP_RE.findall(m.group("deps"))) == needs
        return StepVerdict(line, VALID if ok else INVALID, True,
                           "" if ok else f"needs {', '.join(sorted(needs))}")
    if m := _RESTATE_RE.match(line):
        i, res = by_name.get(m.group("name")), sa.parse_number(m.group("res"))
        if i is None or i not in known:
            return StepVerdict(line, INVALID, False, "not given or computed yet")
        ok = known[i] == res
        return StepVerdict(line, VALID if ok else INVALID, True, "" if ok else "contradicts earlier value")
    m = _COMPUTE_RE.match(line)
    if m is None:
        return StepVerdict(line, UNPARSEABLE, False, "not a recognised step")
    i, res = by_name.get(m.group("name")), sa.parse_number(m.group("res"))
    try:
        tree = sa.parse(m.group("expr"))
        value = sa.evaluate_node(tree)
    except sa.SafeArithError as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e))
    if i is None or nodes[i]["op"] == "given" or res is None:
        return StepVerdict(line, INVALID, False, "no such quantity to compute")
    node = nodes[i]
    used = sa.number_values(tree)
    grounded = all(j in known for j in node["args"]) and all(v in numbers for v in used)
    if value != res:
        verdict, reason = INVALID, "arithmetic is wrong"
    elif all(j in known for j in node["args"]):
        expected = _operands(node, [known.get(j) for j in range(len(nodes))])
        right = sorted(used) == sorted(expected) and sa.count_ops(tree) == 1 \
            and res == _apply(node, expected)
        verdict, reason = (VALID, "") if right else (INVALID, f"not {node['name']}'s relation")
    else:
        ok = res == node["value"]
        verdict = VALID if ok else INVALID
        reason = "uses a value not computed yet" if ok else "wrong value"
    known[i] = res
    numbers.add(res)
    return StepVerdict(line, verdict, grounded, reason)


# No two \s* are adjacent: a failing match cannot try every split of a run of spaces.
_ANSWER_RE = re.compile(r"^\s*(?P<num>-?[0-9][0-9,.]*)\s*(?:[a-z]+\s*)?(?:\.\s*)?$")


def _answer_value(answer: str | None) -> Fraction | None:
    m = _ANSWER_RE.match(answer[:100]) if answer else None
    return sa.parse_number(m.group("num").rstrip(".")) if m else None


FAMILY = WordProblemFamily()
