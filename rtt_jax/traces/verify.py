"""Scoring a trace record with its family's checkers (the family comes from
``rtt_jax.tasks.get``, which also knows ``gsm8k`` and ``rg/<dataset>``)."""
from __future__ import annotations

from typing import Any

from rtt_jax import tasks
from rtt_jax.traces.record import TraceRecord, Verdicts


def style_arg(family: Any, style: str) -> str | None:
    """The style to pass to a checker: the record's, if the family knows it.

    Imported and model traces carry labels such as ``imported``; for those
    the checker tries every style it has (``style=None``).
    """
    return style if style in getattr(family, "styles", ()) else None


def check_record(record: TraceRecord, family: Any | None = None) -> Verdicts:
    """Verdicts of the family's answer and step checkers on ``record.text``."""
    family = family if family is not None else tasks.get(record.family)
    style = style_arg(family, record.style)
    correct = family.check_answer(record.problem, record.text, style)
    report = family.check_steps(record.problem, record.text, style)
    return Verdicts.from_checks(correct, report)

