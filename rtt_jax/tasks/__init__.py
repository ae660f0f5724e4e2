"""Problem families: seeded generators, trace-writing solvers and checkers.

``names()`` lists every family and ``get(name)`` returns it (an object that
satisfies ``rtt_jax.tasks.base.TaskFamily``). Families are imported lazily so
that importing the package stays cheap inside data-loader workers.
"""
from __future__ import annotations

import importlib

from rtt_jax.tasks.base import (ANSWER_MARKER, Problem, Step, StepReport,
                                StepVerdict, TaskFamily, Trace,
                                extract_final_answer)

# family name -> module that defines a module-level ``FAMILY``.
_REGISTRY = {
    "addition": "rtt_jax.tasks.addition",
    "subtraction": "rtt_jax.tasks.subtraction",
    "multiplication": "rtt_jax.tasks.multiplication",
    "division": "rtt_jax.tasks.division",
    "gcd_lcm": "rtt_jax.tasks.gcd_lcm",
    "base_conversion": "rtt_jax.tasks.base_conversion",
    "expressions": "rtt_jax.tasks.expressions",
    "linear_equation": "rtt_jax.tasks.linear_equation",
    "word_problem": "rtt_jax.tasks.word_problem",
    "logic": "rtt_jax.tasks.logic",
    "counting": "rtt_jax.tasks.counting",
    "modular": "rtt_jax.tasks.modular",
}
_CACHE: dict[str, TaskFamily] = {}


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> TaskFamily:
    if name not in _REGISTRY:
        raise KeyError(f"unknown task family {name!r}; known: {', '.join(_REGISTRY)}")
    if name not in _CACHE:
        _CACHE[name] = importlib.import_module(_REGISTRY[name]).FAMILY
    return _CACHE[name]


__all__ = ["ANSWER_MARKER", "Problem", "Step", "StepReport", "StepVerdict",
           "TaskFamily", "Trace", "extract_final_answer", "get", "names"]
