"""Shared sizes for the shipped experiments (``cpu`` and ``tpu`` variants).

``cpu``: a 2-layer, d=128 model (~0.45M parameters) and a budget sized so that
an experiment's runs finish in <= 15 minutes on 2 CPU cores. ``tpu``: a
~85M-parameter model on a v5e-64 slice with a real budget (3 seeds).
Experiments set their own sources, stages and eval sets on top.
"""
from __future__ import annotations

import ml_collections

from configs.base import get_config as base_config


# first_fit keeps the mixed order of a packing window. best_fit (the base
# default) sorts each window by length, so with traces of very different
# lengths (logic: 133-265 tokens by level) batches cycle from all-hard to
# all-easy every ~60 steps; measured on (a), seed 0: traces 59.5% -> 80.0%.
PACKING = "first_fit"


def source(**fields) -> dict:
    """A ``config.data.sources`` entry with every field (base's defaults)."""
    return dict(base_config("tiny").data.sources.addition) | dict(
        styles="", families="", mode="trace") | fields


def cpu_config(steps: int, seq_len: int = 256, batch: int = 16) -> ml_collections.ConfigDict:
    c = base_config("cpu")
    c.model.update(d_model=128, n_layers=2, n_heads=4, n_kv_heads=2)
    c.data.update(kind="curriculum", seq_len=seq_len, global_batch_size=batch)
    c.data.packing.algorithm = PACKING
    c.train.update(steps=steps, warmup_steps=min(50, steps // 10), learning_rate=3e-3)
    c.train.log_every_steps = 10
    c.checkpoint.every_steps = max(steps // 2, 1)
    c.eval.update(n_per_level=100, batch_size=100, samples_per_set=3)
    return c


def tpu_config(steps: int, seq_len: int = 1024, batch: int = 256) -> ml_collections.ConfigDict:
    c = base_config("v5e-64")
    c.model.update(d_model=768, n_layers=12, n_heads=12, n_kv_heads=4)
    c.data.update(kind="curriculum", seq_len=seq_len, global_batch_size=batch)
    c.data.packing.algorithm = PACKING
    c.train.update(steps=steps, warmup_steps=500, learning_rate=1e-3)
    c.checkpoint.every_steps = 1000
    c.eval.update(n_per_level=500, batch_size=256, samples_per_set=5)
    return c


def stages_one(mixture: dict, levels: dict) -> list[dict]:
    """A single stage that runs to the end of training."""
    return [dict(name="all", steps=10 ** 9, mixture=mixture, levels=levels)]


# The task the ablations (a)-(e) train and evaluate on at CPU scale: a family,
# its trace style, the trained levels and the levels evaluated (one harder).
# Logic: evaluate a boolean expression by rewriting it one operation at a time.
# A 2-layer model learns the traces within the CPU budget; answers alone stay at
# chance (docs and figures: README, "Experiments").
TASK = dict(family="logic", style="innermost_first", other_style="short_circuit",
            train_levels="1-3", eval_levels=[1, 2, 3, 4], trained_levels=[1, 2, 3])


def task_eval(c, task: dict = TASK, style: str | None = None, max_new_tokens: int = 160):
    """Evaluate ``task``'s family at its eval levels, prompting in ``style``."""
    c.eval.update(families=(task["family"],), styles={task["family"]: style or task["style"]},
                  levels=list(task["eval_levels"]), trained_levels=list(task["trained_levels"]),
                  max_new_tokens=max_new_tokens, max_len=c.data.seq_len + max_new_tokens)
    return c


# The cpu budget every ablation shares (equal tokens within an experiment).
CPU_BUDGET = dict(steps=450, seq_len=256, batch=16)
# The tpu variant trains more levels and tests three harder ones.
TPU_TASK = dict(TASK, train_levels="1-6", eval_levels=list(range(1, 10)),
                trained_levels=list(range(1, 7)))


def one_task_source(c, task: dict = TASK, **fields):
    """The task as the only source (``task``), one stage, evaluated on its levels."""
    c.data.sources = dict(task=source(family=task["family"], styles=task["style"], **fields))
    c.data.stages = stages_one(dict(task=1.0), dict(task=task["train_levels"]))
    return task_eval(c, task)
