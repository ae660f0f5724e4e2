"""Writing an evaluator report: report.json, report.md, samples.jsonl, plots.

``write_report(report, workdir, trained_levels)`` writes, under ``workdir``:

* ``report.json``: the report (``Evaluator.run``) without its samples, with
  ``trained_levels`` resolved per family. Non-finite floats become null so
  the file is strict JSON. Contract: ``report["sets"][name]`` has
  ``answer_accuracy``, ``step_validity``, ``consistency``, ``n``, ``level``,
  ``family`` (and the rest of ``scoring.aggregate``); the step metrics are
  null for a model trained without traces (``"trace_metrics": false``).
* ``report.md``: a summary table, then one table per family, rows by level,
  untrained levels marked.
* ``samples.jsonl``: the sampled traces with their step verdicts, as the
  report's step's rows (``rtt_jax.run_files.write_samples``: earlier steps'
  rows are kept).
* ``accuracy_by_level.png`` and, if ``workdir/metrics.jsonl`` exists,
  ``learning_curves.png`` (see ``rtt_jax.evaluation.report_plots``).

``flat_metrics(report)`` is the report as flat ``eval/<set>/<metric>``
scalars, what the training loop logs at an eval step.

Only process 0 should call it (the caller decides; this module has no JAX).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, Mapping

from rtt_jax import paths as paths_lib
from rtt_jax.run_files import strict_json, write_samples

REPORT_JSON, REPORT_MD = "report.json", "report.md"
# Scalars worth a curve in metrics.jsonl / TensorBoard; the full report holds the rest.
CURVE_METRICS = ("answer_accuracy", "step_validity", "fully_valid_traces", "consistency",
                 "unparsed", "loss", "items_from_prompt", "prompt_items_right", "items_invented")
TrainedLevels = Mapping[str, Iterable[int]] | Iterable[int] | None


def resolve_trained_levels(report: Mapping[str, Any], trained_levels: TrainedLevels
                           ) -> dict[str, list[int]]:
    """family -> sorted trained levels. A plain iterable applies to every
    family; None keeps what the sets were built with (their ``trained`` flag)."""
    families = sorted({e["family"] for e in report["sets"].values()})
    if trained_levels is None:
        return {f: sorted({e["level"] for e in report["sets"].values()
                           if e["family"] == f and e.get("trained") and e["level"] is not None})
                for f in families}
    if isinstance(trained_levels, Mapping):
        return {f: sorted(int(v) for v in trained_levels.get(f, ())) for f in families}
    levels = sorted(int(v) for v in trained_levels)
    return {f: levels for f in families}


def flat_metrics(report: Mapping[str, Any],
                 keys: Iterable[str] = CURVE_METRICS) -> dict[str, float]:
    """The report's numbers as flat scalars for metrics.jsonl and TensorBoard:
    ``eval/all/<metric>`` (the pool of every set) and ``eval/<set>/<metric>``."""
    out = {}
    for scope, entry in [("all", report["summary"]["all"]), *report["sets"].items()]:
        for k in keys:
            v = entry.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"eval/{scope}/{k}"] = float(v)
    return out


def _fmt(entry: Mapping[str, Any], key: str, digits: int = 3) -> str:
    v = entry.get(key)
    if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
        return "–"
    ci = entry.get("ci", {}).get(key)
    if ci and all(isinstance(c, (int, float)) and math.isfinite(c) for c in ci):
        return f"{v:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return f"{v:.{digits}f}"


_COLUMNS = (("answer_accuracy", "accuracy"), ("step_validity", "step validity"),
            ("consistency", "consistency"), ("fully_valid_traces", "fully valid"),
            ("right_answer_invalid_steps", "right ans., bad steps"),
            ("valid_steps_wrong_answer", "good steps, wrong ans."),
            ("unparsed", "unparsed"))


# The copy probe's table (``copy_probe``): names and numbers of trace lines.
_COPY_COLUMNS = (("items_from_prompt", "from prompt"), ("prompt_items_right", "copied & right"),
                 ("items_right", "right"), ("items_invented", "invented"),
                 ("names_from_prompt", "names from prompt"), ("names_right", "names right"))


def _copy_section(report: Mapping[str, Any]) -> list[str]:
    """The copy probe per summary pool and per set (none for a model trained
    without traces, or when no trace line had an item)."""
    rows = [(k, v) for k, v in report.get("summary", {}).items()] + sorted(
        report["sets"].items(), key=lambda t: (t[1]["family"], t[1]["level"] or 0, t[0]))
    if not any(isinstance(e.get("items_from_prompt"), (int, float)) and
               not math.isnan(e["items_from_prompt"]) for _, e in rows):
        return []
    cols = ["pool or set"] + [h for _, h in _COPY_COLUMNS]
    out = ["## Copy probe", "",
           "Names and numbers of the trace lines (`rtt_jax.evaluation.copy_probe`): the "
           "share found in the prompt, the share of those that are the solver's for that "
           "line, the share that are the solver's, and the share found nowhere (not in the "
           "prompt, not on an earlier line, not the solver's).", "",
           "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join([name] + [_fmt(e, k) for k, _ in _COPY_COLUMNS]) + " |"
            for name, e in rows]
    return out + [""]


def _row(label: list[str], entry: Mapping[str, Any]) -> str:
    cells = label + [str(entry.get("n", 0))] + [_fmt(entry, k) for k, _ in _COLUMNS]
    cells.append(_fmt(entry, "mean_trace_lines", 1))
    if "loss" in entry:
        cells.append(f"{_fmt(entry, 'loss')} / {_fmt(entry, 'perplexity', 2)}")
    return "| " + " | ".join(cells) + " |"


def _header(first: list[str], with_loss: bool) -> list[str]:
    cols = first + ["n"] + [h for _, h in _COLUMNS] + ["mean lines"]
    cols += ["loss / ppl"] if with_loss else []
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def markdown(report: Mapping[str, Any], trained: Mapping[str, list[int]]) -> str:
    """report.md's text: summary, then one table per family by level."""
    lines = [f"# Evaluation report (step {report.get('step')})", "",
             "Values are point estimates with 95% intervals: Wilson for rates, a "
             "trace-clustered ratio interval for step validity. `consistency` is over "
             "answered traces; the other rates are over all problems. Levels marked "
             "`no` under *trained* lie outside the training range.", ""]
    if report.get("trace_metrics") is False:
        lines += ["Trained without traces (every training source is answer-only): step "
                  "validity, consistency and the other step metrics do not apply (–).", ""]
    with_loss = any("loss" in e for e in report["sets"].values())
    if report.get("summary"):
        lines += ["## Summary", ""] + _header(["pool"], with_loss)
        lines += [_row([k], v) for k, v in report["summary"].items()] + [""]
    by_family: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for name, e in report["sets"].items():
        by_family.setdefault(e["family"], []).append((name, e))
    for family in sorted(by_family):
        rng = trained.get(family) or []
        span = f"trained levels {rng[0]}–{rng[-1]}" if rng else "no trained levels recorded"
        lines += [f"## {family} ({span})", ""] + _header(["set", "level", "trained"], with_loss)
        for name, e in sorted(by_family[family], key=lambda t: (t[1]["level"] is None,
                                                                 t[1]["level"] or 0, t[0])):
            level, flag = e["level"], {True: "yes", False: "**no**"}.get(e.get("trained"), "–")
            lines.append(_row([name, "mixed" if level is None else str(level), flag], e))
        lines.append("")
    lines += _copy_section(report)
    timing = report.get("timing")
    if timing:
        lines += [f"Scored {timing.get('problems')} problems in "
                  f"{timing.get('score_seconds', 0):.2f} s; generation took "
                  f"{timing.get('generate_seconds', 0):.2f} s.", ""]
    return "\n".join(lines)


def write_report(report: Mapping[str, Any], workdir: str,
                 trained_levels: TrainedLevels = None, plots: bool = True) -> dict[str, str]:
    """Write the report files; returns {kind: path} of what was written."""
    paths_lib.makedirs(workdir)
    trained = resolve_trained_levels(report, trained_levels)
    body = {k: v for k, v in report.items() if k != "samples"}
    if trained_levels is not None:  # the caller's ranges override the sets' flags
        body["sets"] = {name: {**e, "trained": None if e["level"] is None
                               else e["level"] in trained.get(e["family"], [])}
                        for name, e in report["sets"].items()}
    body["trained_levels"] = trained
    paths = {"json": os.path.join(workdir, REPORT_JSON),
             "md": os.path.join(workdir, REPORT_MD)}
    with paths_lib.open_text(paths["json"], "w") as f:
        json.dump(strict_json(body), f, indent=1, sort_keys=True)
    paths_lib.write_text(paths["md"], markdown(body, trained))
    if report.get("samples"):
        paths["samples"] = write_samples(workdir, report.get("step"), report["samples"])
    if plots:
        try:
            from rtt_jax.evaluation import report_plots as plotting
            plotting._pyplot()
        except ImportError:  # matplotlib is the optional "plots" extra
            paths["plots_skipped"] = "matplotlib not installed (pip install -e '.[plots]')"
            return paths
        paths["accuracy_plot"] = plotting.accuracy_by_level(body, trained, workdir)
        curves = plotting.learning_curves(workdir)
        if curves:
            paths["learning_curves"] = curves
    return paths
