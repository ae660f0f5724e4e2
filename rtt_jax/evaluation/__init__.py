"""Evaluation: eval sets, answer extraction, scoring with intervals, reports.

Flow: ``EvalSet`` problems -> prompts -> ``generate_fn`` -> completion text ->
``extraction`` (last ``####`` line) + the family's checkers -> ``scoring``
(per problem, then per set with 95% intervals from ``intervals``) ->
``Evaluator.run`` report dict -> ``write_report`` (report.json, report.md,
samples.jsonl, plots). The scoring path imports no JAX: the model plugs in
through ``generate_fn(prompts) -> completions`` and ``loss_fn(texts) ->
(sum_nll, n_tokens)``. The modules that build samplers are apart:
``stops`` (the answer-line and calculator stop rules, ``make_sampler``),
``calculator_decoding``, ``during_training`` and ``standalone``.
"""
from rtt_jax.evaluation.eval_sets import (EVAL_SEED_OFFSET, EvalSet, eval_seed, gsm8k_set,
                                          rg_sets, task_sets)
from rtt_jax.evaluation.evaluator import Evaluator, prompt_for, reference_pair, reference_text
from rtt_jax.evaluation.extraction import Extraction, extract
from rtt_jax.evaluation.report_files import flat_metrics, write_report
from rtt_jax.evaluation.scoring import ProblemScore, aggregate, score_completion

__all__ = ["EVAL_SEED_OFFSET", "EvalSet", "Evaluator", "Extraction", "ProblemScore",
           "aggregate", "eval_seed", "flat_metrics", "extract", "gsm8k_set",
           "prompt_for", "reference_pair", "reference_text", "rg_sets", "score_completion",
           "task_sets",
           "write_report"]
