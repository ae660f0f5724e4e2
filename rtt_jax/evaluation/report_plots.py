"""Report figures with matplotlib's Agg backend (no display needed).

* ``accuracy_by_level``: one panel per family, answer accuracy and step
  validity (95% intervals) against level, the trained range shaded, so
  generalisation beyond training reads off the unshaded part.
* ``learning_curves``: from ``metrics.jsonl`` rows (``step``, ``loss``,
  ``eval/...`` keys): training loss, held-out losses, and eval accuracies
  against step.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

from rtt_jax import paths
from rtt_jax.run_files import read_metrics

ACCURACY_PNG, CURVES_PNG = "accuracy_by_level.png", "learning_curves.png"
MAX_CURVES = 12  # more lines than this make an unreadable legend


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)  # headless: TPU VMs and CI have no display
    import matplotlib.pyplot as plt
    return plt


def _num(v: Any) -> float:
    """A plottable float; strings such as "nan" (MetricWriter's) become NaN."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _errorbar(ax, xs, entries, key, label, fmt):
    ys = [_num(e.get(key)) for e in entries]
    cis = [e.get("ci", {}).get(key) or [None, None] for e in entries]
    lo = [y - _num(c[0]) if c[0] is not None else 0.0 for y, c in zip(ys, cis)]
    hi = [_num(c[1]) - y if c[1] is not None else 0.0 for y, c in zip(ys, cis)]
    lo = [0.0 if math.isnan(v) else max(v, 0.0) for v in lo]
    hi = [0.0 if math.isnan(v) else max(v, 0.0) for v in hi]
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt=fmt, capsize=3, label=label)


def accuracy_by_level(report: Mapping[str, Any], trained: Mapping[str, list[int]],
                      workdir: str) -> str:
    """Write accuracy_by_level.png; returns its path."""
    plt = _pyplot()
    by_family: dict[str, list[Mapping[str, Any]]] = {}
    for name, e in report["sets"].items():
        if e.get("level") is not None:
            by_family.setdefault(e["family"], []).append(e)
        elif e.get("by_level"):  # a mixed-level set (GSM8K, Lee's test): its breakdown
            by_family[name] = [{"level": int(k), **v} for k, v in e["by_level"].items()]
    families = sorted(by_family) or ["(no levelled sets)"]
    cols = min(3, len(families))
    rows = math.ceil(len(families) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, family in zip(axes.flat, families):
        entries = sorted(by_family.get(family, []), key=lambda e: e["level"])
        xs = [e["level"] for e in entries]
        levels = trained.get(family) or []
        if levels:
            ax.axvspan(min(levels) - 0.5, max(levels) + 0.5, color="tab:green", alpha=0.12,
                       label="trained levels")
        if entries:
            _errorbar(ax, xs, entries, "answer_accuracy", "answer accuracy", "o-")
            _errorbar(ax, xs, entries, "step_validity", "step validity", "s--")
        ax.set_title(family)
        ax.set_xlabel("level")
        ax.set_ylim(-0.03, 1.03)
        if xs:
            ax.set_xticks(sorted(set(xs)))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(families):]:
        ax.axis("off")
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Accuracy by level (step {report.get('step')}), 95% intervals")
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # leave room for the suptitle
    path = os.path.join(workdir, ACCURACY_PNG)
    paths.save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def _series(rows, key):
    pts = [(_num(r["step"]), _num(r[key])) for r in rows if key in r]
    return [p for p in pts if not math.isnan(p[1])]


def learning_curves(workdir: str) -> str | None:
    """Write learning_curves.png from workdir's metrics.jsonl; None if there is
    nothing to plot."""
    rows = read_metrics(workdir)
    keys = sorted({k for r in rows for k in r})
    # Training loss first, then pooled held-out losses, then per-set ones.
    loss_keys = (["loss"] if "loss" in keys else []) + sorted(
        (k for k in keys if k.startswith("eval/") and k.endswith("/loss")),
        key=lambda k: (not k.startswith("eval/all/"), k))
    acc_keys = [k for k in keys if k.startswith("eval/") and k.endswith("/answer_accuracy")]
    # Pooled summaries first: with many sets they are the readable lines.
    acc_keys = sorted(acc_keys, key=lambda k: (not k.startswith("eval/all/"), k))[:MAX_CURVES]
    if not rows or not (loss_keys or acc_keys):
        return None
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax in (ax_loss, ax_acc):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)  # 12+ lines need 12+ colours
    for k in loss_keys[:MAX_CURVES]:
        pts = _series(rows, k)
        if pts:
            ax_loss.plot(*zip(*pts), label="train loss" if k == "loss" else k[5:],
                         lw=1 if k == "loss" else 1.5, marker=None if k == "loss" else "o", ms=3)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss (nats/token)")
    ax_loss.set_title("loss")
    for k in acc_keys:
        pts = _series(rows, k)
        if pts:
            ax_acc.plot(*zip(*pts), marker="o", ms=3, label=k[5:-len("/answer_accuracy")])
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("answer accuracy")
    ax_acc.set_ylim(-0.03, 1.03)
    ax_acc.set_title("eval answer accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(workdir, CURVES_PNG)
    paths.save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path
