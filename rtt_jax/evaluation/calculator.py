"""The calculator that calculator-assisted decoding is given
(``calculator_decoding.generate_with_calculator(sampler, ..., calculator=safe_calculator)``):
an expression's exact value, written canonically.

Model text reaches only ``rtt_jax.tasks.safe_arith``'s parser over numbers and
operators; it is never executed.
"""
from __future__ import annotations

from rtt_jax.tasks.safe_arith import evaluate, format_number


def safe_calculator(expr: str) -> str | None:
    """``"3*4"`` -> ``"12"``; None when ``expr`` is not arithmetic safe_arith evaluates."""
    value = evaluate(expr)
    return None if value is None else format_number(value)
