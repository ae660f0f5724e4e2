"""Traces vs answer-only on leg counting, under the prompt-grounded recipe.

Prediction (written 2026-12-06 08:32 UTC, before any run of this
experiment; the recipe is word_problems' unchanged, 3 seeds per arm): a
line copies a count and the legs of its kind (named in a second sentence,
capitalised), multiplies one or two digits by 2-8 and the last line adds
two or three products. Traces ~65% at the trained levels (L1 ~98, L2 ~65,
L3 ~30: the sum of three two-digit products is where digits slip);
answer-only ~30% (L1 ~75: a product is a times-table lookup; L2 ~10, L3
~3: a sum of products in one go). So about +35 points, each seed's
interval above +20. Level 4 (four kinds, never trained): traces under 10%
(no four-line trace seen), answer-only under 5%.

Result (3 seeds, docs/results.md, "The same recipe on two other
families"): traces 76.7 +- 2.3 (L1 100, L2 80.7, L3 49.3), answer-only
74.7 +- 1.2 (L1 100, L2 82.0, L3 42.0), +2.0 [-0.9, +4.9]: the prediction
failed. Traces copy without fault (every copied item right) and fail on
the final sum, which is the whole of the answer-only arm's task too; the
copy an answer needs here is short enough to do without writing it down.
Level 4: 0.7% and 0%. (That result was under the recipe's earlier model,
2 layers at d=192.)

Prediction for the shipped model, 3 layers at d=160 (written 2026-12-06
12:16 UTC, before any run of this experiment with it): no change in kind,
+0 to +6 points, each arm within 5 points of its d=192 figure.

Result (3 seeds): traces 80.4 +- 5.7 (L1 100, L2 90.7, L3 50.7),
answer-only 83.3 +- 2.9 (L1 100, L2 90.7, L3 59.3), -2.9 [-10.7, +4.9]:
no effect again, but the prediction failed on the answer-only arm, which
gained 8.6 points from depth (traces 3.7). All 88 wrong traces at levels
2-3 first go wrong on the final sum. Level 4: 0% for both.
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
