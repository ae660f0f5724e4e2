"""(b) Curriculum vs the same data shuffled.

``curriculum``: three stages of equal length whose level mixtures move from
easy to hard (stage 1 mostly level 1, stage 3 mostly the top level).
``shuffled``: one stage drawing levels with the curriculum's *time-averaged*
mixture (``rtt_jax.data.curriculum.time_averaged_stage``), so both arms see
the same distribution of problems over the run, only in a different order.
Problems are fresh draws from the same generator: "the same data" in
distribution, not example for example. Each level is its own source, so the
mixture weights are exact.
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.data.curriculum import parse_levels, time_averaged_stage
from rtt_jax.experiments import Arm, Experiment


def _schedule(k: int) -> list[list[float]]:
    """Three stages of level weights for k levels, easy to hard."""
    if k == 3:
        return [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]]
    # More levels: stage i favours the levels up to its share of the range.
    rows = [[1.0 if j <= (i + 1) * k // 3 - 1 else 0.15 for j in range(k)] for i in range(3)]
    return [[w / sum(r) for w in r] for r in rows]


def _data(c, task):
    levels = parse_levels(task["train_levels"], "train_levels")
    names = [f"L{lv}" for lv in levels]
    c.data.sources = {n: _common.source(family=task["family"], styles=task["style"])
                      for n in names}
    by_level = {n: str(lv) for n, lv in zip(names, levels)}
    third = c.train.steps // 3
    c.data.stages = [dict(name=f"stage{i + 1}", steps=third if i < 2 else 10 ** 9,
                          mixture=dict(zip(names, w)), levels=by_level)
                     for i, w in enumerate(_schedule(len(levels)))]
    return _common.task_eval(c, task)


def _shuffled(c):
    return [time_averaged_stage(c.data.stages, c.train.steps)]


EXPERIMENT = Experiment(
    name="curriculum_vs_shuffled",
    claim="Progressive learning (easy to hard stages) beats the same data in a random order.",
    arms=(Arm("curriculum", {}, "three stages, easy to hard"),
          Arm("shuffled", {"data.stages": _shuffled}, "the time-averaged mixture, one stage")),
    baseline="shuffled", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2)})


def _cpu():
    return _data(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _data(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def get_config(arg="cpu/curriculum"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
