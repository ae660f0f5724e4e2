"""Evaluation inside the training loop, every ``config.eval.every_steps``.

The eval sets are built once; at an eval step the KV-cache sampler decodes
greedily with the *live* params (no copy: it runs to completion before the
next train step donates them), the evaluator scores the completions, and the
loop writes ``eval/<set>/<metric>`` scalars to metrics.jsonl and TensorBoard,
and a few sampled traces with their step verdicts to TensorBoard text and
``samples.jsonl`` (``rtt_jax.run_files.write_samples``: one block per eval
step, replaced, not repeated, when a resumed run evaluates that step again).
"""
from __future__ import annotations

import os
from typing import Any, Callable

from rtt_jax.evaluation.eval_sets import eval_sets_from_spec
from rtt_jax.evaluation.evaluator import Evaluator
from rtt_jax.evaluation.report_files import flat_metrics
from rtt_jax.evaluation.stops import make_sampler
from rtt_jax.run_files import write_samples


def _sample_text(sample: dict) -> str:
    verdicts = "\n".join(f"    [{s.get('verdict')}] {s.get('line', '')}"
                         for s in sample.get("steps", [])[:20])
    return (f"**{sample.get('set')}** ({sample.get('outcome')})\n\n    {sample.get('prompt', '')}"
            f"\n\n    {sample.get('completion', '')}\n\n{verdicts}")


def make_periodic_eval(spec, layout) -> Callable[[int, Any, Any], dict] | None:
    """Returns ``run(step, params, writer) -> metrics`` or None when disabled.
    ``spec`` is the checked config (``config_validation.validate``), ``layout``
    the train state's; the loop calls this as its ``make_eval(layout)``."""
    ec = spec.eval
    if not ec.every_steps:
        return None
    evaluator = Evaluator(eval_sets_from_spec(ec), generate_fn=None, batch_size=ec.batch_size,
                          samples_per_set=ec.samples_per_set, trace_metrics=ec.trace_metrics)

    # One sampler for the whole run: its jitted programs take params as an
    # argument, so swapping in each eval step's params never recompiles.
    sampler = make_sampler(layout.graphdef, None, spec.tokenizer, spec.model,
                           max_len=ec.max_len, mesh=layout.mesh, max_batch=ec.batch_size)
    evaluator.generate_fn = lambda prompts: sampler.generate(prompts, ec.max_new_tokens)

    def run(step: int, params, writer) -> dict:
        sampler.params = params
        try:
            report = evaluator.run(step)
        finally:
            sampler.params = None  # don't hold buffers the next train step donates
        metrics = flat_metrics(report)
        writer.write(step, metrics)
        if writer.enabled:
            write_samples(os.path.dirname(writer.path), step, report.get("samples", []))
            for s in report.get("samples", [])[:4]:
                writer.write_text(step, f"samples/{s.get('set')}", _sample_text(s))
        return metrics
    return run
