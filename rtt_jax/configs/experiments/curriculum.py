"""Progressive learning: does the order of levels make the hardest level learnable sooner?

The old ``curriculum_vs_shuffled`` ablation measured accuracy pooled over
levels 1-8 after both arms had reached ~97% (no headroom), and its
curriculum put the hardest levels in the cosine schedule's low-rate tail
(-16.0 points, n.s., and the sign flipped under a flat rate). Abbe et al.
2023 (arXiv 2306.16921) and Wu et al. 2021 (arXiv 2012.03107) find a
curriculum helps where the budget is tight and the target hard. So
here the measure is the *hardest trained level* (8: a chain of 9 digits),
at a budget where the recipe's uniform mixture has not mastered it, and
every arm trains under the same constant learning rate with a short
cooldown (``train.schedule="constant_cooldown"``, the last 15% of steps), so
the schedule is not part of the treatment. Arms (modular sums, ``running``
traces, each level its own source so mixtures are exact):

* ``uniform`` (baseline): levels 1-8 equally often, throughout;
* ``level_by_level``: eight stages of equal length, stage k only level k;
* ``mixed``: the same stages, stage k half level k and half a review of
  levels 1..k-1;
* ``mastery``: ``mixed``'s stages, each ending early at the first
  evaluation (every 50 steps, 20 problems a level) where its level reaches
  90% (``until``, the gates of issue 14); the steps saved go to the last
  stage (level 8 with review);
* ``hard_only``: levels 7 and 8 only.

Metrics: accuracy at level 8 at the end (100 problems) and along the run
(the periodic evaluation's level-8 accuracy at steps 600 and 750, before the
cooldown, and the area under its learning curve), the trained levels pooled,
and the harder untrained levels 9, 10, 12. Budgets: ``cpu`` is 900 steps of
the recipe's 4 x 256 positions; ``cpu_1200`` is the same design at 1,200
steps (run it with ``--variant=cpu_1200``). A pilot of seed 0 (uniform
against level-by-level, 1,200 steps) chose them: uniform's level-8 accuracy
(periodic evaluation, 20 problems) was 0.0 at step 600, 0.3 at 900 and
0.95 at 1,200 after the cooldown, so at 1,200 steps level 8 is at its
ceiling and 900 leaves room either way; level-by-level learned each level in
its stage and forgot the earlier ones (level 4: 85% at step 600, 0-25% from
900 on), and ended at 100% on level 8, the only level it had just trained.

Prediction (written before the 5-seed runs): traces make every level the
same local operation, repeated; what grows with the level is the length of
the chain to keep one's place in, so easy levels teach the hard one's lines.
No curriculum arm beats ``uniform`` at level 8 by more than its MDE at 900
steps; ``level_by_level`` forgets the early levels (trained levels pooled
lower by >= 20 points) and is no better at level 8; ``mixed`` and
``mastery`` are within the MDE of ``uniform`` at level 8 and may lead it
earlier in the run (AUC); ``hard_only`` learns level 8 at least as well as
``uniform`` (more of its tokens are level-8 lines) but loses the short
levels. Untrained levels stay near chance for every arm.

Prediction for ``cpu_1200``, 5 seeds (written 2026-12-06 16:34 UTC, after
the runs started and before any finished): with a third more steps
``uniform`` learns level 8 in most seeds (mean >= 80%, against 54.4 at
900), so its seed spread shrinks and the MDE at level 8 falls below 30
points; no curriculum arm beats ``uniform`` at level 8 by more than that
MDE, and ``mixed`` and ``mastery`` stay within 10 points of ``uniform``
over the trained levels. ``level_by_level`` (-61.1 at 900) and
``hard_only`` (-51.9) still lose the trained levels by >= 40 points.
``hard_only``'s area under the level-8 curve stays the highest (+6.1 at
900). Untrained levels stay near chance.

    python -m rtt_jax.experiments.run --experiment=curriculum --variant=cpu --parallel=2 \\
        --out=workdirs/curriculum
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.evaluation import run_metrics as rm
from rtt_jax.experiments import Arm, Experiment

LEVELS = tuple(range(1, 9))
HARDEST = LEVELS[-1]
HARD = (7, 8)
COOLDOWN = 0.15  # of the steps: the constant rate's linear cooldown at the end
GATE = 0.9  # mastery: accuracy (periodic evaluation) that ends a stage early
EVERY, PERIODIC_N = 50, 20
FAMILY = _common.TASK["family"]
HARDEST_KEY = f"eval/{FAMILY}/L{HARDEST}/answer_accuracy"


def _name(level: int) -> str:
    return f"L{level}"


def _stage(name: str, steps: int, weights: dict, until: dict | None = None) -> dict:
    s = dict(name=name, steps=steps, mixture={_name(lv): w for lv, w in weights.items()},
             levels={_name(lv): str(lv) for lv in weights})
    if until:
        s["until"] = until
    return s


def uniform(c):
    return [_stage("uniform", 10 ** 9, {lv: 1.0 for lv in LEVELS})]


def hard_only(c):
    return [_stage("hard", 10 ** 9, {lv: 1.0 for lv in HARD})]


def level_by_level(c):
    per = c.train.steps // len(LEVELS)
    return [_stage(f"level{lv}", per, {lv: 1.0}) for lv in LEVELS]


def review(level: int) -> dict:
    """Level ``level`` half the time, the levels before it the other half."""
    if level == LEVELS[0]:
        return {level: 1.0}
    earlier = [lv for lv in LEVELS if lv < level]
    return {level: 0.5} | {lv: 0.5 / len(earlier) for lv in earlier}


def mixed(c):
    per = c.train.steps // len(LEVELS)
    return [_stage(f"level{lv}", per, review(lv)) for lv in LEVELS]


def mastery(c):
    per = c.train.steps // len(LEVELS)
    return [_stage(f"level{lv}", per, review(lv), until=None if lv == HARDEST else dict(
        metric=f"eval/{FAMILY}/L{lv}/answer_accuracy", at_least=GATE, max_steps=per))
        for lv in LEVELS]


# Budgets read along the run: level-8 accuracy at these steps (the periodic
# evaluation's, 20 problems; before the cooldown of the 900-step budget).
BUDGET_POINTS = (600, 750)
METRICS = (rm.report_value(f"sets/{FAMILY}/L{HARDEST}/answer_accuracy",
                           f"level {HARDEST} at the end (100 problems)", name=f"L{HARDEST}"),
           *(rm.curve_at(HARDEST_KEY, s, f"L{HARDEST}@{s}") for s in BUDGET_POINTS),
           rm.curve_auc(HARDEST_KEY, f"auc_L{HARDEST}"))

EXPERIMENT = Experiment(
    name="curriculum",
    claim="A curriculum makes the hardest trained level learnable within a tighter budget.",
    arms=(Arm("level_by_level", {"data.stages": level_by_level},
              "eight stages, stage k only level k"),
          Arm("mixed", {"data.stages": mixed}, "stage k: level k + review of 1..k-1"),
          Arm("mastery", {"data.stages": mastery},
              f"mixed, each stage ending once its level reaches {GATE:.0%}"),
          Arm("hard_only", {"data.stages": hard_only}, "levels 7-8 only"),
          Arm("uniform", {}, "levels 1-8 equally often")),
    baseline="uniform", budget="tokens", metrics=METRICS,
    contrasts=(("mastery", "mixed"), ("mixed", "level_by_level")),
    seeds={"cpu": (0, 1, 2, 3, 4), "cpu_1200": (0, 1, 2, 3, 4), "tpu": (0, 1, 2),
           "smoke": (0,)})


def _data(c, task=_common.TASK):
    c.data.sources = {_name(lv): _common.source(family=task["family"], styles=task["style"])
                      for lv in LEVELS}
    c.data.stages = uniform(c)
    c.train.update(schedule="constant_cooldown", cooldown_steps=int(COOLDOWN * c.train.steps))
    c = _common.task_eval(c, task)
    c.eval.update(every_steps=EVERY, periodic_levels=list(LEVELS),
                  periodic_n_per_level=PERIODIC_N)
    return c


def _cpu(steps: int = 900):
    return _data(_common.cpu_config(**(_common.CPU_BUDGET | dict(steps=steps))))


def _tpu():
    c = _data(_common.tpu_config(steps=20_000))
    c.eval.update(every_steps=500, periodic_n_per_level=100)
    return c


def _smoke():
    c = _common.smoke_config(_cpu(), levels=[1, 8], steps=48)
    c.train.cooldown_steps = 8
    c.eval.update(every_steps=16, periodic_levels=list(LEVELS), periodic_n_per_level=2)
    # An untrained model writes to the limit: keep the smoke's decode short.
    c.eval.update(max_new_tokens=48, max_len=c.data.seq_len + 48)
    return c


def get_config(arg="cpu/uniform"):
    # The arms' stages are computed from train.steps, so each budget is a variant.
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, cpu_1200=lambda: _cpu(1200), tpu=_tpu,
                                                smoke=_smoke))
