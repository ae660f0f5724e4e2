"""Problem families: seeded generators, trace-writing solvers and checkers.

``get(name)`` is the one family lookup: it returns the family named ``name``
(an object that satisfies ``rtt_jax.tasks.base.TaskFamily``). Names are the
generated families of ``names()``, ``gsm8k`` (GSM8K files,
``rtt_jax.tasks.gsm8k``) and ``rg/<dataset>`` (reasoning-gym,
``rtt_jax.tasks.reasoning_gym_source``). Only ``names()``'s families generate
problems from a seed alone, so configs that generate data accept those.
Families are imported lazily so that importing the package stays cheap inside
data-loader workers.

Answers are read from text by ``rtt_jax.tasks.answers`` (the ``####`` line,
numbers, and the one rule for text too long to read).
"""
from __future__ import annotations

import importlib
from typing import Callable

from rtt_jax.tasks.base import (Problem, Step, StepReport, StepVerdict,
                                TaskFamily, Trace)

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
# How components that check text take their family lookup (tests pass fakes).
FamilyLookup = Callable[[str], TaskFamily]


def names() -> tuple[str, ...]:
    """The generated families (``get`` also knows ``gsm8k`` and ``rg/...``)."""
    return tuple(_REGISTRY)


def get(name: str) -> TaskFamily:
    """The family named ``name``; KeyError naming the known ones if none is."""
    if name not in _CACHE:
        if name in _REGISTRY:
            _CACHE[name] = importlib.import_module(_REGISTRY[name]).FAMILY
        elif name == "gsm8k":
            from rtt_jax.tasks import gsm8k
            _CACHE[name] = gsm8k.FAMILY
        elif name.startswith("rg/"):
            from rtt_jax.tasks import reasoning_gym_source
            _CACHE[name] = reasoning_gym_source.family(name[3:])
        else:
            raise KeyError(f"unknown task family {name!r}; known: {', '.join(_REGISTRY)}, "
                           "gsm8k, rg/<reasoning-gym dataset>")
    return _CACHE[name]


__all__ = ["FamilyLookup", "Problem", "Step", "StepReport", "StepVerdict",
           "TaskFamily", "Trace", "get", "names"]
