"""(h) Self-improvement rounds (STaR, Zelikman et al. 2022): can a model
improve on its own verified traces?

Every round trains from scratch, at the same token budget, on two sources
with fixed weights: ``easy``, program traces of modular sums at levels 1-3
(70%), and ``star`` (30%), a trace dataset. For ``round_0`` that dataset is
only the seed set: 256 program-written worked examples per level at levels
4-8 (step ``seed_traces``), as STaR starts from a few worked rationales.
(16 or 64 per level taught nothing at levels 4-8: the model memorised them,
and answered level 4 at chance.) At this budget round 0 has not mastered
every easy level either, so the first rounds work on its frontier there.
Each round R = 1, 2, 3 first runs step ``star_R``
(``rtt_jax.experiments.star_round``): the previous round's model samples k
traces for fresh problems one level beyond what it has mastered (every level
up to it at >= 90%), keeps the verified ones, rationalises its failures with
the answer as a hint (kept traces train without the hint, marked
``star_rR_rationalized``), and adds them to the dataset. So the rounds
differ only in the traces the model wrote itself.

The report's accuracy-against-level plot is accuracy per level per round;
``data_sources.png`` is each source's share of every round's training data;
the ``star_R`` tables give mastery, the level sampled and what was kept.

    python -m rtt_jax.experiments.run --experiment=star --variant=cpu --out=DIR --parallel=2
"""
import os

from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment, Step

TRACES_CONFIG = os.path.normpath(os.path.join(os.path.dirname(_common.__file__), "..", "traces",
                                              "default.py"))

ROUNDS = 3
TASK = dict(_common.TASK, train_levels="1-3", eval_levels=list(range(1, 9)),
            trained_levels=[1, 2, 3])
SEED_LEVELS, SEED_PER_LEVEL = "4-8", 256
# easy: program traces at levels 1-3; star: the seed set and every kept trace.
WEIGHTS = dict(easy=0.7, star=0.3)
WEIGHTS_FLAG = ",".join(f"{k}:{v}" for k, v in WEIGHTS.items())
STAR = dict(family=TASK["family"], style=TASK["style"], mastery="0.9", max_level="8",
            problems={"cpu": "256", "tpu": "2048", "smoke": "8"},
            k={"cpu": "8", "tpu": "8", "smoke": "2"}, temperature="0.8", max_new_tokens="112")


def _round_arm(r: int) -> Arm:
    data = "{step:seed_traces}" if r == 0 else f"{{step:star_{r}}}/traces"
    return Arm(f"round_{r}", {}, "easy levels + the seed set" + (
        f" + the traces kept in rounds 1-{r}" if r else ""),
        needs=("seed_traces",) if r == 0 else (f"star_{r}",),
        run_sets={"data.sources.star.path": data})


def _step(r: int) -> Step:
    args = dict(round=str(r), config=f"{{experiment}}:{{variant}}/round_{r - 1}",
                workdir=f"{{runs}}/round_{r - 1}/seed_{{seed}}",
                previous="{step:seed_traces}" if r == 1 else f"{{step:star_{r - 1}}}/traces",
                weights=WEIGHTS_FLAG, seed="{seed}", **STAR)
    return Step(f"star_{r}", "rtt_jax.experiments.star_round", args,
                needs=(f"round_{r - 1}",),
                description=f"round {r}: sample beyond mastery, verify, rationalise")


EXPERIMENT = Experiment(
    name="star",
    claim="A model improves on its own verified traces, round after round.",
    arms=tuple(_round_arm(r) for r in range(ROUNDS + 1)),
    steps=(Step("seed_traces", "rtt_jax.traces.build",
                {"config": TRACES_CONFIG, "config.families": TASK["family"],
                 "config.levels": SEED_LEVELS, "config.problems_per_level": str(SEED_PER_LEVEL),
                 "config.styles.modular": TASK["style"], "config.write_tfds": "false",
                 "config.seed": "{seed}"},
                done="dataset_card.json",
                description="the seed set: a few program traces at levels 4-8"),
           *(_step(r) for r in range(1, ROUNDS + 1))),
    baseline="round_0", budget="tokens",
    seeds={"cpu": (0, 1), "tpu": (0, 1, 2), "smoke": (0,)})


def _sources(c):
    c.data.sources = dict(
        easy=_common.source(family=TASK["family"], styles=TASK["style"]),
        star=_common.source(kind="traces", path="(set by run_sets)", family=""))
    c.data.stages = _common.stages_one(dict(WEIGHTS), dict(easy=TASK["train_levels"]))
    return _common.task_eval(c, TASK)


def _cpu():
    return _sources(_common.cpu_config(steps=800, seq_len=256, batch=4))


def _tpu():
    return _sources(_common.tpu_config(steps=20_000))


def _smoke():
    """A check that the pipeline runs end to end in about a minute (tests)."""
    return _common.smoke_config(_cpu(), levels=[1, 2, 4])


def get_config(arg="cpu/round_0"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu, smoke=_smoke))
