"""Surface forms: one solution written in several notations.

A surface form rewrites a modular-sums problem's question and its trace
lines without changing a single step: spaces around the operators, a
parenthesised expression, a trailing period. Every form's lines are ones the
family's checkers read as they read the plain ones (``rtt_jax.tasks.modular``
accepts a space around ``+``, ``-`` and ``=`` and a final period), so a
trace in any form verifies. The diverse-traces experiment contrasts K
strategies per problem with one strategy in K surface forms: the second
varies only what the strategy looks like.

``TRAINING_FORMS`` are the forms data may be written in; ``HELD_OUT_FORM``
recombines their features in a way no training form does (spaces *and*
parentheses in the question), for an evaluation set of an unseen surface
format.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

from rtt_jax.tasks.base import Problem

_QUESTION_RE = re.compile(r"^(?P<expr>[0-9+\-]+) mod (?P<m>[0-9]+)$", re.ASCII)
_LINE_RE = re.compile(r"^(-?[0-9]+)([+-])([0-9]+)=(-?[0-9]+)$", re.ASCII)


def _spaced_expr(expr: str) -> str:
    return re.sub(r"(?<=[0-9])([+-])", r" \1 ", expr)


def _spaced_line(line: str) -> str:
    m = _LINE_RE.match(line)
    return f"{m[1]} {m[2]} {m[3]} = {m[4]}" if m else line


def _period(line: str) -> str:
    return line + "." if _LINE_RE.match(line) else line


@dataclasses.dataclass(frozen=True)
class SurfaceForm:
    name: str
    question: Callable[[str, str], str]  # (expression, modulus) -> question
    line: Callable[[str], str]  # a step line -> the same step in this form


FORMS = {
    "plain": SurfaceForm("plain", lambda e, m: f"{e} mod {m}", lambda ln: ln),
    "spaced": SurfaceForm("spaced", lambda e, m: f"{_spaced_expr(e)} mod {m}", _spaced_line),
    "parenthesised": SurfaceForm("parenthesised", lambda e, m: f"({e}) mod {m}", _period),
    "bracket_mod": SurfaceForm("bracket_mod", lambda e, m: f"{_spaced_expr(e)} (mod {m})",
                               lambda ln: _spaced_line(ln) + ("." if _LINE_RE.match(ln) else "")),
    # Unseen in training: spaces and parentheses together.
    "spaced_parenthesised": SurfaceForm(
        "spaced_parenthesised", lambda e, m: f"({_spaced_expr(e)}) mod {m}", _spaced_line),
}
TRAINING_FORMS = ("plain", "spaced", "parenthesised", "bracket_mod")
HELD_OUT_FORM = "spaced_parenthesised"


def form(name: str) -> SurfaceForm:
    if name not in FORMS:
        raise ValueError(f"unknown surface form {name!r}; known: {', '.join(FORMS)}")
    return FORMS[name]


def question(problem: Problem, name: str) -> str:
    """``problem``'s question in form ``name``."""
    m = _QUESTION_RE.match(problem.question)
    if not m:
        raise ValueError(f"surface forms: cannot read the question {problem.question!r} "
                         "(expected 'a+b-c mod m')")
    return form(name).question(m["expr"], m["m"])


def rewrite_problem(problem: Problem, name: str) -> Problem:
    """``problem`` with its question in form ``name`` (same data, same answer)."""
    return dataclasses.replace(problem, question=question(problem, name))


def rewrite_lines(lines: list[str], name: str) -> list[str]:
    """Step lines in form ``name`` (``####`` lines and other text unchanged)."""
    f = form(name)
    return [f.line(ln) for ln in lines]
