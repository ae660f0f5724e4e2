"""Traces vs answer-only on boolean formulas: a task where answers alone get most of the way.

The same two arms as ``traces_vs_answer`` on the ``logic`` family (evaluate a
formula over and/or/not by rewriting it one operation at a time), trained on
levels 1-3 (1-3 operators) and evaluated at levels 1-4. Answers are
True/False (chance 50%) and a formula of three operators is a short, nearly
local computation, so a model trained on the answers alone learns much of it:
with the modular recipe (3 seeds, docs/results.md) answer-only
reaches 80.2% at the trained levels against the traces' 88.0%, a difference
of +7.8 points [-2.2, +17.7] (+85.8 on the modular task). Kept as a shipped
experiment for that contrast: traces matter most where the answer is a long
composition with no shortcut (``traces_vs_answer``), not wherever there are
traces.
"""
import dataclasses

from rtt_jax.configs.experiments import _common
from rtt_jax.configs.experiments.traces_vs_answer import EXPERIMENT as _TRACES_VS_ANSWER

# The same arms, baseline, budget and seeds as ``traces_vs_answer``.
EXPERIMENT = dataclasses.replace(
    _TRACES_VS_ANSWER, name="logic_traces_vs_answer",
    claim="On short boolean formulas, answers alone get most of the way: traces add little.")

# Logic traces are 133-265 tokens: rows of 512 (padding 11%; rows of 256 waste
# 27% of the trace arm's positions, docs/recipes.md "Packing"), the same
# token positions per step and steps as the modular recipe's.
CPU_BUDGET = dict(_common.CPU_BUDGET, seq_len=512, batch=2)


def _cpu():
    c = _common.one_task_source(_common.cpu_config(**CPU_BUDGET), _common.LOGIC_TASK)
    return _common.task_eval(c, _common.LOGIC_TASK, max_new_tokens=160)


def _tpu():
    task = dict(_common.LOGIC_TASK, train_levels="1-6", eval_levels=list(range(1, 10)),
                trained_levels=list(range(1, 7)))
    return _common.one_task_source(_common.tpu_config(steps=20_000), task)


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
