"""``--mode=eval``: evaluate a workdir's latest checkpoint and write its report.

    python -m rtt_jax.main --mode=eval --workdir=W [--config=configs/base.py:tiny]

The config is the one the run saved in ``W/config.json``, or ``--config``
(``workdir_spec``; ``rtt_jax.workdir_config``).

Restores the params onto this run's mesh, decodes greedily with the KV-cache
sampler over ``config.eval`` sets (task families x levels, trained levels and
harder ones), scores answers and steps, and writes ``W/report.json``,
``W/report.md``, ``W/samples.jsonl`` and plots (accuracy against level with the
trained range marked; learning curves from ``W/metrics.jsonl``).
"""
from __future__ import annotations

import jax
from absl import logging

from rtt_jax import paths as rtt_paths
from rtt_jax.config_error import ConfigError
from rtt_jax.data.tokenizer import run_tokenizer
from rtt_jax.evaluation.eval_sets import eval_sets_from_spec
from rtt_jax.evaluation.evaluator import Evaluator
from rtt_jax.evaluation.report_files import write_report
from rtt_jax.evaluation.stops import make_sampler
from rtt_jax.model.sampler import Sampler
from rtt_jax.train.checkpoint import final_params


def workdir_spec(workdir: str, config=None, flag: str = "--config"):
    """The checked config (``RunSpec``) for reading ``workdir``: ``config`` when
    given (a ConfigError line if it changes the model or tokenizer the
    checkpoint was trained with), else the workdir's saved ``config.json``.
    Evaluation, serving, the checkpoint teacher and star_round start here."""
    from rtt_jax import workdir_config
    from rtt_jax.config_validation import validate
    return validate(workdir_config.resolve(config, workdir, flag=flag))


def sampler_from_workdir(spec, workdir: str, max_len: int, max_batch: int = 64,
                         devices=None) -> tuple[Sampler, int]:
    """(a KV-cache sampler over ``workdir``'s latest checkpoint, its step), with
    the tokenizer the run trained with; ``spec`` is the checked config
    (``config_validation.validate``). Evaluation, serving and the checkpoint
    teacher all start here."""
    layout, params, step = final_params(spec, workdir, devices)
    sampler = make_sampler(layout.graphdef, params, run_tokenizer(workdir, spec.tokenizer),
                           spec.model, max_len=max_len, mesh=layout.mesh, max_batch=max_batch)
    return sampler, step


def evaluate_workdir(spec, workdir: str) -> dict:
    """Evaluate the latest checkpoint in ``workdir``; returns the report dict.
    ``spec`` is the checked config (``config_validation.validate``)."""
    ec = spec.eval
    sampler, step = sampler_from_workdir(spec, workdir, ec.max_len, ec.batch_size)
    sets = eval_sets_from_spec(ec)

    def generate(prompts):
        try:
            return sampler.generate(prompts, ec.max_new_tokens, temperature=0.0)
        except ValueError as e:  # a prompt that does not fit: a config problem, one line
            if "max_len" not in str(e):
                raise
            raise ConfigError(f"config.eval.max_len={ec.max_len}: {e}") from None

    from rtt_jax.evaluation.probes import probes_from_spec
    probes = probes_from_spec(ec)

    def logprob_fn(contexts, continuations, prompts):
        from rtt_jax.evaluation.logprobs import continuation_logprobs
        return continuation_logprobs(sampler, contexts, continuations, prompts)

    report = Evaluator(sets, generate, batch_size=ec.batch_size,
                       samples_per_set=ec.samples_per_set,
                       trace_metrics=ec.trace_metrics, probes=probes,
                       logprob_fn=logprob_fn if probes else None,
                       retry_marker=ec.retry_marker,
                       commentary_prefix=ec.commentary_prefix).run(step)
    if jax.process_index() != 0:  # every host scored the same completions; one writes
        return report
    paths = write_report(report, rtt_paths.absolute(workdir), ec.trained_levels)
    logging.info("step %d evaluated: %s", step, paths)
    summary = report["summary"]["all"]
    validity = summary.get("step_validity")
    validity = "n/a (trained without traces)" if validity is None else f"{validity:.3f}"
    print(f"eval step {step}: answer_accuracy {summary['answer_accuracy']:.3f} "
          f"step_validity {validity} -> {paths['json']}")
    return report
