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


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=_common.grounded_variants(TASK))
