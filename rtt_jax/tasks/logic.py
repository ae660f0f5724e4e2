"""Boolean formula evaluation: every step is one checkable inference.

A problem gives truth values for a few variables and asks for the value of a
formula over ``and``, ``or``, ``not`` (precedence ``not`` > ``and`` > ``or``,
parentheses minimal). Level ``L`` (1 to 10; training 1 to 6) is the number of
operators.

Styles (``Given p = True, q = False, r = True, evaluate: p and not q or r``):

``innermost_first``: substitute the values, then rewrite the whole formula
one operation at a time, innermost brackets first::

    = True and not False or True
    = True and True or True
    = True or True
    = True

``short_circuit``: evaluate left to right as a program would, one line per
operation, ``subformula = inputs = value``; the right side of ``and``/``or`` is
skipped (``...``) when the left side already decides it::

    not q = not False = True
    p and not q = True and True = True
    p and not q or r = True or ... = True

``check_steps`` accepts both kinds of line. A ``= formula`` line must be the
previous formula with the variables substituted, or with one ready operation
replaced by its value (valid and grounded; an equal-valued jump is valid but
ungrounded). A ``subformula = ... = value`` line (middle parts are commentary)
must name a subformula of the problem and give its true value (valid); it is
grounded when the inputs it needs are facts or earlier lines (only the left
input when the left decides an ``and``/``or``).
"""
from __future__ import annotations

import random
import re

from rtt_jax.tasks.answers import extract_final_answer
from rtt_jax.tasks.base import (INVALID, UNPARSEABLE, VALID, Problem, Step, StepReport,
                                StepVerdict)
from rtt_jax.tasks.family import Family

VARIABLES = ("p", "q", "r", "s", "t", "u")
_PREC = {"or": 1, "and": 2, "not": 3, "var": 4, "const": 4}
_MAX_LINE = 400
_MAX_DEPTH = 64
_TOKEN_RE = re.compile(r"\s*(?:([()])|([A-Za-z]+)|(\S))")
STYLE_CUES = {
    "innermost_first": "Substitute the values, then rewrite one operation at a time.",
    "short_circuit": "Evaluate left to right, skipping what cannot change the result.",
}


class FormulaError(ValueError):
    pass


def _tokenize(text: str) -> list[str]:
    if len(text) > _MAX_LINE:
        raise FormulaError("formula too long")
    tokens = []
    # rstrip: findall would retry the leading \s* from every position of a
    # trailing run of spaces, matching nothing each time (quadratic).
    for paren, word, bad in _TOKEN_RE.findall(text.rstrip()):
        if bad:
            raise FormulaError(f"unexpected character {bad!r}")
        tokens.append(paren or word)
    return tokens


def parse(text: str) -> tuple:
    """A formula as nested tuples: ('const', bool), ('var', name), ('not', a),
    ('and', a, b), ('or', a, b). Raises FormulaError."""
    tokens, i, depth = _tokenize(text), 0, 0
    n_tokens = len(tokens)
    tokens.append(None)  # a sentinel: reading past the end sees None

    def peek():
        return tokens[i]

    def binary(op, sub):
        nonlocal i
        node = sub()
        while tokens[i] == op:
            i += 1
            node = (op, node, sub())
        return node

    def disjunction():
        nonlocal depth
        depth += 1
        if depth > _MAX_DEPTH:
            raise FormulaError("nesting too deep")
        node = binary("or", conjunction)
        depth -= 1
        return node

    def conjunction():
        return binary("and", negation)

    def negation():
        nonlocal i, depth
        if tokens[i] == "not":
            i += 1
            depth += 1
            if depth > _MAX_DEPTH:
                raise FormulaError("nesting too deep")
            node = ("not", negation())
            depth -= 1
            return node
        return atom()

    def atom():
        nonlocal i
        tok = peek()
        i += 1
        if tok == "(":
            node = disjunction()
            if peek() != ")":
                raise FormulaError("missing ')'")
            i += 1
            return node
        if tok in ("True", "False"):
            return ("const", tok == "True")
        if tok in VARIABLES:
            return ("var", tok)
        raise FormulaError(f"unexpected {tok!r}")

    if not n_tokens:
        raise FormulaError("empty formula")
    node = disjunction()
    if i != n_tokens:
        raise FormulaError(f"unexpected {tokens[i]!r}")
    return node


def _needs_parens(parent: tuple, child: tuple, is_right: bool) -> bool:
    if parent[0] == "not":
        return child[0] in ("and", "or")
    return _PREC[child[0]] < _PREC[parent[0]] or (is_right and _PREC[child[0]] == _PREC[parent[0]])


def render(node: tuple) -> str:
    kind = node[0]
    if kind == "const":
        return "True" if node[1] else "False"
    if kind == "var":
        return node[1]
    parts = []
    for i, child in enumerate(node[1:]):
        text = render(child)
        parts.append(f"({text})" if _needs_parens(node, child, i == 1) else text)
    return f"not {parts[0]}" if kind == "not" else f" {kind} ".join(parts)


def evaluate(node: tuple, facts: dict[str, bool]) -> bool:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "var":
        return facts[node[1]]
    if kind == "not":
        return not evaluate(node[1], facts)
    a, b = evaluate(node[1], facts), evaluate(node[2], facts)
    return (a and b) if kind == "and" else (a or b)


def _substitute(node: tuple, facts: dict[str, bool]) -> tuple:
    if node[0] == "var":
        return ("const", facts[node[1]])
    if node[0] == "const":
        return node
    return (node[0],) + tuple(_substitute(c, facts) for c in node[1:])


def _ready(node: tuple, path=(), depth=0, out=None) -> list:
    """(path, node, bracket depth) of operations whose inputs are constants."""
    out = [] if out is None else out
    kind = node[0]
    if kind == "not" or kind == "and" or kind == "or":
        kids = node[1:]
        for i, child in enumerate(kids):
            if child[0] != "const" and child[0] != "var":
                _ready(child, path + (i,), depth + _needs_parens(node, child, i == 1), out)
        if kids[0][0] == "const" and (kind == "not" or kids[1][0] == "const"):
            out.append((path, node, depth))
    return out


def _replace(node: tuple, path: tuple, new: tuple) -> tuple:
    if not path:
        return new
    kids = list(node[1:])
    kids[path[0]] = _replace(kids[path[0]], path[1:], new)
    return (node[0], *kids)


def _match_with_hole(old: tuple, path: tuple, new: tuple):
    """The constant that fills the hole at ``path`` if ``new`` is ``old`` with
    that node replaced, else None."""
    if not path:
        return new[1] if new[0] == "const" else None
    if new[0] != old[0] or len(new) != len(old):
        return None
    for i, (a, b) in enumerate(zip(old[1:], new[1:])):
        if i != path[0] and a != b:
            return None
    return _match_with_hole(old[1 + path[0]], path[1:], new[1 + path[0]])


def _subformulas(node: tuple, out: dict) -> dict:
    out[node] = True
    for child in node[1:] if node[0] in ("not", "and", "or") else ():
        _subformulas(child, out)
    return out


def _build(rng: random.Random, n_ops: int, names: list[str], allow_not: bool = True) -> tuple:
    if n_ops == 0:
        return ("var", rng.choice(names))
    if allow_not and rng.random() < 0.25:
        return ("not", _build(rng, n_ops - 1, names, allow_not=False))
    n_left = rng.randint(0, n_ops - 1)
    return (rng.choice(("and", "or")), _build(rng, n_left, names),
            _build(rng, n_ops - 1 - n_left, names))


def _variables(node: tuple, out: set) -> set:
    if node[0] == "var":
        out.add(node[1])
    for child in node[1:] if node[0] in ("not", "and", "or") else ():
        _variables(child, out)
    return out


def _word(value: bool) -> str:
    return "True" if value else "False"


class LogicFamily(Family):
    name = "logic"
    styles = ("innermost_first", "short_circuit")
    style_cues = STYLE_CUES
    levels = range(1, 11)
    train_levels = range(1, 7)

    def make_problem(self, rng: random.Random, seed: int, index: int, level: int) -> Problem:
        names = list(VARIABLES[:min(2 + level // 2, len(VARIABLES))])
        formula = _build(rng, level, names)
        used = sorted(_variables(formula, set()))
        facts = {n: rng.random() < 0.5 for n in used}
        given = ", ".join(f"{n} = {_word(v)}" for n, v in facts.items())
        text = render(formula)
        return Problem(self.name, seed, index, level, f"Given {given}, evaluate: {text}",
                       _word(evaluate(formula, facts)), {"formula": text, "facts": facts})

    def solve_steps(self, problem: Problem, style: str) -> list[Step]:
        facts = problem.data["facts"]
        tree = parse(problem.data["formula"])
        steps: list[Step] = []
        if style == "innermost_first":
            tree = _substitute(tree, facts)
            steps.append(Step("substitute", tuple(facts), None, f"= {render(tree)}"))
            while tree[0] != "const":
                path, node, _ = max(_ready(tree), key=lambda r: r[2])
                value = evaluate(node, {})
                tree = _replace(tree, path, ("const", value))
                steps.append(Step(node[0], tuple(c[1] for c in node[1:]), value, f"= {render(tree)}"))
        else:
            def run(node: tuple) -> bool:
                kind = node[0]
                if kind == "var":
                    return facts[node[1]]
                if kind == "not":
                    value = not run(node[1])
                    inputs = f"not {_word(not value)}"
                else:
                    a = run(node[1])
                    if a == (kind == "or"):  # the left side decides it
                        value, inputs = a, f"{_word(a)} {kind} ..."
                    else:
                        b = run(node[2])
                        value, inputs = b, f"{_word(a)} {kind} {_word(b)}"
                steps.append(Step(kind, (inputs,), value, f"{render(node)} = {inputs} = {_word(value)}"))
                return value
            run(tree)
        return steps

    def answers_equal(self, got: str | None, want: str | None) -> bool:
        return _answer_value(got) == (want == "True")

    def read_steps(self, problem: Problem, text: str, style: str | None) -> StepReport:
        facts = problem.data["facts"]
        root = parse(problem.data["formula"])
        subs = _subformulas(root, {})
        known: dict[tuple, bool] = {}
        tree, verdicts = root, []
        for line in [ln.strip() for ln in text.splitlines()]:
            if not line or line.startswith("####"):
                continue
            if len(line) > _MAX_LINE:
                verdicts.append(StepVerdict(line[:80], UNPARSEABLE, False, "line too long"))
            elif line.startswith("="):
                verdict, tree = _check_rewrite(line, tree, facts)
                verdicts.append(verdict)
            else:
                verdicts.append(_check_claim(line, subs, known, facts))
        final = tree[1] if tree[0] == "const" else known.get(root)
        got = _answer_value(extract_final_answer(text))
        return StepReport(tuple(verdicts), final is not None and got == final)


def _check_rewrite(line: str, tree: tuple, facts: dict):
    try:
        new = parse(line.split("=")[-1].strip().rstrip("."))
        new_value = evaluate(new, facts)
    except (FormulaError, KeyError) as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e)), tree
    for path, node, _ in _ready(tree):
        claimed = _match_with_hole(tree, path, new)
        if claimed is not None:
            ok = claimed == evaluate(node, {})
            return StepVerdict(line, VALID if ok else INVALID, True,
                               "" if ok else f"{render(node)} is not {_word(claimed)}"), new
    if new != tree and new == _substitute(tree, facts):
        return StepVerdict(line, VALID, True), new
    if new_value == evaluate(tree, facts):
        return StepVerdict(line, VALID, False, "more than one step at once"), new
    return StepVerdict(line, INVALID, False, "changes the value of the formula"), new


def split_claim(line: str) -> tuple[str, bool] | None:
    """``(subformula, value)`` of ``A and B = True`` (or ``A = x = False``:
    the value is what starts the text after the last ``=``), else None.

    String methods rather than one regex: the lazy left side followed by
    ``\\s*=`` and ``(?:[^=]*=)*`` backtracks quadratically on long lines.
    """
    parts = line.split("=")
    if len(parts) < 2 or not parts[0]:
        return None
    lhs = parts[0].rstrip() or parts[0][:1]
    last = parts[-1].lstrip()
    for word, value in (("True", True), ("False", False)):
        rest = last[len(word):]
        if last.startswith(word) and not (rest[:1].isalnum() or rest[:1] == "_"):
            return lhs, value
    return None


def _check_claim(line: str, subs: dict, known: dict, facts: dict) -> StepVerdict:
    claim = split_claim(line)
    if claim is None:
        return StepVerdict(line, UNPARSEABLE, False, "expected 'subformula = value'")
    lhs, claimed = claim
    try:
        node = parse(lhs)
    except FormulaError as e:
        return StepVerdict(line, UNPARSEABLE, False, str(e))
    if node not in subs:
        return StepVerdict(line, INVALID, False, "not a part of the formula")
    ok = claimed == evaluate(node, facts)

    def have(n: tuple):
        return facts[n[1]] if n[0] == "var" else known.get(n)

    kind = node[0]
    if kind == "var":
        grounded = True
    elif kind == "not":
        grounded = have(node[1]) is not None
    else:
        left = have(node[1])
        grounded = left is not None and (left == (kind == "or") or have(node[2]) is not None)
    known[node] = claimed
    return StepVerdict(line, VALID if ok else INVALID, grounded,
                       "" if ok else "wrong value" if grounded else "wrong value; inputs not established")


def _answer_value(answer: str | None) -> bool | None:
    word = (answer or "").strip().rstrip(".").lower()
    return {"true": True, "false": False, "yes": True, "no": False}.get(word)


FAMILY = LogicFamily()
