"""Traces vs answer-only on leg counting, under the prompt-grounded recipe.

NOT RUN YET (issue 26, item 3): shipped so the recipe's second and third
families are one command away; write the prediction here before the first
run.
"""
import dataclasses

from rtt_jax.configs.experiments import _common
from rtt_jax.configs.experiments.word_problems import EXPERIMENT as _WORD_PROBLEMS

TASK = dict(family="counting", style="per_kind", other_style="running",
            train_levels="1-3", eval_levels=[1, 2, 3, 4], trained_levels=[1, 2, 3])

EXPERIMENT = dataclasses.replace(
    _WORD_PROBLEMS, name="counting_traces_vs_answer",
    claim="On leg counting, whose steps copy counts and legs per kind from the prompt, "
          "traces beat answers alone under the prompt-grounded recipe.")


def _cpu():
    return _common.grounded_cpu_config(TASK)


def _tpu():
    task = dict(TASK, train_levels="1-6", eval_levels=list(range(1, 9)),
                trained_levels=list(range(1, 7)))
    return _common.one_task_source(_common.tpu_config(steps=20_000), task)


def _smoke():
    return _common.grounded_smoke_config(_cpu(), levels=[1, 2])


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu, smoke=_smoke))
