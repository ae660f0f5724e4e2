"""Linear equations in one variable, solved step by step.

Level ``L`` (1 to 10; training 1 to 6) is the number of operations in the
equation. The left side wraps ``x`` in a chain of operations (``+ c``, ``- c``,
``k(...)``, never two of a kind in a row); from level 4 on, half the problems
also put ``cx + d`` on the right (two of the ``L`` operations). The solution is
an integer. There is no division in the equations themselves, so expanding
brackets never creates fractions.

Styles (``Solve for x: 3(x + 4) - 5 = 22``):

``balance``: simplify each side once (expand, collect like terms), then do
the same single operation to both sides; every line is an equation::

    simplify each side: 3x + 7 = 22
    subtract 7 from both sides: 3x = 15
    divide both sides by 3: x = 5

``inverse``: undo the operations around ``x`` in reverse order, each line
``what is left = arithmetic = number`` (when ``x`` is on both sides, first
simplify and collect ``x`` on the left)::

    3(x + 4) = 22 + 5 = 27
    x + 4 = 27 / 3 = 9
    x = 9 - 4 = 5

``check_steps`` reads each line as ``[label:] lhs = rhs [= rhs' ...]`` (the
label is ignored). A line is valid when every ``rhs = rhs'`` claim holds and
its equation has the same solution as the previous one. It is grounded when it
is one legal step from the previous equation: a rewrite of the sides that keeps
their values (simplifying), or one operation applied to both sides that changes
each side by just that term (adding or subtracting one ``x`` term or one number)
or scales each term of a side (multiplying or dividing; a side that is just
``k(...)`` may be unwrapped by dividing by ``k``). Skipping a step therefore
leaves the next line ungrounded. The answer follows from the steps only when
the last line is the solved form, ``x = <number>`` (its last ``=`` part being
the number in inverse style), and that number is the claimed answer; so a
trace that stops one step early is caught too. Balance traces stay near 3-4
lines at every level, since simplifying is one line; inverse traces grow with
the level.
"""
from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction

from rtt_jax.tasks import safe_arith as sa
from rtt_jax.tasks.answers import extract_final_answer
from rtt_jax.tasks.base import (INVALID, UNPARSEABLE, VALID, Problem, Step, StepReport,
                                StepVerdict)
from rtt_jax.tasks.family import Family

_X = ("x",)
_MAX_LINE = 400
STYLE_CUES = {
    "balance": "Do the same to both sides, one step per line.",
    "inverse": "Undo the operations around x in reverse order.",
}
Form = tuple[sa.Number, sa.Number]  # (a, b) means a*x + b


def _form(node: sa.Node) -> Form:
    """The linear form of a tree; raises SafeArithError if it is not linear."""
    t = type(node)
    if t is sa.Num:
        return (0, node.value)
    if t is sa.Var:
        return (1, 0)
    if t is sa.Unary:
        a, b = _form(node.operand)
        return (-a, -b)
    if t is not sa.Binary:
        raise sa.SafeArithError("not an expression")
    (a1, b1), (a2, b2) = _form(node.left), _form(node.right)
    op = node.op
    if op == "+":
        return (a1 + a2, b1 + b2)
    if op == "-":
        return (a1 - a2, b1 - b2)
    if op == "*" and a1 == 0:
        out = (b1 * a2, b1 * b2)
    elif op == "*" and a2 == 0:
        out = (a1 * b2, b1 * b2)
    elif op == "/" and a2 == 0 and b2 != 0:
        out = (sa.divide(a1, b2), sa.divide(b1, b2))
    elif op == "**" and a1 == 0 and a2 == 0:
        out = (0, sa.evaluate_node(sa.Binary("**", sa.Num(b1), sa.Num(b2))))
    else:
        raise sa.SafeArithError("not linear in x")
    # Products can grow coefficients fast on hostile input; sums cannot.
    return (sa._check_size(out[0]), sa._check_size(out[1]))


def _terms(node: sa.Node, sign: int, out: list) -> list[tuple[sa.Node, int]]:
    t = type(node)
    if t is sa.Binary and (node.op == "+" or node.op == "-"):
        _terms(node.left, sign, out)
        _terms(node.right, sign if node.op == "+" else -sign, out)
    elif t is sa.Unary:
        _terms(node.operand, -sign, out)
    else:
        out.append((node, sign))
    return out


def _is_plain_x(node: sa.Node) -> bool:
    if type(node) is sa.Var:
        return True
    return (type(node) is sa.Binary and node.op in ("*", "/")
            and {type(node.left), type(node.right)} == {sa.Num, sa.Var}
            and (node.op == "*" or type(node.left) is sa.Var))


class _Side:
    """One side of an equation: its linear form and its top-level terms as a
    multiset of (kind, a, b), kind being const, x or group."""

    __slots__ = ("node", "form", "counter")

    def __init__(self, node: sa.Node):
        # One pass over the terms gives both the form and the multiset.
        self.node = node
        counter: Counter = Counter()
        a_sum = b_sum = 0
        for term, sign in _terms(node, 1, []):
            a, b = _form(term)
            a, b = a * sign, b * sign
            a_sum, b_sum = a_sum + a, b_sum + b
            if a != 0 or b != 0:  # a written "0" is no term at all
                kind = "const" if a == 0 else ("x" if _is_plain_x(term) else "group")
                counter[(kind, a, b)] += 1
        self.form: Form = (a_sum, b_sum)
        self.counter = counter


def _solution(left: Form, right: Form) -> tuple:
    a, b = left[0] - right[0], right[1] - left[1]
    if a != 0:
        return ("one", sa.divide(b, a))
    return ("all",) if b == 0 else ("none",)


def _add_ok(before: Counter, after: Counter, t: Form) -> bool:
    kind = "x" if t[0] != 0 else "const"
    if after == before + Counter({(kind, *t): 1}):
        return True
    for (k, a, b) in before:
        if k != kind:
            continue
        changed = before - Counter({(k, a, b): 1})
        if (a + t[0], b + t[1]) != (0, 0):
            changed = changed + Counter({(k, a + t[0], b + t[1]): 1})
        if changed == after:
            return True
    return False


def _scale_ok(before: _Side, after: _Side, k: sa.Number) -> bool:
    scaled = Counter({(kind, a * k, b * k): n for (kind, a, b), n in before.counter.items()})
    if scaled == after.counter:
        return True
    # Unwrapping one bracket, "3(x + 4) = 27" -> "x + 4 = 9", is one inverse
    # step: the side must be a single k0 * (inner), with k = 1 / k0 exactly.
    terms = _terms(before.node, 1, [])
    if len(terms) != 1 or type(terms[0][0]) is not sa.Binary:
        return False
    (node, sign), = terms
    if node.op == "*" and type(node.left) is sa.Num:
        k0, inner = node.left.value, node.right
    elif node.op == "*" and type(node.right) is sa.Num:
        k0, inner = node.right.value, node.left
    elif node.op == "/" and type(node.right) is sa.Num and node.right.value != 0:
        k0, inner = sa.divide(1, node.right.value), node.left
    else:
        return False
    if k * k0 * sign != 1:
        return False
    return inner == after.node or _Side(inner).counter == after.counter


def _grounded(prev: tuple[_Side, _Side], new: tuple[_Side, _Side]) -> bool:
    (pl, pr), (nl, nr) = [(a.form, b.form) for a, b in (prev, new)]
    if (nl, nr) == (pl, pr) or (nl, nr) == (pr, pl):
        return True  # a rewrite: expanding, collecting, swapping sides
    tl, tr = (nl[0] - pl[0], nl[1] - pl[1]), (nr[0] - pr[0], nr[1] - pr[1])
    if tl == tr and (tl[0] == 0) != (tl[1] == 0):
        return (_add_ok(prev[0].counter, new[0].counter, tl)
                and _add_ok(prev[1].counter, new[1].counter, tl))
    ref = pl if pl != (0, 0) else pr
    if ref[0] != 0:
        k = sa.divide(nl[0] if ref is pl else nr[0], ref[0])
    elif ref[1] != 0:
        k = sa.divide(nl[1] if ref is pl else nr[1], ref[1])
    else:
        return False
    if k == 0 or (pl[0] * k, pl[1] * k) != nl or (pr[0] * k, pr[1] * k) != nr:
        return False
    return _scale_ok(prev[0], new[0], k) and _scale_ok(prev[1], new[1], k)


def _num(v: sa.Number) -> str:
    return sa.format_number(v)


def _operand(v: sa.Number) -> str:
    return f"({_num(v)})" if v < 0 else _num(v)


def render_form(form: Form) -> str:
    a, b = form
    if a == 0:
        return _num(b)
    head = "x" if a == 1 else "-x" if a == -1 else f"{_num(a)}x"
    if b == 0:
        return head
    return f"{head} {'+' if b > 0 else '-'} {_num(abs(b))}"


def _render_node(node: sa.Node) -> str:
    """Text for the chain trees this family generates (``3(x + 4) - 5``)."""
    if isinstance(node, sa.Var):
        return "x"
    if isinstance(node, sa.Num):
        return _num(node.value)
    if isinstance(node, sa.Unary):
        return "-x" if isinstance(node.operand, sa.Var) else f"-({_render_node(node.operand)})"
    assert isinstance(node, sa.Binary)
    if node.op == "*":
        inner = node.right
        body = "x" if isinstance(inner, sa.Var) else f"({_render_node(inner)})"
        return f"{_num(node.left.value)}{body}"
    return f"{_render_node(node.left)} {node.op} {_num(node.right.value)}"


class LinearEquationFamily(Family):
    name = "linear_equation"
    styles = ("balance", "inverse")
    style_cues = STYLE_CUES
    levels = range(1, 11)
    train_levels = range(1, 7)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        x = rng.randint(1, 12) if level <= 3 else rng.choice([v for v in range(-12, 13) if v])
        both = level >= 4 and rng.random() < 0.5
        text, value, coef, last = "x", x, 1, None
        for _ in range(level - 2 if both else level):
            kind = rng.choice([k for k in ("add", "mul") if k != last])
            last = kind
            if kind == "mul":
                k = rng.randint(2, 5 if level > 5 else 9)
                text = f"{k}x" if text == "x" else f"{k}({text})"
                value, coef = value * k, coef * k
            else:
                c = rng.randint(1, 20)
                op = rng.choice("+-")
                text = f"{text} {op} {c}"
                value += c if op == "+" else -c
        if both:
            c = rng.choice([v for v in range(-6, 10) if v not in (0, coef)])
            d = value - c * x
            rhs = render_form((c, d))
        else:
            rhs = _num(value)
        equation = f"{text} = {rhs}"
        return Problem(self.name, seed, index, level, f"Solve for x: {equation}", str(x),
                       {"equation": equation})

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        left_text, right_text = problem.data["equation"].split("=")
        left, right = sa.parse(left_text, _X), sa.parse(right_text, _X)
        fl, fr = _form(left), _form(right)
        steps: list[Step] = []
        simple = all(k != "group" and n == 1 for c in (_Side(left).counter, _Side(right).counter)
                     for (k, _, _), n in c.items())
        if style == "balance" or fr[0] != 0:
            if not simple:
                steps.append(Step("simplify", (problem.data["equation"],), None,
                                  f"simplify each side: {render_form(fl)} = {render_form(fr)}"))
            if fr[0] != 0:
                c = fr[0]
                fl, fr = (fl[0] - c, fl[1]), (0, fr[1])
                verb = (f"subtract {render_form((c, 0))} from" if c > 0
                        else f"add {render_form((-c, 0))} to")
                steps.append(Step("sub_x", (_num(c),), None,
                                  f"{verb} both sides: {render_form(fl)} = {render_form(fr)}"))
            left = sa.parse(render_form(fl), _X)
        if style == "balance":
            if fl[1] != 0:
                b = fl[1]
                verb = f"subtract {_num(b)} from" if b > 0 else f"add {_num(-b)} to"
                fl, fr = (fl[0], 0), (0, fr[1] - b)
                steps.append(Step("sub", (_num(b),), _num(fr[1]),
                                  f"{verb} both sides: {render_form(fl)} = {render_form(fr)}"))
            if fl[0] != 1:
                a = fl[0]
                fr = (0, sa.divide(fr[1], a))
                steps.append(Step("div", (_num(a),), _num(fr[1]),
                                  f"divide both sides by {_num(a)}: x = {_num(fr[1])}"))
        else:
            rhs, node = fr[1], left
            while not isinstance(node, sa.Var):
                if isinstance(node, sa.Unary):  # "-x + 3" after collecting terms
                    k, node = -1, node.operand
                elif node.op == "*":
                    k, node = node.left.value, node.right
                else:
                    k = None
                if k is not None:
                    new, arith, op = sa.divide(rhs, k), f"{_operand(rhs)} / {_operand(k)}", "div"
                else:
                    c, undo = node.right.value, "-" if node.op == "+" else "+"
                    node = node.left
                    new = rhs - c if undo == "-" else rhs + c
                    arith, op = f"{_operand(rhs)} {undo} {_operand(c)}", "sub" if undo == "-" else "add"
                steps.append(Step(op, (_num(rhs),), _num(new),
                                  f"{_render_node(node)} = {arith} = {_num(new)}"))
                rhs = new
        return steps

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        value = _answer_value(got)
        return value is not None and value == Fraction(want)

    def read_steps(self, problem: Problem, text: str, style: str | None) -> StepReport:
        left_text, right_text = problem.data["equation"].split("=")
        state = (_Side(sa.parse(left_text, _X)), _Side(sa.parse(right_text, _X)))
        verdicts = []
        solved = False
        for line in _step_lines(text):
            # Each line is judged against the line before it, so one wrong line
            # is one error, not an error on every line after it.
            verdict, new_state = _check_line(line, state, _solution(state[0].form, state[1].form))
            verdicts.append(verdict)
            state = new_state or state
            solved = new_state is not None and _is_solved(new_state)
        final = _solution(state[0].form, state[1].form)
        got = _answer_value(extract_final_answer(text))
        # The answer follows only when the last line is the solved form: a
        # trace that stops at "9x = 81" has an equation whose solution is the
        # answer, but it never did the last step that finds it.
        follows = bool(verdicts) and solved and final[0] == "one" and got == final[1]
        return StepReport(tuple(verdicts), follows)


def _answer_value(answer: str | None) -> Fraction | None:
    """The number in ``5``, ``x = 5`` or ``x=-2.5.`` (else None).

    String methods, not a regex: ``(?P<num>.*?)\\s*\\.?\\s*$`` tries every split of
    a run of spaces at every position, cubic in the answer's length."""
    if answer is None:
        return None
    text = answer[:200].strip()
    if text.startswith("x"):
        rest = text[1:].lstrip()
        if rest.startswith("="):
            text = rest[1:].lstrip()
    if text.endswith("."):
        text = text[:-1]
    return sa.parse_number(text)


def _step_lines(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("####")]


def _is_number(node: sa.Node) -> bool:
    """A number literal: ``5``, ``-5``, ``2.5`` or a fraction ``1/3`` (how
    ``format_number`` writes non-decimal values); not arithmetic still to do."""
    return type(node) is sa.Num or (type(node) is sa.Binary and node.op == "/"
                                    and type(node.left) is sa.Num and type(node.right) is sa.Num)


def _is_solved(state: tuple[_Side, _Side]) -> bool:
    """The equation isolates x: ``x = <number>`` (or ``<number> = x``)."""
    left, right = state[0].node, state[1].node
    return ((type(left) is sa.Var and _is_number(right))
            or (type(right) is sa.Var and _is_number(left)))


def _check_line(line: str, prev: tuple[_Side, _Side], target: tuple):
    """(verdict, the equation the line leaves us with, or None). ``target`` is
    the previous equation's solution set."""
    if len(line) > _MAX_LINE:
        return StepVerdict(line[:80], UNPARSEABLE, False, "line too long"), None
    body = line.rsplit(":", 1)[-1].strip().rstrip(".")
    parts = body.split("=")
    if len(parts) < 2:
        return StepVerdict(line, UNPARSEABLE, False, "no equation"), None
    try:
        nodes = [sa.parse(p, _X) for p in parts]
        sides = [_Side(nodes[0]), _Side(nodes[1])]
        forms = [sides[0].form, sides[1].form] + [_form(n) for n in nodes[2:]]
        state = (sides[0], _Side(nodes[-1]) if len(nodes) > 2 else sides[1])
    except sa.SafeArithError as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e)), None
    if any(f != forms[1] for f in forms[2:]):
        return StepVerdict(line, INVALID, False, "a chained '=' claim is false"), state
    try:
        grounded = _grounded(prev, (sides[0], sides[1]))
    except sa.SafeArithError:
        grounded = False
    if _solution(forms[0], forms[1]) != target:
        return StepVerdict(line, INVALID, grounded, "not equivalent to the previous equation"), state
    reason = "" if grounded else "not one step from the previous line"
    return StepVerdict(line, VALID, grounded, reason), state


FAMILY = LinearEquationFamily()
