"""``--mode=eval``: evaluate a workdir's latest checkpoint and write its report.

    python -m rtt_jax.main --mode=eval --config=configs/base.py:tiny --workdir=W

Restores the params onto this run's mesh, decodes greedily with the KV-cache
sampler over ``config.eval`` sets (task families x levels, trained levels and
harder ones), scores answers and steps, and writes ``W/report.json``,
``W/report.md``, ``W/samples.jsonl`` and plots (accuracy against level with the
trained range marked; learning curves from ``W/metrics.jsonl``).
"""
from __future__ import annotations

import os

import jax
from absl import logging

from rtt_jax import config_validation
from rtt_jax import paths as rtt_paths
from rtt_jax.evaluation.eval_sets import gsm8k_set, lee_file_set, rg_sets, task_sets
from rtt_jax.evaluation.evaluator import Evaluator
from rtt_jax.evaluation.report import write_report
from rtt_jax.model.sampler import Sampler


def _levels(spec, family) -> list[int]:
    """``"train"`` = the family's training levels; ``"all"``; or an explicit list."""
    if spec == "train":
        return list(family.train_levels)
    if spec == "all":
        return list(family.levels)
    return [int(x) for x in spec]


def eval_sets_from_config(config):
    from rtt_jax import tasks
    ec = config.eval
    families = list(ec.families)
    for name in families:
        if name not in tasks.names():
            raise config_validation.ConfigError(
                f"config.eval.families: unknown family {name!r}; known: {', '.join(tasks.names())}")
    levels = {n: _levels(ec.levels, tasks.get(n)) for n in families}
    trained = {n: _levels(ec.trained_levels, tasks.get(n)) for n in families}
    sets = [] if not families else task_sets(
        families, n=ec.n_per_level, seed=config.seed, levels=levels, trained_levels=trained,
        styles=dict(ec.styles))
    if ec.gsm8k_path:  # external problems: GSM8K test (a JSONL file of that schema)
        if not os.path.exists(ec.gsm8k_path):
            raise config_validation.ConfigError(
                f"config.eval.gsm8k_path={ec.gsm8k_path!r}: no such file")
        sets.append(gsm8k_set(ec.gsm8k_path, ec.gsm8k_n or None, seed=config.seed))
    if ec.get("lee_path"):  # a Lee et al. 2023 problem file (their test split)
        if not os.path.exists(ec.lee_path):
            raise config_validation.ConfigError(
                f"config.eval.lee_path={ec.lee_path!r}: no such file")
        style = dict(ec.styles).get("addition", "lee_plain")
        try:
            sets.append(lee_file_set(ec.lee_path, ec.lee_n or None, seed=config.seed,
                                     style=style, name=ec.lee_name))
        except ValueError as e:
            raise config_validation.ConfigError(f"config.eval.lee_path: {e}") from None
    if ec.rg_datasets:  # reasoning-gym datasets at their own levels
        sets += rg_sets(list(ec.rg_datasets), n=ec.n_per_level, seed=config.seed)
    return sets, trained


def trained_with_traces(config) -> bool:
    """Whether the run trained on text with steps: False when every source a
    curriculum stage mixes in (weight > 0) has mode ``answer_only`` or writes
    only Lee's one-line formats (``addition.ANSWER_LINE_STYLES``: plain and
    reversed, the answer and nothing before it).

    Step validity and trace/answer consistency judge the steps a model writes;
    a model trained on answers alone writes none, so for it they do not apply
    (None in the report, see ``scoring.TRACE_METRICS``) rather than being 0
    or a copy of its answer accuracy. Textbook (``full``) text has worked
    steps, so it counts as traces; the built-in addition data keeps the
    metrics too, as before."""
    from rtt_jax.data.formatting import ANSWER_ONLY
    from rtt_jax.data.sources import written_styles
    from rtt_jax.tasks.addition import ANSWER_LINE_STYLES
    data = config.data
    if data.get("kind") != "curriculum":
        return True
    used = {name for stage in data.stages
            for name, weight in dict(stage["mixture"]).items() if weight > 0}

    def writes_steps(name: str) -> bool:
        src = dict(data.sources[name]) if name in data.sources else {}
        if src.get("mode") == ANSWER_ONLY:
            return False
        styles = written_styles(src)
        return not styles or not set(styles) <= set(ANSWER_LINE_STYLES)

    return not used or any(writes_steps(name) for name in used)


def sampler_from_workdir(config, workdir: str, max_len: int, max_batch: int = 64,
                         devices=None) -> tuple[Sampler, int]:
    """(a KV-cache sampler over ``workdir``'s latest checkpoint, its step), with
    the tokenizer the run trained with; evaluation, serving and the checkpoint
    teacher all start here."""
    from rtt_jax.data.pipeline import run_tokenizer
    from rtt_jax.train.loop import final_params
    model_cfg = config_validation.validate(config)
    layout, params, step = final_params(config, workdir, devices)
    sampler = Sampler(layout.graphdef, params, run_tokenizer(config, workdir), model_cfg,
                      max_len=max_len, mesh=layout.mesh, max_batch=max_batch)
    return sampler, step


def evaluate_workdir(config, workdir: str) -> dict:
    """Evaluate the latest checkpoint in ``workdir``; returns the report dict."""
    sampler, step = sampler_from_workdir(config, workdir, config.eval.max_len,
                                         config.eval.batch_size)
    sets, trained = eval_sets_from_config(config)

    def generate(prompts):
        try:
            return sampler.generate(prompts, config.eval.max_new_tokens, temperature=0.0)
        except ValueError as e:  # a prompt that does not fit: a config problem, one line
            if "max_len" not in str(e):
                raise
            raise config_validation.ConfigError(
                f"config.eval.max_len={config.eval.max_len}: {e}") from None

    report = Evaluator(sets, generate, batch_size=config.eval.batch_size,
                       samples_per_set=config.eval.samples_per_set,
                       trace_metrics=trained_with_traces(config)).run(step)
    if jax.process_index() != 0:  # every host scored the same completions; one writes
        return report
    paths = write_report(report, rtt_paths.absolute(workdir), trained)
    logging.info("step %d evaluated: %s", step, paths)
    summary = report["summary"]["all"]
    validity = summary.get("step_validity")
    validity = "n/a (trained without traces)" if validity is None else f"{validity:.3f}"
    print(f"eval step {step}: answer_accuracy {summary['answer_accuracy']:.3f} "
          f"step_validity {validity} -> {paths['json']}")
    return report
