"""Nested arithmetic expressions with order of operations.

Level ``L`` is the number of binary operators (1 to 10; training uses 1 to 6).
Leaves are small positive integers; every division divides exactly and every
intermediate result is an integer of at most ``_MAX_VALUE`` in size, so a trace
never needs fractions. Parentheses are the minimal set that makes the text
parse back (with ``safe_arith``) to exactly the generated tree: a left operand
is bracketed when it binds more loosely than its parent, a right operand when
it binds no tighter (``8 - (3 - 1)``, ``2 + (3 + 4)``).

Styles (``Evaluate: (2 + 3) * 4 - 6 / 2``):

``innermost_first``: one operation per line, chosen inside the most deeply
bracketed group (leftmost among equals); each line rewrites the whole
expression::

    = 5 * 4 - 6 / 2
    = 20 - 6 / 2
    = 20 - 3
    = 17

``precedence``: one binary operation per line, in left-to-right order of
evaluation (an operation as soon as both its operands are known)::

    2 + 3 = 5
    5 * 4 = 20
    6 / 2 = 3
    20 - 3 = 17

``check_steps`` accepts either kind of line, even mixed: a ``= expr`` line is
valid when it is the previous expression with one ready operation replaced by
its correct value (grounded), or an equal-valued rewrite that skips steps
(valid, ungrounded); an ``a op b = c`` line must compute an operation whose
operands are already known (grounded) and get it right (valid).
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

_MAX_VALUE = 10_000
# Every operator safe_arith parses: a model's rewrite line becomes the tree
# the next line is checked against, and may use // or %.
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 3}
_MAX_LINE = 400
# The left side ends at a non-space: a lazy [^=]+? followed by \s* would
# rescan each run of spaces from every position in it (quadratic).
_OP_LINE_RE = re.compile(
    r"^(?P<lhs>[^=]*?[^=\s])\s*=\s*(?P<res>[-−]?" + sa.NUMBER_PATTERN + r")\s*\.?$")
STYLE_CUES = {
    "innermost_first": "Rewrite the expression, one operation at a time, innermost brackets first.",
    "precedence": "Compute one operation per line, in order of precedence.",
}


def render(node: sa.Node) -> str:
    if isinstance(node, sa.Num):
        return sa.format_number(node.value)
    assert isinstance(node, sa.Binary)
    left, right = render(node.left), render(node.right)
    if _needs_parens(node, node.left, is_right=False):
        left = f"({left})"
    if _needs_parens(node, node.right, is_right=True):
        right = f"({right})"
    return f"{left} {node.op} {right}"


def _needs_parens(parent: sa.Binary, child: sa.Node, is_right: bool) -> bool:
    if isinstance(child, sa.Num):
        # "3 * (-2)" reads better than "3 * -2"; both parse to the same tree.
        return child.value < 0
    if not isinstance(child, sa.Binary):
        return False
    if is_right:
        return _PREC[child.op] <= _PREC[parent.op]
    return _PREC[child.op] < _PREC[parent.op]


def _build(rng: random.Random, n_ops: int, max_leaf: int) -> tuple[sa.Node, int]:
    if n_ops == 0:
        v = rng.randint(1, max_leaf)
        return sa.Num(v), v
    n_left = rng.randint(0, n_ops - 1)
    left, lv = _build(rng, n_left, max_leaf)
    right, rv = _build(rng, n_ops - 1 - n_left, max_leaf)
    op = rng.choice("+-*/")
    if op == "/":
        if rv != 0 and lv % rv == 0:
            pass
        elif n_left == 0 and 0 < rv <= 12:
            # Make a leaf dividend divisible so that division still shows up often.
            lv = rv * rng.randint(1, 9)
            left = sa.Num(lv)
        else:
            op = rng.choice("+-*")
    if op == "*" and abs(lv * rv) > _MAX_VALUE:
        op = rng.choice("+-")
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv // rv if op == "/" else 0}[op]
    if abs(value) > _MAX_VALUE:
        op, value = "-", lv - rv
    return sa.Binary(op, left, right), value


def _ready(node: sa.Node, path: tuple[int, ...] = (), depth: int = 0,
           out: list | None = None) -> list:
    """(path, node, bracket depth) of operations whose operands are numbers, in
    post-order (left to right)."""
    out = [] if out is None else out
    if type(node) is sa.Binary:
        left, right, prec = node.left, node.right, _PREC[node.op]
        if type(left) is sa.Binary:
            _ready(left, path + (0,), depth + (_PREC[left.op] < prec), out)
        if type(right) is sa.Binary:
            _ready(right, path + (1,), depth + (_PREC[right.op] <= prec), out)
        if type(left) is sa.Num and type(right) is sa.Num:
            out.append((path, node, depth))
    return out


def _replace(node: sa.Node, path: tuple[int, ...], new: sa.Node) -> sa.Node:
    if not path:
        return new
    assert isinstance(node, sa.Binary)
    if path[0] == 0:
        return sa.Binary(node.op, _replace(node.left, path[1:], new), node.right)
    return sa.Binary(node.op, node.left, _replace(node.right, path[1:], new))


def _apply(op: str, a: sa.Number, b: sa.Number) -> sa.Number | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    try:
        return sa.evaluate_node(sa.Binary(op, sa.Num(a), sa.Num(b)))
    except sa.SafeArithError:
        return None


def _match_with_hole(old: sa.Node, path: tuple[int, ...], new: sa.Node) -> Fraction | None:
    """If ``new`` is ``old`` with the node at ``path`` replaced by a number, that
    number; else None."""
    if not path:
        return new.value if isinstance(new, sa.Num) else None
    if not (isinstance(new, sa.Binary) and isinstance(old, sa.Binary) and new.op == old.op):
        return None
    same, hole = (old.right, new.right) if path[0] == 0 else (old.left, new.left)
    if same != hole:
        return None
    branch = (old.left, new.left) if path[0] == 0 else (old.right, new.right)
    return _match_with_hole(branch[0], path[1:], branch[1])


class ExpressionsFamily(Family):
    name = "expressions"
    styles = ("innermost_first", "precedence")
    style_cues = STYLE_CUES
    levels = range(1, 11)
    train_levels = range(1, 7)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        tree, value = _build(rng, level, 9 if level <= 4 else 20)
        expr = render(tree)
        return Problem(self.name, seed, index, level, f"Evaluate: {expr}",
                       str(value), {"expression": expr})

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        tree = sa.parse(problem.data["expression"])
        steps = []
        while isinstance(tree, sa.Binary):
            ready = _ready(tree)
            if style == "innermost_first":
                path, node, _ = max(ready, key=lambda r: r[2])  # max keeps the leftmost
            else:
                path, node, _ = ready[0]
            a, b = node.left.value, node.right.value
            c = _apply(node.op, a, b)
            tree = _replace(tree, path, sa.Num(c))
            text = (f"= {render(tree)}" if style == "innermost_first"
                    else f"{render(node)} = {sa.format_number(c)}")
            steps.append(Step(node.op, (sa.format_number(a), sa.format_number(b)),
                              sa.format_number(c), text))
        return steps

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        value = sa.parse_number(got or "")
        return value is not None and value == Fraction(want)

    def read_steps(self, problem: Problem, text: str, style: str | None) -> StepReport:
        tree = sa.parse(problem.data["expression"])
        verdicts, last = [], None
        for line in _step_lines(text):
            if len(line) > _MAX_LINE:
                verdicts.append(StepVerdict(line[:80], UNPARSEABLE, False, "line too long"))
                continue
            if line.startswith("="):
                verdict, tree, last = _check_rewrite(tree, line)
            else:
                verdict, tree, claimed = _check_op_line(tree, line)
                last = claimed if claimed is not None else last
            verdicts.append(verdict)
        # What the steps computed: the expression once reduced to a number, or
        # the last "a op b = c" result when the lines never rewrote it fully.
        final = tree.value if isinstance(tree, sa.Num) else last
        got = sa.parse_number(extract_final_answer(text) or "")
        return StepReport(tuple(verdicts), final is not None and got == final)


def _step_lines(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("####")]


def _check_rewrite(tree: sa.Node, line: str):
    """(verdict, the new expression, None): a rewrite claims no single result;
    the trace's result is the expression once it is a single number."""
    try:
        new = sa.parse(line.split("=")[-1].strip().rstrip("."))
    except sa.SafeArithError as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e)), tree, None
    for path, node, _ in _ready(tree):
        claimed = _match_with_hole(tree, path, new)
        if claimed is not None:
            ok = claimed == _apply(node.op, node.left.value, node.right.value)
            return (StepVerdict(line, VALID if ok else INVALID, True,
                                "" if ok else f"{render(node)} is not {sa.format_number(claimed)}"),
                    new, None)
    try:
        same = sa.evaluate_node(new) == sa.evaluate_node(tree)
    except sa.SafeArithError:
        same = False
    if same:
        return StepVerdict(line, VALID, False, "more than one operation at once"), new, None
    return StepVerdict(line, INVALID, False, "not equal to the previous expression"), new, None


def _check_op_line(tree: sa.Node, line: str):
    m = _OP_LINE_RE.match(line)
    if m is None:
        return StepVerdict(line, UNPARSEABLE, False, "expected 'a op b = c'"), tree, None
    try:
        lhs = sa.parse(m.group("lhs"))
        true_value = sa.evaluate_node(lhs)
    except sa.SafeArithError as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e)), tree, None
    claimed = sa.parse_number(m.group("res"))
    ok = claimed == true_value
    verdict = VALID if ok else INVALID
    if isinstance(lhs, sa.Binary) and isinstance(lhs.left, sa.Num) and isinstance(lhs.right, sa.Num):
        for path, node, _ in _ready(tree):
            if node == lhs:
                return (StepVerdict(line, verdict, True, "" if ok else "wrong result"),
                        _replace(tree, path, sa.Num(claimed)), claimed)
        return StepVerdict(line, verdict, False, "operands are not known yet"), tree, claimed
    return StepVerdict(line, verdict, False, "not a single operation on known numbers"), tree, claimed


FAMILY = ExpressionsFamily()
