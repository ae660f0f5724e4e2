"""Length generalisation: trained on chains of 2-9 digits, can a trace model
sum chains of 17 and 33?

``traces_vs_answer``'s trace model scores ~97% at its trained levels (1-8)
and chance (10%) from level 9 on. ``rtt_jax.evaluation.length_diagnosis`` on
its checkpoints (docs/results.md, "length_generalization") says why. With
the right lines fed in (teacher forcing), each line's arithmetic stays right
at levels 9-12 (89-100%), but the operand a line copies from the question is
wrong from the first line on (line 1 at level 12: 6-21% over three seeds,
against 99-100% at level 8): the model finds the k-th term by where it sits
relative to the question's end, and a longer question moves every term. It
also always stops after 8 lines, but blocking the end until the right number
of lines is written does not help (5-15%): the operands are already wrong.

Arms (format x position ids; the same budget of token positions):

* ``running_rope``: today's ``running`` traces and RoPE (the demo's model);
* ``running_random``: the same traces, RoPE ids drawn at random in training
  (``model.positions=random_rope``, Ruoss et al. 2023): the generic cure;
* ``hinted_rope``: ``hinted`` traces (index hints, Zhou et al. 2024): every
  term carries a letter and each line names the term it adds by its letter;
* ``traces`` (the recommended arm): ``running`` traces with coupled position
  ids (``model.positions=coupled``, Cho et al. 2024; ``modular``'s
  ``position_coupling``): line k sits on the ids of the term it adds, so the
  term is at the same relative distance at every length; and a random skip
  in training (``model.position_skip``, PoSE, Zhu et al. 2024), so that the
  longer distances a long chain creates between a line and everything else
  were seen in training.

Pilots (one seed, 50 problems at six levels; docs/results.md,
"length_generalization", and ``length_generalization_pilots.py``) chose the
arms and the budget: random ids and NoPE did not learn the trained levels
in 1,200 steps; hints alone learned them (100%) and transferred nothing
(the model wrote the right digits with wrong letters: it still counted);
coupling alone reached 98% trained, but failed from level 12 on until the
prompt's cue line was laid just before the first line (``coupling_prompt``)
and a skip was added; coupling with both reached 68% at level 12 and 26% at
16 after 1,200 steps, with its arithmetic still undertrained.

Self-improvement arms (``*_star1``, ``*_star2``; STaR machinery,
``rtt_jax/experiments/star_round.py``): round R samples k traces for fresh
problems from round R-1's model, keeps those whose every step verifies (and
rationalised ones), and retrains from scratch on program traces of levels
1-8 (70%) and every trace kept so far (30%), at the same token budget: once
from ``running_rope`` (self-improvement alone) and once from ``traces``
(both together). A round samples the frontier (``--frontier_from=9``):
every level from 9 up to the first evaluated level that round R-1's model
scores below 90%, at most level 24, the longest chain whose trace still fits
a training row (256 bytes). One rule for both routes: the demo's model fails
at level 12, so its rounds sample 9-12; a model that holds level 16 and
fails at 24 samples 9-24. Level 32 stays beyond every trace either route
ever trains on (1.33x the longest).

Trained on levels 1-8; evaluated at 1-8, 12, 16, 24 and 32 (``modular``'s
levels 17-32 were added for this).

Prediction for the self-improvement arms, 3 seeds, round 1 and 2 (written
2026-12-06 14:38 UTC, before any of them ran): from ``traces``, round 1
keeps most samples at levels 9-16 and some at 17-24, and its model scores
>= 95% at level 16, >= 80% at 24 and 40-70% at level 32 (against 21% for
``traces``); round 2 adds up to 10 points more at 32. From ``running_rope``,
round 1 keeps a few level-9 traces and almost none at 10-12, and neither
round moves levels 16-32 off chance (<= 15%).
Outcome (3 seeds; docs/results.md, "Self-improvement on top of the
mechanism"): ``traces_star1`` kept 87-96% of the problems it sampled
(levels 9-24; 9-16 for seed 1) and scores 100% at levels 16 and 24 and 99%
(98, 99, 100) at 32, above the prediction; round 2 adds 0.3 points.
``running_rope``'s round keeps 0 of 4,096 samples at levels 9-12, so its
star arms cannot train (their ``star`` source is empty), as predicted.

Prediction (written before the cpu variant ran): ``running_rope`` stays at
chance beyond level 8, as in the demo; ``running_random`` and
``hinted_rope`` do no better (the pilots); ``traces`` learns the trained
levels as well as ``running_rope`` and holds >= 90% at level 16 and >= 50%
at level 32. Self-improvement from ``running_rope`` keeps nothing at level 9
(its operands are wrong there) and so cannot start; from ``traces`` it keeps
most samples and adds a few points at levels 12-16.

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


def coupled(style: str, prompt: str = "question") -> dict:
    """Position coupling for ``style``: the family says how its lines line
    up; ``prompt`` is ``model.coupling_prompt``."""
    anchor, stride = MODULAR.position_coupling(style)
    return {"model.positions": "coupled", "model.coupling_anchor": anchor,
            "model.coupling_stride": stride, "model.coupling_prompt": prompt}


# Coupled ids never pass a question's length (about 100 at level 32), so
# their skips go up to twice a row: every distance a level-32 question holds
# is then drawn often.
COUPLED_SKIP = {"model.position_skip": True, "model.max_position": lambda c: 2 * c.data.seq_len}
HINTED = {"data.sources.task.styles": "hinted", "eval.styles.modular": "hinted"}

# Self-improvement, the second route (STaR machinery, rtt_jax/experiments/
# star_round.py): round R samples the frontier (levels 9 up to the first one
# round R-1's model scores below mastery; round 0: the arm itself), keeps the
# traces that verify (and rationalised ones), and retrains from scratch on the
# program traces of levels 1-8 (70%) and every trace kept so far (30%), at the
# same token budget.
STAR_ROUNDS = 2
STAR_WEIGHTS = dict(task=0.7, star=0.3)
# The longest chain whose running trace always fits a cpu training row: a
# level-24 example is at most 248 bytes plus BOS and EOS, of a row of 257
# tokens; level 25's can pass it (3,000 problems each).
STAR_MAX_LEVEL = 24
STAR = dict(family="modular", mastery="0.9", temperature="0.8", max_new_tokens="224",
            frontier_from="9", max_level=str(STAR_MAX_LEVEL),
            problems={"cpu": "1024", "tpu": "4096", "smoke": "4"},
            k={"cpu": "2", "tpu": "4", "smoke": "2"})
# A running trace is unique for its problem: extra samples of a problem only
# help where the model errs, and distinct problems are what the retrained
# model needs (a round's ~1,000 kept traces fill 30% of 3.7M positions about
# 6 times over). A probe of 32 problems x 2 from traces/seed_0 kept 30.


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
            round=str(r), style=style, seed="{seed}",
            config=f"{{experiment}}:{{variant}}/{previous}",
            workdir=f"{{runs}}/{previous}/seed_{{seed}}",
            previous="" if r == 1 else f"{{step:{base}_sample{r - 1}}}/traces",
            weights=",".join(f"{k}:{v}" for k, v in STAR_WEIGHTS.items()), **STAR),
            needs=(previous,), description=f"{base}, round {r}: sample the frontier, verify"))
        arms.append(Arm(f"{base}_star{r}", overrides | STAR_DATA,
                        f"{base} + {r} round(s) of verified self-written traces "
                        f"(levels 9-{STAR_MAX_LEVEL} at most)",
                        needs=(step,),
                        run_sets={"data.sources.star.path": f"{{step:{step}}}/traces"}))
    return arms, steps


TRACES = coupled("running") | COUPLED_SKIP  # the recommended arm's overrides
MECHANISM_ARMS = (
    Arm("running_rope", {}, "running traces, RoPE"),
    Arm("running_random", dict(RANDOM), "running traces, random RoPE ids in training"),
    Arm("hinted_rope", dict(HINTED), "index-hinted traces, RoPE"),
    Arm("traces", TRACES, "running traces, coupled position ids, a random skip in training"))
_RUNNING_STAR = star_route("running_rope", {}, "running")
_TRACES_STAR = star_route("traces", TRACES, "running")

EXPERIMENT = Experiment(
    name="length_generalization",
    claim="Trace models trained on chains of 2-9 digits sum chains of 17 and 33.",
    arms=MECHANISM_ARMS + tuple(_RUNNING_STAR[0]) + tuple(_TRACES_STAR[0]),
    steps=tuple(_RUNNING_STAR[1]) + tuple(_TRACES_STAR[1]),
    baseline="running_rope", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2), "smoke": (0,)})


# Three times the cpu recipe's 1,200 steps (same rows and learning rate): the
# pilots' coupled arm had not finished learning its arithmetic at 1,200
# (docs/results.md, "length_generalization"). Every arm trains this budget.
CPU_BUDGET = dict(_common.CPU_BUDGET, steps=3600)


def _cpu():
    c = _common.one_task_source(_common.cpu_config(**CPU_BUDGET), TASK)
    return _common.task_eval(c, TASK, max_new_tokens=MAX_NEW_TOKENS)


def _tpu():
    c = _common.one_task_source(_common.tpu_config(steps=20_000), TASK)
    return _common.task_eval(c, TASK, max_new_tokens=MAX_NEW_TOKENS)


def _smoke():
    """A pipeline check in about a minute (tests): tiny model, levels 1, 2, 4."""
    c = _common.smoke_config(_cpu(), levels=[1, 2, 4])
    c.eval.update(max_new_tokens=48, max_len=c.data.seq_len + 48)
    return c


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu, smoke=_smoke))
