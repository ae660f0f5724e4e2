"""The evaluator: prompts -> ``generate_fn`` -> scores -> a report dict.

A small pluggable class in the big_vision manner: it is built once with its
sets and a ``generate_fn(prompts: list[str]) -> list[str]`` (the KV-cache
sampler, an API client, or a fake in tests) and run at any step::

    ev = Evaluator(task_sets(n=100), generate_fn, loss_fn=loss_fn)
    report = ev.run(step=1000)
    writer.write(1000, flat_metrics(report))  # "eval/<set>/<metric>" keys
    write_report(report, workdir)

Held-out loss: ``loss_fn`` gets, per set, the teacher's reference texts
(prompt + completion strings; with ``loss_inputs="pairs"`` the (prompt,
completion) tuples instead, so it can mask the prompt and encode the two parts
separately as ``rtt_jax.data.formatting`` does) and returns ``(sum_nll,
n_tokens)``; the report gets ``loss`` (nats/token) and ``perplexity``.

``trace_metrics=False`` says the model was trained without traces (see
``data.spec.trained_with_traces``): step validity, consistency and the other
``scoring.TRACE_METRICS`` do not apply to it and are None in every set and
pool, and the report records ``"trace_metrics": false``.

Prompts are the families' own (``format_example(problem, style)[0]``), the
same text training put before each target, so a model sees what it learned.
All sets' prompts are pooled and sent in chunks of ``batch_size``.

What is scored (``evaluation.scored_text``): with ``retry_marker`` or
``commentary_prefix`` set, retracted lines and commentary lines are set aside
first and counted (``retracted_lines``, ``commentary_lines`` per set).

Pools: a set with a ``group`` (``evaluation.extra_sets``: seen problems, an
unseen surface form, probe sets) is summarised in ``summary[group]`` only.
Probes (``evaluation.probes``; ``logprob_fn`` for those that read
log-probabilities) add ``report["probes"][name]``.

Report layout (``write_report`` stores it as ``report.json``)::

    {"step": int | None, "trace_metrics": bool,
     "sets": {name: {"family", "level", "style", "trained", "n",
                     "answer_accuracy", "step_validity", "consistency", ...,
                     "ci": {metric: [lo, hi]}, "denominators": {metric: n},
                     "loss", "perplexity" (with loss_fn), "by_level" (mixed sets)}},
     "summary": {"all": {...}, "trained": {...}, "untrained": {...}, group: {...}},
     "probes": {name: {...}} (with probes),
     "samples": [{set, question, completion, extracted, outcome, steps: [...]}],
     "timing": {"generate_seconds", "score_seconds", "problems_per_sec"}}
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

from rtt_jax.evaluation.eval_sets import EvalSet
from rtt_jax.evaluation.scored_text import scored_text
from rtt_jax.evaluation.scoring import ProblemScore, aggregate, loss_metrics, score_completion
from rtt_jax import tasks
from rtt_jax.tasks import FamilyLookup
from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.tasks.base import Problem

GenerateFn = Callable[[list[str]], list[str]]
LossFn = Callable[[list[str]], tuple[float, int]]
SAMPLE_CHARS = 4000  # a sample's completion is cut here in samples.jsonl
SAMPLE_STEPS = 50


def prompt_for(family: Any, problem: Problem, style: str | None) -> str:
    """The prompt training used for this problem in ``style``."""
    if style is not None:
        try:
            return family.format_example(problem, style)[0]
        except (ValueError, KeyError):  # e.g. a reasoning-gym item our solvers skip
            pass
    return problem.question + "\n"


def reference_pair(family: Any, problem: Problem, style: str | None) -> tuple[str, str]:
    """(prompt, the teacher's completion): what held-out loss is measured on."""
    if style is not None:
        try:
            return family.format_example(problem, style)
        except (ValueError, KeyError):
            pass
    return problem.question + "\n", f"{ANSWER_MARKER} {problem.answer}"


def reference_text(family: Any, problem: Problem, style: str | None) -> str:
    """Prompt plus the teacher's completion, as one string."""
    return "".join(reference_pair(family, problem, style))


def sample_record(eval_set: EvalSet, problem: Problem, prompt: str, text: Any,
                  score: ProblemScore) -> dict[str, Any]:
    """One line of samples.jsonl: the completion and its step verdicts."""
    completion = text if isinstance(text, str) else repr(text)
    return {
        "set": eval_set.name, "family": eval_set.family, "level": problem.level,
        "index": problem.index, "prompt": prompt[:SAMPLE_CHARS], "reference": problem.answer,
        "completion": completion[:SAMPLE_CHARS], "completion_chars": len(completion),
        "extracted": score.extraction.answer, "status": score.extraction.status,
        "outcome": score.outcome, "answer_follows": score.answer_follows,
        "all_steps_valid": score.all_valid,
        "steps": [{"line": v.line[:200], "verdict": v.verdict, "grounded": v.grounded,
                   "reason": v.reason} for v in score.steps.steps[:SAMPLE_STEPS]],
    }


class Evaluator:
    """Generates on every set's problems, scores them and builds the report."""

    def __init__(self, sets: Sequence[EvalSet], generate_fn: GenerateFn,
                 loss_fn: LossFn | None = None, batch_size: int = 256,
                 samples_per_set: int = 3, family_lookup: FamilyLookup = tasks.get,
                 loss_inputs: str = "text", trace_metrics: bool = True,
                 probes: Sequence[Any] = (), logprob_fn: Callable | None = None,
                 retry_marker: str = "", commentary_prefix: str = ""):
        names = [s.name for s in sets]
        if len(set(names)) != len(names):
            raise ValueError(f"Evaluator: set names must be unique, got {names}")
        if batch_size < 1:
            raise ValueError(f"Evaluator: batch_size must be >= 1, got {batch_size}")
        if loss_inputs not in ("text", "pairs"):
            raise ValueError("Evaluator: loss_inputs must be 'text' or 'pairs', "
                             f"got {loss_inputs!r}")
        self.loss_inputs = loss_inputs
        self.trace_metrics = trace_metrics
        self.sets = list(sets)
        self.generate_fn = generate_fn
        self.loss_fn = loss_fn
        self.batch_size = batch_size
        self.samples_per_set = samples_per_set
        self._lookup = family_lookup
        self.probes, self.logprob_fn = list(probes), logprob_fn
        self.retry_marker, self.commentary_prefix = retry_marker, commentary_prefix

    def prompts(self, eval_set: EvalSet) -> list[str]:
        family = self._lookup(eval_set.family)
        return [prompt_for(family, p, eval_set.style) for p in eval_set.problems]

    def generate(self, prompts: list[str]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            got = list(self.generate_fn(chunk))
            if len(got) != len(chunk):
                raise ValueError(f"generate_fn returned {len(got)} completions "
                                 f"for {len(chunk)} prompts")
            out.extend(got)
        return out

    def score_set(self, eval_set: EvalSet, prompts: Sequence[str], completions: Sequence[Any]
                  ) -> tuple[dict[str, Any], list[ProblemScore], list[dict[str, Any]]]:
        """(report entry, per-problem scores, samples) of one set."""
        entry, scores, samples, _ = self._score_set(eval_set, prompts, completions)
        return entry, scores, samples

    def _score_set(self, eval_set: EvalSet, prompts: Sequence[str], completions: Sequence[Any]):
        family = self._lookup(eval_set.family)
        scored = [scored_text(t, self.retry_marker, self.commentary_prefix) for t in completions]
        scores = [score_completion(family, p, s.text, eval_set.style)
                  for p, s in zip(eval_set.problems, scored)]
        entry = {"family": eval_set.family, "level": eval_set.level, "style": eval_set.style,
                 "trained": eval_set.trained, **aggregate(scores, self.trace_metrics)}
        if eval_set.group is not None:
            entry["group"] = eval_set.group
        if (self.retry_marker or self.commentary_prefix) and scored:
            entry["retracted_lines"] = sum(len(s.retracted) for s in scored) / len(scored)
            entry["commentary_lines"] = sum(s.commentary for s in scored) / len(scored)
        if eval_set.level is None and scores:  # mixed difficulty: break it down
            by: dict[int, list[ProblemScore]] = {}
            for p, s in zip(eval_set.problems, scores):
                by.setdefault(p.level, []).append(s)
            entry["by_level"] = {str(k): {"n": len(v), "answer_accuracy":
                                          sum(s.correct for s in v) / len(v)}
                                 for k, v in sorted(by.items())}
        if self.loss_fn is not None:
            pairs = [reference_pair(family, p, eval_set.style) for p in eval_set.problems]
            texts = pairs if self.loss_inputs == "pairs" else ["".join(pr) for pr in pairs]
            entry.update(loss_metrics(*self.loss_fn(texts)))
        samples = [sample_record(eval_set, p, prompt, text, s) for p, prompt, text, s
                   in list(zip(eval_set.problems, prompts, completions, scores))
                   [:self.samples_per_set]]
        return entry, scores, samples, scored

    def run(self, step: int | None = None) -> dict[str, Any]:
        """Generate, score and summarise every set."""
        prompts = [self.prompts(s) for s in self.sets]
        t0 = time.perf_counter()
        flat = self.generate([p for ps in prompts for p in ps])
        t1 = time.perf_counter()
        report: dict[str, Any] = {"step": step, "trace_metrics": self.trace_metrics,
                                  "sets": {}, "summary": {}, "samples": []}
        pooled: dict[str, list[ProblemScore]] = {"all": [], "trained": [], "untrained": []}
        pooled.update({s.group: [] for s in self.sets if s.group is not None})
        nll = {k: [0.0, 0] for k in pooled}  # pooled held-out (sum_nll, tokens)
        offset = 0
        by_set = {}
        for eval_set, ps in zip(self.sets, prompts):
            completions = flat[offset:offset + len(ps)]
            offset += len(ps)
            entry, scores, samples, scored = self._score_set(eval_set, ps, completions)
            by_set[eval_set.name] = (eval_set, ps, completions, scored)
            report["sets"][eval_set.name] = entry
            report["samples"].extend(samples)
            if eval_set.group is not None:
                pools = [eval_set.group]
            else:
                pools = ["all"] + ([] if eval_set.trained is None
                                   else ["trained" if eval_set.trained else "untrained"])
            for k in pools:
                pooled[k].extend(scores)
                if entry.get("loss_tokens"):
                    nll[k][0] += entry["loss"] * entry["loss_tokens"]
                    nll[k][1] += entry["loss_tokens"]
        report["summary"] = {k: aggregate(v, self.trace_metrics) for k, v in pooled.items() if v}
        if self.loss_fn is not None:
            for k, summary in report["summary"].items():
                summary.update(loss_metrics(*nll[k]))
        if self.probes:
            report["probes"] = {p.name: p.measure(by_set, self.logprob_fn) for p in self.probes}
        t2 = time.perf_counter()
        n = len(flat)
        report["timing"] = {"generate_seconds": t1 - t0, "score_seconds": t2 - t1,
                            "problems": n,
                            "problems_per_sec": n / (t2 - t1) if t2 > t1 else math.inf}
        return report
