"""Scoring completions: one ``ProblemScore`` per completion, then set metrics.

``score_completion`` asks the problem's family (its ``check_answer`` and
``check_steps``; they parse, never execute) and adds the extraction outcome
and trace length. A completion that is not text or is longer than
``MAX_CHECK_CHARS`` is scored wrong without reaching any checker.

``aggregate`` turns a list of scores into the per-set metrics below, each with
a 95% interval in ``ci`` and its denominator in ``denominators``:

=============================  ==============================================
answer_accuracy                correct answers / problems (Wilson)
unparsed                       no answer (no marker, empty) / problems
wrong                          answered but wrong, or rejected / problems
step_validity                  valid grounded steps / all steps (ratio, traces
                               as clusters; traces with no steps drop out)
fully_valid_traces             traces whose every step is valid / problems
consistency                    answer_follows (the answer is what the steps
                               computed) / *answered* traces
verified                       correct and fully valid and consistent / problems
right_answer_invalid_steps     correct but not fully valid / problems
valid_steps_wrong_answer       fully valid but not correct / problems
mean_trace_lines, _chars       t interval
rg_score (reasoning-gym only)  mean of reasoning-gym's own score_answer
items_from_prompt, ...         the copy probe (``copy_probe``): how often a
                               trace line's names and numbers occur in the
                               prompt, and how often they are the solver's
=============================  ==============================================

The two "disagreement" rates are cells of the (answer right?) x (steps all
valid?) table over all problems, so they add up with ``verified``-like cells
and can be compared across sets of different accuracy.

``TRACE_METRICS`` judge the steps a model writes. A model trained on answers
alone writes none, and scoring its "#### 42" as steps would give a
consistency and a share of fully valid traces of 0, which reads as "its
reasoning is always wrong" and enters arm differences as a large, "significant"
effect. So ``aggregate(..., trace_metrics=False)`` reports them as None (not
applicable; null in report.json, "–" in tables), with no interval.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Sequence

from rtt_jax.evaluation import copy_probe
from rtt_jax.evaluation import extraction as ex
from rtt_jax.evaluation import intervals
from rtt_jax.tasks.answers import readable
from rtt_jax.tasks.base import Problem, StepReport, StepVerdict, UNPARSEABLE

CORRECT, WRONG, UNPARSED = "correct", "wrong", "unparsed"
# Metrics about the steps of a trace: None for a model trained without traces.
TRACE_METRICS = ("step_validity", "fully_valid_traces", "consistency", "verified",
                 "right_answer_invalid_steps", "valid_steps_wrong_answer",
                 *copy_probe.METRIC_NAMES)
# reasoning-gym datasets whose ``score_answer`` we read and found to parse with
# regexes/float() only. Others are skipped: some (polynomials, integration)
# hand the answer to sympy, which evaluates text.
RG_SCORE_SAFE = frozenset({"chain_sum", "basic_arithmetic", "products", "simple_equations",
                           "gcd", "lcm", "base_conversion", "leg_counting", "gsm_symbolic",
                           "family_relationships"})


@dataclasses.dataclass(frozen=True)
class ProblemScore:
    outcome: str  # CORRECT | WRONG | UNPARSED
    extraction: ex.Extraction
    steps: StepReport
    lines: int
    chars: int
    seconds: float  # time spent scoring (not generating)
    rg_score: float | None = None
    checker_error: str = ""  # non-empty if a family checker raised (a bug to fix)
    copy: copy_probe.CopyCounts | None = None  # None: unreadable text, not probed

    @property
    def correct(self) -> bool:
        return self.outcome == CORRECT

    @property
    def steps_total(self) -> int:
        return len(self.steps.steps)

    @property
    def all_valid(self) -> bool:
        return self.steps.all_valid

    @property
    def answer_follows(self) -> bool:
        return bool(self.steps.answer_follows)


def _rejected(reason: str) -> StepReport:
    return StepReport((StepVerdict("", UNPARSEABLE, False, reason),), False)


def style_for(family: Any, problem: Problem, style: str | None) -> str | None:
    """``style`` if the checkers can read this problem in it, else None (any)."""
    if style is None or style not in getattr(family, "styles", ()):
        return None
    if hasattr(family, "styles_for") and style not in family.styles_for(problem):
        return None  # reasoning-gym items that our solvers do not cover
    return style


def score_completion(family: Any, problem: Problem, text: Any, style: str | None = None,
                     with_rg_score: bool = True) -> ProblemScore:
    """Score one completion of ``problem``; never raises on hostile text."""
    t0 = time.perf_counter()
    lines, chars = ex.trace_length(text)
    style = style_for(family, problem, style)
    error, copied = "", None
    if readable(text) is None:  # too long or not text: wrong, unread
        extraction = ex.extract(text)
        correct, report = False, _rejected(extraction.status)
    else:
        try:
            extraction = ex.extract(text, family, problem, style)
            correct = bool(family.check_answer(problem, text, style))
            report = family.check_steps(problem, text, style)
            copied = copy_probe.probe_completion(family, problem, text, style)
        except Exception as e:  # noqa: BLE001 - a checker bug must not end an eval run
            error = f"{type(e).__name__}: {str(e)[:200]}"
            extraction = ex.Extraction(ex.NO_MARKER, None)
            correct, report, copied = False, _rejected(f"checker error: {error}"), None
    if correct:
        outcome = CORRECT
    elif extraction.unparsed:
        outcome = UNPARSED
    else:
        outcome = WRONG
    rg = None
    if with_rg_score and getattr(family, "dataset", None) in RG_SCORE_SAFE:
        try:
            rg = float(family.rg_score(problem, text)) if readable(text) is not None else 0.0
        except Exception:  # noqa: BLE001 - reasoning-gym's scorer on hostile text
            rg = 0.0
    return ProblemScore(outcome, extraction, report, lines, chars,
                        time.perf_counter() - t0, rg, error, copied)


def _put(out: dict, name: str, est: intervals.Estimate) -> None:
    out[name] = est.value
    out["ci"][name] = [est.lo, est.hi]
    out["denominators"][name] = est.n


def aggregate(scores: Sequence[ProblemScore], trace_metrics: bool = True) -> dict[str, Any]:
    """Set-level metrics (floats, NaN when undefined) with intervals.

    ``trace_metrics=False`` (a model trained without traces): ``TRACE_METRICS``
    are None, their ``ci`` and denominators too (module doc)."""
    n = len(scores)
    out: dict[str, Any] = {"n": n, "ci": {}, "denominators": {}}

    def count(pred) -> int:
        return sum(1 for s in scores if pred(s))

    _put(out, "answer_accuracy", intervals.wilson(count(lambda s: s.correct), n))
    _put(out, "unparsed", intervals.wilson(count(lambda s: s.outcome == UNPARSED), n))
    _put(out, "wrong", intervals.wilson(count(lambda s: s.outcome == WRONG), n))
    _put(out, "step_validity", intervals.ratio_ci([s.steps.valid for s in scores],
                                              [s.steps_total for s in scores]))
    _put(out, "fully_valid_traces", intervals.wilson(count(lambda s: s.all_valid), n))
    answered = [s for s in scores if s.extraction.status == ex.OK]
    _put(out, "consistency", intervals.wilson(sum(s.answer_follows for s in answered), len(answered)))
    _put(out, "verified", intervals.wilson(
        count(lambda s: s.correct and s.all_valid and s.answer_follows), n))
    _put(out, "right_answer_invalid_steps",
         intervals.wilson(count(lambda s: s.correct and not s.all_valid), n))
    _put(out, "valid_steps_wrong_answer",
         intervals.wilson(count(lambda s: s.all_valid and not s.correct), n))
    _put(out, "mean_trace_lines", intervals.mean_ci([s.lines for s in scores]))
    _put(out, "mean_trace_chars", intervals.mean_ci([s.chars for s in scores]))
    for name, est in copy_probe.aggregate_copy([s.copy for s in scores]).items():
        _put(out, name, est)
    rg = [s.rg_score for s in scores if s.rg_score is not None]
    if rg:
        _put(out, "rg_score", intervals.mean_ci(rg))
    out["steps_total"] = sum(s.steps_total for s in scores)
    out["steps_valid"] = sum(s.steps.valid for s in scores)
    out["steps_invalid"] = sum(s.steps.invalid for s in scores)
    out["steps_unparseable"] = sum(s.steps.unparseable for s in scores)
    out["rejected"] = count(lambda s: s.extraction.status in ex.REJECTED_STATUSES)
    out["checker_errors"] = count(lambda s: bool(s.checker_error))
    out["max_score_seconds"] = max((s.seconds for s in scores), default=0.0)
    if not trace_metrics:
        for name in TRACE_METRICS:
            out[name] = out["ci"][name] = out["denominators"][name] = None
    return out


def loss_metrics(sum_nll: float, n_tokens: int) -> dict[str, float]:
    """Held-out loss (mean NLL per token, nats) and perplexity."""
    if n_tokens <= 0:
        return {"loss": math.nan, "perplexity": math.nan, "loss_tokens": 0}
    loss = float(sum_nll) / n_tokens
    # exp overflows past ~709 nats; an untrained model can get there.
    return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else math.inf,
            "loss_tokens": int(n_tokens)}
