"""Diverse traces: K ways to solve each problem against one, at equal tokens.

The old ``trace_styles`` ablation drew a fresh problem every step, half in a
second style: with nothing to memorise, diversity could only split the
model's capacity (-25.9 points at 1,200 steps, -1.1 at 2,400). Ho et al.
2023 (diverse reasoning) and Yuan et al. 2023 (RFT: distinct reasoning
paths) see the gain when each problem comes with several different
solutions, against the same problems with one. So here every arm has the
same 32 problems per level at levels 1-8 (256 unique problems,
``_common.TASK``: modular sums), each K = 4 times, trained to a plateau
(2,400 steps, twice the recipe; ~30 passes over the pool):

* ``canonical`` (baseline): the ``running`` trace, the same text 4 times;
* ``strategies``: 4 valid strategies, each a different trace (``running``,
  ``rewrite``, ``exact``, ``pairwise``; all verify);
* ``surface``: the ``running`` trace in 4 surface forms, question and lines
  (plain, spaced, parenthesised, ``(mod 10)``; ``traces.surface_forms``).

The prompt is the question alone in every arm (no style cue), and the
checkers read whichever style a completion is in (``eval.styles.modular =
""``). Metrics: held-out problems at the trained levels and harder ones;
held-out problems in a surface form no pool has (spaces *and* parentheses
in the question, ``surface``); the train-test gap (accuracy on 32 training
problems per level minus held-out).

Prediction (written before any run): with 256 problems seen ~30 times, the
canonical arm memorises: its train-test gap is the largest (>= 20 points).
``strategies`` generalises better on held-out trained levels (+5 points or
more over ``canonical``) with a smaller gap, as in RFT; ``surface`` matches
``canonical`` on held-out problems in the plain form (within the MDE) and
beats it on the unseen surface form. Harder levels stay near chance in all
arms (no arm has seen a longer chain).

    python -m rtt_jax.experiments.run --experiment=diverse_traces --variant=cpu --parallel=2 \\
        --out=workdirs/diverse_traces
"""
from rtt_jax.configs.experiments import _common, _pools
from rtt_jax.evaluation import run_metrics as rm
from rtt_jax.experiments import Experiment
from rtt_jax.traces.surface_forms import HELD_OUT_FORM

K, PER_LEVEL, SEEN = 4, 32, 32
STEPS = 2400
RECIPES = {"strategies": f"strategies:k={K}", "surface": f"surface:k={K}",
           "canonical": f"canonical:k={K}"}
DESCRIPTIONS = {"strategies": f"{K} different valid strategies per problem",
                "surface": f"the running trace in {K} surface forms",
                "canonical": f"the running trace {K} times"}
METRICS = (
    rm.difference("train_test_gap", "summary/seen/answer_accuracy",
                  "summary/trained/answer_accuracy",
                  "accuracy on training problems minus held-out, trained levels"),
    rm.report_value("summary/surface/answer_accuracy",
                    f"held-out problems in an unseen surface form ({HELD_OUT_FORM})",
                    name="unseen_surface"),
)

EXPERIMENT = Experiment(
    name="diverse_traces",
    claim="Several different solutions per problem generalise better than one repeated.",
    arms=tuple(_pools.pool_arm(a, DESCRIPTIONS[a]) for a in RECIPES),
    steps=(_pools.pool_step(RECIPES, per_level={"cpu": PER_LEVEL, "tpu": 500, "smoke": 4},
                            prompt="question"),),
    baseline="canonical", budget="tokens", metrics=METRICS,
    contrasts=(("strategies", "surface"),),
    seeds={"cpu": (0, 1, 2, 3, 4), "tpu": (0, 1, 2), "smoke": (0,)})


def _eval(c, seen: int):
    family = _common.TASK["family"]
    c.eval.styles = {family: ""}  # the question alone; any style read
    c.eval.update(seen_n_per_level=seen, surface_form=HELD_OUT_FORM)
    return c


# The exact and rewrite strategies are the longest: 95 characters at level 8, 185 at 12.
MAX_NEW_TOKENS = 192


def _cpu():
    c = _common.cpu_config(**(_common.CPU_BUDGET | dict(steps=STEPS)))
    return _eval(_pools.pool_source(c, max_new_tokens=MAX_NEW_TOKENS), seen=SEEN)


def _tpu():
    return _eval(_pools.pool_source(_common.tpu_config(steps=20_000), _common.TPU_TASK,
                                    max_new_tokens=320), seen=100)


def _smoke():
    c = _eval(_common.smoke_config(_cpu(), levels=[1, 2]), seen=4)
    # An untrained model writes to the limit: keep the smoke's decode short.
    c.eval.update(max_new_tokens=48, max_len=c.data.seq_len + 48)
    return c


def get_config(arg="cpu/canonical"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu, smoke=_smoke))
