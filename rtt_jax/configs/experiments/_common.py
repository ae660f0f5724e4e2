"""Shared sizes for the shipped experiments (``cpu`` and ``tpu`` variants).

``cpu``: a small decoder and a budget sized so that an experiment's runs
finish in minutes on 2 CPU cores (``--parallel=2``). Every number of the
``cpu`` recipe (learning rate, depth, rows, steps, beta2, warmup) comes from a
sweep recorded in ``docs/recipes.md`` with the command that made it; change
one only with a new sweep. ``tpu``: a ~85M-parameter model on a v5e-64 slice
with a real budget (3 seeds). Experiments set their own sources, stages and
eval sets on top.
"""
from __future__ import annotations

import ml_collections

from rtt_jax.configs.base import get_config as base_config
from rtt_jax.data.family_tokenizer import PREFIX


# best_fit with shuffled rows (the base default): best-fit decreasing packs
# each window tightly, and the window's rows are then put in a seeded random
# order, so batches no longer cycle from long (hard) to short (easy) examples
# (docs/recipes.md, "Packing").
PACKING = "best_fit"


def source(**fields) -> dict:
    """A ``config.data.sources`` entry with every field (base's defaults)."""
    return dict(base_config("tiny").data.sources.addition) | dict(
        styles="", families="", mode="trace") | fields


# The measured CPU recipe (docs/recipes.md): a 2-layer d=128 decoder (~0.45M
# parameters), AdamW at 1e-3 (3e-3, the old default, stalls this size),
# 4 rows of 256 positions per step (padding 6-8% in both arms).
CPU_RECIPE = dict(learning_rate=1e-3, n_layers=2, warmup_steps=150, b2=0.95)


def cpu_config(steps: int, seq_len: int = 128, batch: int = 16, **recipe
               ) -> ml_collections.ConfigDict:
    r = CPU_RECIPE | recipe
    c = base_config("cpu")
    c.model.update(d_model=128, n_layers=r["n_layers"], n_heads=4, n_kv_heads=2)
    c.data.update(kind="curriculum", seq_len=seq_len, global_batch_size=batch)
    c.data.packing.algorithm = PACKING
    c.train.update(steps=steps, warmup_steps=min(r["warmup_steps"], steps // 10),
                   learning_rate=r["learning_rate"], b2=r["b2"])
    c.train.log_every_steps = 10
    c.checkpoint.every_steps = max(steps // 2, 1)
    c.eval.update(n_per_level=100, batch_size=100, samples_per_set=3)
    return c


def tpu_config(steps: int, seq_len: int = 1024, batch: int = 256) -> ml_collections.ConfigDict:
    c = base_config("v5e-64")
    c.model.update(d_model=768, n_layers=12, n_heads=12, n_kv_heads=4)
    c.data.update(kind="curriculum", seq_len=seq_len, global_batch_size=batch)
    c.data.packing.algorithm = PACKING
    # microbatches=1: this 85M model fits a v5e without the base variant's
    # accumulation (compile_only: 9.50 GiB of 16 per device).
    c.train.update(steps=steps, warmup_steps=500, learning_rate=1e-3, microbatches=1)
    c.checkpoint.every_steps = 1000
    c.eval.update(n_per_level=500, batch_size=256, samples_per_set=5)
    return c


def smoke_config(c, levels: list[int], steps: int = 40):
    """``c`` shrunk to a pipeline check that runs in seconds: a d=32 model,
    ``steps`` steps of 4 rows of 128, 8 eval problems at ``levels``."""
    c.model.update(d_model=32, n_layers=1, n_heads=2, n_kv_heads=1)
    c.data.update(seq_len=128, global_batch_size=4)
    c.train.update(steps=steps, warmup_steps=2, log_every_steps=10)
    c.checkpoint.every_steps = steps
    c.eval.update(n_per_level=8, batch_size=16, samples_per_set=1, levels=list(levels),
                  trained_levels=list(levels), max_len=c.data.seq_len + c.eval.max_new_tokens)
    return c


def stages_one(mixture: dict, levels: dict) -> list[dict]:
    """A single stage that runs to the end of training."""
    return [dict(name="all", steps=10 ** 9, mixture=mixture, levels=levels)]


# The task the ablations train and evaluate on: a family, its trace style, a
# second style, the trained levels and the levels evaluated (two harder).
# Modular sums (``rtt_jax.tasks.modular``): the answer is the last digit of a
# chain of +/- over L+1 digits, so it depends on every operand and answers
# alone have no shortcut (chance 10%), while each trace line is one exact
# operation on two digits.
TASK = dict(family="modular", style="running", other_style="pairwise",
            train_levels="1-8", eval_levels=list(range(1, 11)) + [12],
            trained_levels=list(range(1, 9)))
# Boolean formulas: a task where answers alone get most of the way at these
# levels (True/False answers; answer-only 80% against the traces' 88% at
# levels 1-3), kept as a second experiment (``logic_traces_vs_answer``) for
# that contrast.
LOGIC_TASK = dict(family="logic", style="innermost_first", other_style="short_circuit",
                  train_levels="1-3", eval_levels=[1, 2, 3, 4], trained_levels=[1, 2, 3])


def task_eval(c, task: dict = TASK, style: str | None = None, max_new_tokens: int = 112):
    """Evaluate ``task``'s family at its eval levels, prompting in ``style``."""
    c.eval.update(families=(task["family"],), styles={task["family"]: style or task["style"]},
                  levels=list(task["eval_levels"]), trained_levels=list(task["trained_levels"]),
                  max_new_tokens=max_new_tokens, max_len=c.data.seq_len + max_new_tokens)
    return c


# The cpu budget every ablation shares (equal tokens within an experiment).
CPU_BUDGET = dict(steps=1200, seq_len=256, batch=4)
# The tpu variant trains more levels and tests harder ones.
TPU_TASK = dict(TASK, train_levels="1-12", eval_levels=list(range(1, 17)),
                trained_levels=list(range(1, 13)))


def one_task_source(c, task: dict = TASK, **fields):
    """The task as the only source (``task``), one stage, evaluated on its levels."""
    c.data.sources = dict(task=source(family=task["family"], styles=task["style"], **fields))
    c.data.stages = stages_one(dict(task=1.0), dict(task=task["train_levels"]))
    return task_eval(c, task)


# --- The recipe for prompt-grounded tasks (issue 26) ---------------------------
# Tasks whose trace lines copy names and numbers out of the prompt
# (``word_problems``, ``counting_traces_vs_answer``,
# ``expressions_traces_vs_answer``). Every number below comes from the sweep in
# docs/recipes.md ("Prompt-grounded tasks"); change one only with a new sweep.
# The tokenizer is the lever: a SentencePiece vocabulary of at most
# ``tokenizer_vocab`` ids trained on the task family's own text
# (``data.family_tokenizer``; "family:NAME:VOCAB") makes each name and word one
# id and a problem ~3x shorter than in bytes, so copying is a one-token
# induction. At the byte recipe's token positions (4.9M) it took the traces arm
# from 26.7% to 61.3% at the trained levels (one seed; answer-only 21.3%).
# Rows of 256 ids hold a level-3 problem (~130 ids) whole; 4 rows a step did
# better than 2 rows for twice the steps (61.3% against 57.3%, same
# positions), and 3 layers at d=128 no better than 2 there (52.0% against
# 57.3%, rows of 256 x 2). Steps
# 4,800: at 7,200 the traces arm stayed put (62.0%) while answer-only rose
# (30.7%), so the extra budget narrows the gap (+31.3 against +40.0, seed 0);
# 4,800 steps train in about 7.5 minutes on one idle core at d=128. Width
# 192 (6 heads, 3 kv): over 3 seeds traces 59.8 +- 2.7 against d=128's 57.6
# +- 2.0, the gap to answer-only +39.6 against +37.6; lr 2e-3 at d=128: 46.0%.
# Depth 3 at d=160 (5 heads, 5 kv; about d=192's matmul work) gains the
# second hop: over 3 seeds +42.7 against d=192's +39.6, about 14 minutes a
# run on one core (recipes.md also has rows of 256 x 8 and 4 layers at d=128).
# prompt_loss False: loss on the prompt too cost accuracy in bytes (10.7%
# against 26.7%).
CURVE_EVERY = 600  # steps between the evaluations that draw the learning curve
GROUNDED_CPU_RECIPE = dict(steps=4800, seq_len=256, batch=4, learning_rate=1e-3,
                           n_layers=3, d_model=160, n_heads=5, n_kv_heads=5,
                           warmup_steps=150, b2=0.95, prompt_loss=False,
                           tokenizer_vocab=640)


def with_family_tokenizer(c: ml_collections.ConfigDict, task: dict, vocab: int
                     ) -> ml_collections.ConfigDict:
    """``c`` tokenized by a vocabulary of at most ``vocab`` ids trained on
    ``task``'s family's text (``rtt_jax.data.family_tokenizer``)."""
    c.data.tokenizer = f"{PREFIX}{task['family']}:{vocab}"
    c.model.vocab_size = vocab
    return c


def grounded_smoke_config(c: ml_collections.ConfigDict, levels: list[int]
                          ) -> ml_collections.ConfigDict:
    """``smoke_config`` with rows and eval room for prompts of ~200 bytes."""
    c = smoke_config(c, levels)
    c.data.seq_len = 256
    c.eval.update(max_new_tokens=48, max_len=256 + 48, every_steps=0)
    return c


def grounded_cpu_config(task: dict, recipe: dict = GROUNDED_CPU_RECIPE,
                        max_new_tokens: int = 192) -> ml_collections.ConfigDict:
    """``task`` (a ``TASK``-like dict) as the one source under the
    prompt-grounded cpu recipe, evaluated on its levels."""
    r = dict(recipe)
    c = cpu_config(r["steps"], seq_len=r["seq_len"], batch=r["batch"],
                   learning_rate=r["learning_rate"], n_layers=r["n_layers"],
                   warmup_steps=r["warmup_steps"], b2=r["b2"])
    c.model.update(d_model=r["d_model"], n_heads=r["n_heads"], n_kv_heads=r["n_kv_heads"])
    c = one_task_source(c, task, prompt_loss=r["prompt_loss"])
    c = with_family_tokenizer(c, task, r["tokenizer_vocab"])
    c = task_eval(c, task, max_new_tokens=max_new_tokens)
    # 50 problems per level (the sweep's), every completion kept in
    # samples.jsonl so the copy probe can be re-read from them. The same
    # problems of the trained levels every ``CURVE_EVERY`` steps give the
    # accuracy-against-tokens curve (results.json's ``eval_curves``,
    # accuracy_vs_tokens.png): where the effect starts. Greedy decoding reads
    # the live params and draws no randomness, so training is the same with
    # or without it.
    c.eval.update(n_per_level=50, samples_per_set=50, every_steps=CURVE_EVERY,
                  periodic_levels=list(task["trained_levels"]))
    return c


def grounded_variants(task: dict) -> dict:
    """The cpu, tpu and smoke variants of a prompt-grounded experiment on
    ``task``: the recipe on 2 cores, 20k steps on levels 1-6 on a TPU, and
    the smoke run on levels 1-2 (``Experiment.config``'s ``variants``)."""
    def cpu():
        return grounded_cpu_config(task)

    def tpu():
        longer = dict(task, train_levels="1-6", eval_levels=list(range(1, 9)),
                      trained_levels=list(range(1, 7)))
        return with_family_tokenizer(one_task_source(tpu_config(steps=20_000), longer), longer,
                                     GROUNDED_CPU_RECIPE["tokenizer_vocab"])

    def smoke():
        return grounded_smoke_config(cpu(), levels=[1, 2])

    return dict(cpu=cpu, tpu=tpu, smoke=smoke)
