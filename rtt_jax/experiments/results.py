"""Collecting an experiment's runs into ``results.json`` and ``results.md``.

``results.json`` (contract)::

    {"experiment", "claim", "variant", "baseline", "seeds": [...],
     "budget": {"kind": "tokens" | "examples", "tokens_per_run": {arm: n},
                "steps": {arm: n}},
     "metrics": ["answer_accuracy", "step_validity", "consistency",
                 "items_from_prompt", "prompt_items_right"],
     "sets": {set: {"family", "level", "trained", "n"}},
     "arms": {arm: {
         "seeds_completed": int, "seeds": [completed seeds],
         "missing": [{"seed", "reason"}],
         "sets":    {set: {metric: {"mean", "std", "n", "values"}}},
         "summary": {"all" | "trained" | "untrained": {metric: {...}}},
         "diff_vs_baseline": {set or "summary/<pool>": {metric:
                              {"diff", "ci", "method", "n_pairs"}}},
         "train": {"final_loss", "target_tokens", "examples": {...}}}},
     "curves": {arm: {"step": [...], "loss_mean": [...], "loss_std": [...]}},
     "eval_curves": {arm: {"step": [...], "tokens": [...], "mean": [...], "std": [...]}},
     "steps": {step: {"seed_S" | "once": done.json's summary | {"missing": reason}}}}

``eval_curves`` (runs that evaluated during training, ``eval.every_steps``):
answer accuracy pooled over the trained levels' sets at each eval step and at
the end, mean and std over seeds, against training token positions (steps x
rows x seq_len): where the effect starts. Absent when no run evaluated before
its end.

``steps`` is present for experiments with steps (``spec.Step``): what each
step reported (a teacher's acceptance per level, a round's kept traces).

A run without a readable ``report.json`` is listed under ``missing`` with the
reason (its ``run_status.json`` error line, or "not run"); its metrics are
simply absent from the means, never counted as zero. ``mean``/``std`` are
None when no seed measured a metric (e.g. step validity of answer-only runs).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Sequence

from rtt_jax import paths
from rtt_jax.experiments import seed_stats
from rtt_jax.experiments.plan import REPORT, Run
from rtt_jax.experiments.execute import read_status
from rtt_jax.experiments.definition import Experiment
from rtt_jax.run_files import read_metrics, strict_json

# The copy probe's two headline rates join them (rtt_jax.evaluation.copy_probe).
METRICS = ("answer_accuracy", "step_validity", "consistency", "items_from_prompt",
           "prompt_items_right")
POOLS = ("all", "trained", "untrained")
RESULTS_JSON, RESULTS_MD = "results.json", "results.md"
_MAX_CURVE_POINTS = 200


def _read_json(path: str) -> Any:
    with paths.open_text(path) as f:
        return json.load(f)


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) \
        and math.isfinite(v) else None


def final_loss(rows: Sequence[dict]) -> float | None:
    """The last finite training ``loss`` logged in metrics.jsonl rows (None if none)."""
    losses = [_num(r.get("loss")) for r in rows]
    return next((v for v in reversed(losses) if v is not None), None)


def _train_figures(rows: Sequence[dict], steps: int) -> dict:
    """Final loss and (estimated from the logged steps) targets and examples."""
    train_rows = [r for r in rows if _num(r.get("loss")) is not None]
    out: dict[str, float | None] = {"final_loss": None, "target_tokens": None, "examples": None}
    if not train_rows:
        return out
    out["final_loss"] = final_loss(train_rows)
    for key in ("target_tokens", "examples"):
        vals = [_num(r.get(key)) for r in train_rows if _num(r.get(key)) is not None]
        if vals:  # metrics are logged every log_every_steps: scale the mean per step
            out[key] = sum(vals) / len(vals) * steps
    return out


def _curve(rows: Sequence[dict]) -> dict[int, float]:
    return {int(r["step"]): float(r["loss"]) for r in rows
            if isinstance(r.get("step"), int) and _num(r.get("loss")) is not None}


def _eval_curve(rows: Sequence[dict], report: Mapping, sets_meta: Mapping) -> dict[int, float]:
    """Step -> answer accuracy pooled over the trained sets (weighted by their
    problems), from the eval rows of metrics.jsonl and the final report."""
    trained = {name: meta.get("n") or 0 for name, meta in sets_meta.items() if meta.get("trained")}
    out = {}
    for r in rows:
        if not isinstance(r.get("step"), int):
            continue
        vals = [(_num(r.get(f"eval/{name}/answer_accuracy")), n) for name, n in trained.items()]
        if trained and all(v is not None for v, _ in vals) and sum(n for _, n in vals):
            out[r["step"]] = sum(v * n for v, n in vals) / sum(n for _, n in vals)
    final = _num(report.get("summary", {}).get("trained", {}).get("answer_accuracy"))
    if isinstance(report.get("step"), int) and final is not None:
        out[report["step"]] = final
    return out


def _thin(steps: list[int]) -> list[int]:
    if len(steps) <= _MAX_CURVE_POINTS:
        return steps
    stride = math.ceil(len(steps) / _MAX_CURVE_POINTS)
    return steps[::stride] + ([steps[-1]] if (len(steps) - 1) % stride else [])


def missing_reason(run: Run) -> str:
    """Why an incomplete run has no report: its run_status.json error line, its
    exit code, or "not run"."""
    status = read_status(run)
    return status.get("error") or ("not run" if "rc" not in status
                                   else f"exit code {status['rc']}")


def collect(experiment: Experiment, variant: str, runs: Sequence[Run],
            budget: Mapping[str, Any]) -> dict:
    """The results dict (module doc) from the runs' workdirs."""
    step_runs = [r for r in runs if r.kind == "step"]
    runs = [r for r in runs if r.kind == "run"]
    arms = list(dict.fromkeys(r.arm for r in runs))
    seeds = sorted({r.seed for r in runs})
    per_run: dict[str, dict[int, dict]] = {a: {} for a in arms}
    missing: dict[str, list[dict]] = {a: [] for a in arms}
    sets_meta: dict[str, dict] = {}
    curves: dict[str, list[dict[int, float]]] = {a: [] for a in arms}
    train: dict[str, list[dict]] = {a: [] for a in arms}
    eval_rows: dict[str, list[tuple[list[dict], dict]]] = {a: [] for a in arms}
    for run in runs:
        report = None
        if run.complete:
            try:
                report = _read_json(os.path.join(run.workdir, REPORT))
                if not isinstance(report.get("sets"), dict):
                    raise ValueError("no 'sets'")
            except (OSError, ValueError, AttributeError) as e:
                missing[run.arm].append({"seed": run.seed,
                                         "reason": f"unreadable {REPORT}: {e}"})
                continue
        if report is None:
            missing[run.arm].append({"seed": run.seed, "reason": missing_reason(run)})
            continue
        per_run[run.arm][run.seed] = report
        for name, entry in report["sets"].items():
            meta = sets_meta.setdefault(name, {k: entry.get(k) for k in
                                               ("family", "level", "trained", "n")})
            meta["n"] = max(meta.get("n") or 0, entry.get("n") or 0)
        rows = read_metrics(run.workdir)
        eval_rows[run.arm].append((rows, report))
        curves[run.arm].append(_curve(rows))
        train[run.arm].append(_train_figures(rows, budget["steps"].get(run.arm, 0)))

    def values(arm, pick):
        return {s: pick(rep) for s, rep in per_run[arm].items()}

    out_arms = {}
    base = experiment.baseline
    for arm in arms:
        entry: dict[str, Any] = {
            "seeds_completed": len(per_run[arm]), "seeds": sorted(per_run[arm]),
            "missing": missing[arm], "sets": {}, "summary": {}, "diff_vs_baseline": {}}
        for name, meta in sets_meta.items():
            entry["sets"][name] = {}
            for metric in METRICS:
                def pick(rep, n=name, m=metric):
                    return rep["sets"].get(n, {}).get(m)
                entry["sets"][name][metric] = seed_stats.mean_std(values(arm, pick).values())
                if arm != base and base in per_run:
                    entry["diff_vs_baseline"].setdefault(name, {})[metric] = seed_stats.difference(
                        values(arm, pick), values(base, pick), meta.get("n"))
        for pool in POOLS:
            pool_vals = {}
            for metric in METRICS:
                def pick(rep, p=pool, m=metric):
                    return rep.get("summary", {}).get(p, {}).get(m)
                vals = values(arm, pick)
                if not any(_num(v) is not None for v in vals.values()):
                    continue
                pool_vals[metric] = seed_stats.mean_std(vals.values())
                if arm != base and base in per_run:
                    n = next((rep["summary"][pool].get("n") for rep in per_run[arm].values()
                              if pool in rep.get("summary", {})), None)
                    entry["diff_vs_baseline"].setdefault(f"summary/{pool}", {})[metric] = \
                        seed_stats.difference(vals, values(base, pick), n)
            if pool_vals:
                entry["summary"][pool] = pool_vals
        entry["train"] = {k: seed_stats.mean_std(t[k] for t in train[arm])
                          for k in ("final_loss", "target_tokens", "examples")}
        out_arms[arm] = entry

    out_curves = {}
    for arm in arms:
        mc = seed_stats.mean_curve(curves[arm])
        steps = _thin(sorted(mc))
        out_curves[arm] = {"step": steps, "loss_mean": [mc[s]["mean"] for s in steps],
                           "loss_std": [mc[s]["std"] for s in steps]}
    out = {"experiment": experiment.name, "claim": experiment.claim, "variant": variant,
           "baseline": base, "seeds": seeds, "budget": dict(budget), "metrics": list(METRICS),
           "sets": dict(sorted(sets_meta.items(), key=lambda kv: _set_key(kv[0], kv[1]))),
           "arms": out_arms, "curves": out_curves}
    eval_curves = {}
    for arm in arms:
        mc = seed_stats.mean_curve([_eval_curve(rows, rep, sets_meta) for rows, rep in eval_rows[arm]])
        if len(mc) > 1:  # more than the final report: the run evaluated during training
            per_step = budget.get("tokens_per_run", {}).get(arm, 0) / max(
                budget["steps"].get(arm, 0), 1)
            eval_curves[arm] = {"step": sorted(mc), "tokens": [round(s * per_step) for s in sorted(mc)],
                                "mean": [mc[s]["mean"] for s in sorted(mc)],
                                "std": [mc[s]["std"] for s in sorted(mc)]}
    if eval_curves:
        out["eval_curves"] = eval_curves
    if step_runs:
        out["steps"] = step_summaries(step_runs)
    return out


def step_summaries(steps: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """``{step: {"seed_S" | "once": summary}}`` from the steps' ``done.json``
    (``{"missing": reason}`` for a step that did not complete)."""
    out: dict[str, dict[str, Any]] = {}
    for run in steps:
        key = "once" if run.seed is None else f"seed_{run.seed}"
        try:
            summary = _read_json(os.path.join(run.workdir, run.done))
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            summary = {"missing": missing_reason(run) if not run.complete
                       else f"unreadable {run.done}: {e}"}
        out.setdefault(run.arm, {})[key] = summary
    return out


def _set_key(name: str, meta: Mapping) -> tuple:
    level = meta.get("level")
    return (meta.get("family") or "", level if isinstance(level, int) else 10 ** 6, name)


def write_json(results: Mapping, out: str) -> str:
    path = os.path.join(out, RESULTS_JSON)
    with paths.open_text(path, "w") as f:
        json.dump(strict_json(dict(results)), f, indent=1)
    return path
