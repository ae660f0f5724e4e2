"""Scoring a trace record with its family's checkers, and finding that family.

``family_for(name)`` resolves the families of ``rtt_jax.tasks`` plus the
external sources that are not in that registry: ``gsm8k`` and reasoning-gym
datasets (``rg/<dataset>``, see ``rtt_jax.tasks.reasoning_gym_source``).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from rtt_jax import tasks
from rtt_jax.traces.record import TraceRecord, Verdicts

FamilyLookup = Callable[[str], Any]


@functools.lru_cache(maxsize=None)
def family_for(name: str) -> Any:
    """The family object (``TaskFamily``-like) named ``name``."""
    if name == "gsm8k":
        from rtt_jax.tasks import gsm8k
        return gsm8k.FAMILY
    if name.startswith("rg/"):
        from rtt_jax.tasks import reasoning_gym_source
        return reasoning_gym_source.family(name[3:])
    return tasks.get(name)


def style_arg(family: Any, style: str) -> str | None:
    """The style to pass to a checker: the record's, if the family knows it.

    Imported and model traces carry labels such as ``imported``; for those
    the checker tries every style it has (``style=None``).
    """
    return style if style in getattr(family, "styles", ()) else None


def check_record(record: TraceRecord, family: Any | None = None) -> Verdicts:
    """Verdicts of the family's answer and step checkers on ``record.text``."""
    family = family if family is not None else family_for(record.family)
    style = style_arg(family, record.style)
    correct = family.check_answer(record.problem, record.text, style)
    report = family.check_steps(record.problem, record.text, style)
    return Verdicts.from_checks(correct, report)


def with_verdicts(record: TraceRecord, family: Any | None = None) -> TraceRecord:
    return record.replace(verdicts=check_record(record, family))
