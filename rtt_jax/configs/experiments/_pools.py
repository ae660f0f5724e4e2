"""Experiments whose arms train on pools (``rtt_jax.data.pools``).

One step per seed, ``pools``, writes every arm's pool with
``python -m rtt_jax.data.pools --seed=SEED ...`` into
``OUT/steps/pools/seed_S/ARM.jsonl``; each arm trains on its file as the only
source (a ``jsonl`` source, read in shuffled epochs) and needs that step.
The step's summary (records, unique problems, characters, flawed and buggy
shares per pool) lands in ``results.md``, so the data's claims are in the
report beside the results.
"""
from __future__ import annotations

from typing import Mapping

from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Step

STEP = "pools"
PLACEHOLDER = "(set by each arm)"


# The levels pools are written at, by variant (the tpu variant trains 1-12).
LEVELS = {"cpu": _common.TASK["train_levels"], "tpu": _common.TPU_TASK["train_levels"],
          "smoke": _common.TASK["train_levels"]}


def pool_step(recipes: Mapping[str, str], per_level: Mapping[str, int],
              prompt: str = "cue") -> Step:
    """The step that writes ``{arm: recipe}`` for one seed; ``per_level`` by variant."""
    pools = ",".join(f"{arm}={recipe}" for arm, recipe in recipes.items())
    return Step(STEP, "rtt_jax.data.pools",
                dict(pools=pools, levels={v: LEVELS[v] for v in per_level}, seed="{seed}",
                     prompt=prompt, per_level={v: str(n) for v, n in per_level.items()}),
                description="write every arm's pool of problems for this seed")


def pool_arm(name: str, description: str, overrides: Mapping | None = None) -> Arm:
    """An arm trained on its own pool: the path names it in the config (so arms'
    configs differ) and is set to the step's file on the run's command line."""
    return Arm(name, {"data.sources.task.path": f"(pools step)/{name}.jsonl",
                      **(overrides or {})}, description, needs=(STEP,),
               run_sets={"data.sources.task.path": f"{{step:{STEP}}}/{name}.jsonl"})


def pool_source(c, task: Mapping = _common.TASK, max_new_tokens: int = 112):
    """``c`` trained on one jsonl pool (path set per run), evaluated on ``task``
    with room for ``max_new_tokens`` (a pool's longest completion at the
    hardest level evaluated, so that no arm is cut short)."""
    c.data.sources = dict(task=_common.source(kind="jsonl", path=PLACEHOLDER,
                                              family=task["family"]))
    c.data.stages = _common.stages_one(dict(task=1.0), {})
    return _common.task_eval(c, task, max_new_tokens=max_new_tokens)
