"""Length generalisation: trained on chains of 2-9 digits, can a trace model
sum chains of 17 and 33?

``traces_vs_answer``'s trace model scores ~97% at its trained levels (1-8)
and chance (10%) from level 9 on. ``rtt_jax.evaluation.length_diagnosis`` on
its checkpoint (docs/results.md, "Length generalisation") says why: with the
right lines fed in (teacher forcing), the carry and the arithmetic of a line
stay right at levels 9-12 (68-98%), but the *operand* a line copies from the
question is wrong from the first line on (line 1 at level 12: 21%, against
99% at level 8); blocking the end until the right number of lines is written
does not help (7-11%). The model finds the k-th term by where it sits in the
question, and a longer question moves every term.

Arms (format x position ids; the same budget of token positions):

* ``running_rope``: today's ``running`` traces and RoPE (the demo's model);
* ``running_random``: the same traces, RoPE ids drawn at random in training
  (``model.positions=random_rope``, Ruoss et al. 2023);
* ``hinted_rope``: ``hinted`` traces (index hints, Zhou et al. 2024): every
  term of the question carries a letter and each line names the term it adds
  by its letter, so the next operand is found by matching a letter (content),
  not by counting;
* ``traces`` (the recommended arm): ``hinted`` traces with random RoPE ids,
  so that both the letters' lookup and the distances a long chain creates
  were seen in training.

Trained on levels 1-8; evaluated at 1-8, 12, 16, 24 and 32 (``modular``'s
levels 17-32 were added for this).

Prediction (written before the experiment ran; the pilots of
docs/recipes.md, "length_generalization", were run first): ``running_rope``
stays at chance beyond level 8, as in the demo; ``running_random`` gains
little, since random ids do not tell the model which term is the k-th;
``hinted_rope`` learns the trained levels and carries further, but
degrades with length as attention meets distances it never saw; ``traces``
holds >= 90% at level 16 and >= 50% at level 32.

    python -m rtt_jax.experiments.run --experiment=length_generalization --variant=cpu \
        --out=DIR --parallel=2
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment, Step
from rtt_jax.tasks.modular import FAMILY as MODULAR

EVAL_LEVELS = list(range(1, 9)) + [12, 16, 24, 32]
# Long enough for a level-32 hinted trace (about 270 tokens) and its answer line.
MAX_NEW_TOKENS = 320
TASK = dict(_common.TASK, eval_levels=EVAL_LEVELS)


def max_position(c) -> int:
    """random_rope draws training ids from [0, this): the power of two at or
    above every position a level-32 decode reaches (eval.max_len = seq_len +
    MAX_NEW_TOKENS; 1,024 for cpu)."""
    return 1 << (c.eval.max_len - 1).bit_length()


RANDOM = {"model.positions": "random_rope", "model.max_position": max_position}
SKIP = {"model.position_skip": True, "model.max_position": max_position}
NOPE = {"model.positions": "none"}


def coupled(style: str) -> dict:
    """Position coupling for ``style``: the family says how its lines line up."""
    anchor, stride = MODULAR.position_coupling(style)
    return {"model.positions": "coupled", "model.coupling_anchor": anchor,
            "model.coupling_stride": stride}


# Coupled ids never pass a question's length (about 100 at level 32), so
# their skips go up to twice a row: every distance a level-32 question holds
# is then drawn often.
COUPLED_SKIP = {"model.position_skip": True, "model.max_position": lambda c: 2 * c.data.seq_len}
HINTED = {"data.sources.task.styles": "hinted", "eval.styles.modular": "hinted"}

# Self-improvement, the second route (STaR machinery, rtt_jax/experiments/
# star_round.py): round R samples at level 8 + R from round R-1's model (round
# 0: the arm itself), keeps the traces that verify (and rationalised ones),
# and retrains from scratch on the program traces of levels 1-8 (70%) and
# every trace kept so far (30%), at the same token budget.
STAR_ROUNDS = 2
STAR_WEIGHTS = dict(task=0.7, star=0.3)
STAR = dict(family="modular", mastery="0.9", temperature="0.8", max_new_tokens="160",
            problems={"cpu": "256", "pilot": "256", "tpu": "2048", "smoke": "4"},
            k={"cpu": "4", "pilot": "4", "tpu": "8", "smoke": "2"})


def _with_star_source(c):
    return dict(c.data.sources.to_dict(),
                star=_common.source(kind="traces", path="(set by run_sets)", family=""))


STAR_DATA = {"data.sources": _with_star_source,
             "data.stages": lambda c: _common.stages_one(dict(STAR_WEIGHTS),
                                                         dict(task=TASK["train_levels"]))}


def star_route(base: str, overrides: dict, style: str) -> tuple[list[Arm], list[Step]]:
    """Rounds 1..STAR_ROUNDS on top of arm ``base`` (its overrides, its style)."""
    arms, steps = [], []
    for r in range(1, STAR_ROUNDS + 1):
        previous = base if r == 1 else f"{base}_star{r - 1}"
        step = f"{base}_sample{r}"
        steps.append(Step(step, "rtt_jax.experiments.star_round", dict(
            round=str(r), level=str(8 + r), style=style, seed="{seed}",
            config=f"{{experiment}}:{{variant}}/{previous}",
            workdir=f"{{runs}}/{previous}/seed_{{seed}}",
            previous="" if r == 1 else f"{{step:{base}_sample{r - 1}}}/traces",
            weights=",".join(f"{k}:{v}" for k, v in STAR_WEIGHTS.items()), **STAR),
            needs=(previous,), description=f"{base}, round {r}: sample level {8 + r}, verify"))
        arms.append(Arm(f"{base}_star{r}", overrides | STAR_DATA,
                        f"{base} + verified self-written traces of levels 9-{8 + r}",
                        needs=(step,), run_sets={"data.sources.star.path": f"{{step:{step}}}/traces"},
                        seeds={"cpu": (0, 1), "pilot": (0,), "tpu": (0, 1, 2), "smoke": (0,)}))
    return arms, steps


MECHANISM_ARMS = (
    Arm("running_rope", {}, "running traces, RoPE"),
    Arm("running_random", dict(RANDOM), "running traces, random RoPE ids in training"),
    Arm("hinted_rope", dict(HINTED), "index-hinted traces, RoPE"),
    Arm("traces", HINTED | RANDOM, "index-hinted traces, random RoPE ids in training"),
    Arm("hinted_skip", HINTED | SKIP, "index-hinted traces, RoPE ids with a random skip"),
    Arm("hinted_nope", HINTED | NOPE, "index-hinted traces, no position ids (NoPE)"),
    Arm("running_coupled", coupled("running"), "running traces, coupled position ids"),
    Arm("hinted_coupled", HINTED | coupled("hinted"),
        "index-hinted traces, coupled position ids"),
    Arm("running_coupled_skip", coupled("running") | COUPLED_SKIP,
        "running traces, coupled position ids with a random skip in training"),
    Arm("hinted_coupled_skip", HINTED | coupled("hinted") | COUPLED_SKIP,
        "index-hinted traces, coupled position ids with a random skip in training"))
_RUNNING_STAR = star_route("running_rope", {}, "running")
_TRACES_STAR = star_route("traces", HINTED | RANDOM, "hinted")

EXPERIMENT = Experiment(
    name="length_generalization",
    claim="Trace models trained on chains of 2-9 digits sum chains of 17 and 33.",
    arms=MECHANISM_ARMS + tuple(_RUNNING_STAR[0]) + tuple(_TRACES_STAR[0]),
    steps=tuple(_RUNNING_STAR[1]) + tuple(_TRACES_STAR[1]),
    baseline="running_rope", budget="tokens",
    seeds={"cpu": (0, 1, 2), "pilot": (0,), "tpu": (0, 1, 2), "smoke": (0,)})


def _cpu():
    c = _common.one_task_source(_common.cpu_config(**_common.CPU_BUDGET), TASK)
    return _common.task_eval(c, TASK, max_new_tokens=MAX_NEW_TOKENS)


def _pilot():
    """One seed, 50 problems at six levels: the cheap look before arms x seeds."""
    c = _cpu()
    c.eval.update(n_per_level=50, levels=[4, 8, 12, 16, 24, 32])
    return c


def _tpu():
    c = _common.one_task_source(_common.tpu_config(steps=20_000), TASK)
    return _common.task_eval(c, TASK, max_new_tokens=MAX_NEW_TOKENS)


def _smoke():
    """A pipeline check in about a minute (tests): tiny model, levels 1, 2, 4."""
    c = _common.smoke_config(_cpu(), levels=[1, 2, 4])
    c.eval.update(max_new_tokens=48, max_len=c.data.seq_len + 48)
    return c


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, pilot=_pilot, tpu=_tpu,
                                                smoke=_smoke))
