"""Traces vs answer-only on arithmetic expressions, under the prompt-grounded recipe.

NOT RUN YET (issue 26, item 3): shipped so the recipe's second and third
families are one command away; write the prediction here before the first
run.
"""
import dataclasses

from rtt_jax.configs.experiments import _common
from rtt_jax.configs.experiments.word_problems import EXPERIMENT as _WORD_PROBLEMS

TASK = dict(family="expressions", style="precedence", other_style="innermost_first",
            train_levels="1-3", eval_levels=[1, 2, 3, 4], trained_levels=[1, 2, 3])

EXPERIMENT = dataclasses.replace(
    _WORD_PROBLEMS, name="expressions_traces_vs_answer",
    claim="On arithmetic expressions, whose steps copy their operands from the prompt, "
          "traces beat answers alone under the prompt-grounded recipe.")


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=_common.grounded_variants(TASK))
