"""Traces vs answer-only on arithmetic expressions, under the prompt-grounded recipe.

Prediction (written 2026-12-06 08:32 UTC, before any run of this
experiment; the recipe is word_problems' unchanged, 3 seeds per arm): a
line copies two operands (or a previous result) in order of precedence
and applies one operation to small numbers. Traces ~80% at the trained
levels (L1 ~98, L2 ~85, L3 ~60: brackets reorder the lines); answer-only
~40% (L1 ~90: one operation on one-digit numbers is a lookup; L2 ~25,
L3 ~8). So about +40 points, each seed's interval above +25. Level 4
(one more operation): traces ~25%, answer-only under 10%.

Result (3 seeds, docs/results.md, "The same recipe on two other
families"): traces 94.9 +- 1.7 (L1 100, L2 96.7, L3 88.0), answer-only
47.1 +- 4.2 (L1 100, L2 28.0, L3 13.3), +47.8 [+40.9, +54.7]: the
prediction held. Level 4: 1.3% for both; the traces model writes exactly
three lines, the longest it trained on (issue 27's length wall). (That
result was under the recipe's earlier model, 2 layers at d=192.)

Prediction for the shipped model, 3 layers at d=160 (written 2026-12-06
12:16 UTC, before any run of this experiment with it): traces 93-97%,
answer-only 45-52%, a gap of +42 to +50 points.

Result (3 seeds): traces 95.6 +- 2.5 (L1 100, L2 96.7, L3 90.0),
answer-only 45.3 +- 3.1 (L1 99.3, L2 28.7, L3 8.0), +50.2 [+48.3, +52.1]:
both arms inside their ranges, the gap 0.2 points above its range. Level
4: 3.3% and 6.7%.
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
