"""A sweep's scores: each point's metric over its runs, and the best point.

``--metric`` is a per-set metric of the runs' ``report.json`` (in a summary
pool or one eval set: ``--scope``) or ``final_loss``, the last training loss
in ``metrics.jsonl``. Only complete runs count, and a run that could not be
read is listed as missing with its reason, never averaged as a zero.
"""
from __future__ import annotations

import json
import math
import os
from typing import Mapping, Sequence

from rtt_jax import paths
from rtt_jax.experiments import plan, results, seed_stats
from rtt_jax.experiments.definition import ExperimentError
from rtt_jax.experiments.execute import read_status
from rtt_jax.experiments.sweep_plan import Point
from rtt_jax.run_files import read_metrics

FINAL_LOSS = "final_loss"
# Metrics where lower is better; every other metric defaults to --goal=max.
LOWER_IS_BETTER = frozenset({FINAL_LOSS, "loss", "perplexity", "unparsed", "wrong"})


def report_metrics() -> list[str]:
    """The per-set metrics report.json can hold: what ``scoring.aggregate`` writes
    (asked of the function itself, so the list cannot drift), plus the optional
    ones (reasoning-gym score, held-out loss)."""
    from rtt_jax.evaluation.scoring import aggregate
    written = {k for k, v in aggregate([]).items() if k not in ("n", "ci", "denominators")}
    return sorted(written | {"rg_score", "loss", "perplexity"})


def check_metric(metric: str) -> None:
    if metric != FINAL_LOSS and metric not in report_metrics():
        raise ExperimentError(f"--metric={metric}: not a report.json metric; expected "
                              f"{FINAL_LOSS} or one of {', '.join(report_metrics())}")


def default_goal(metric: str) -> str:
    return "min" if metric in LOWER_IS_BETTER else "max"


def read_metric(run: plan.Run, metric: str, scope: str | None) -> tuple[float | None, str]:
    """``(value, "")`` for a complete run that measured ``metric`` in ``scope``,
    else ``(None, why not)``. Only complete runs count, so the loss of a run
    that stopped on a NaN or was killed is never read as its final loss."""
    if not run.complete:
        return None, results.missing_reason(run)
    if metric == FINAL_LOSS:
        value = results.final_loss(read_metrics(run.workdir))
        return (value, "") if value is not None else (None, "no finite loss in metrics.jsonl")
    try:
        with paths.open_text(os.path.join(run.workdir, plan.REPORT)) as f:
            report = json.load(f)
        if scope in results.POOLS:
            entry = report.get("summary", {}).get(scope)
            kind = "summary pool"
        else:
            entry = report.get("sets", {}).get(scope)
            kind = "eval set"
    except (OSError, ValueError, AttributeError) as e:
        return None, f"unreadable {plan.REPORT}: {e}"
    if not isinstance(entry, dict):
        known = sorted(report.get("sets", {})) if kind == "eval set" else sorted(
            report.get("summary", {}))
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        return None, f"{plan.REPORT} has no {kind} {scope!r} (has: {listed})"
    value = entry.get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None, f"{metric} not measured in {scope} ({value!r} in {plan.REPORT})"
    return float(value), ""


def collect_point(point: Point, runs: Sequence[plan.Run], metric: str, scope: str | None,
                  tokens_per_run: int | None) -> dict:
    """One entry of sweep.json's ``points`` from the point's run workdirs."""
    values, missing, seconds = {}, [], []
    for run in runs:
        value, why = read_metric(run, metric, scope)
        if value is None:
            missing.append({"seed": run.seed, "reason": why})
            continue
        values[run.seed] = value
        took = read_status(run).get("seconds")
        if isinstance(took, (int, float)):  # the last attempt's wall time
            seconds.append(took)
    ms = seed_stats.mean_std(values.values())
    secs = seed_stats.mean_std(seconds)["mean"]
    return {"name": point.name, "overrides": dict(point.overrides), "mean": ms["mean"],
            "std": ms["std"], "n": ms["n"], "values": values, "missing": missing,
            "tokens_per_run": tokens_per_run,
            "seconds": None if secs is None else round(secs, 1)}


def best_point(points: Sequence[Mapping], goal: str) -> Mapping | None:
    """The point with the best mean among those with a value (first on ties)."""
    measured = [p for p in points if p["n"] >= 1]
    if not measured:
        return None
    sign = -1.0 if goal == "max" else 1.0
    return min(measured, key=lambda p: sign * p["mean"])
