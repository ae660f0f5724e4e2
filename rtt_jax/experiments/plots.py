"""Experiment figures (matplotlib Agg): accuracy against level per arm, and
learning curves per arm.

* ``accuracy_vs_level.png``: one panel per task family; per arm, the mean
  answer accuracy over seeds at each level with ± std bars; the trained levels
  are shaded, so generalisation to harder levels reads off the unshaded part.
* ``learning_curves.png``: training loss against step per arm, the mean over
  seeds with a ± std band.
"""
from __future__ import annotations

import os
from typing import Mapping

ACCURACY_PNG, CURVES_PNG = "accuracy_vs_level.png", "learning_curves.png"


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def accuracy_vs_level(results: Mapping, path: str, metric: str = "answer_accuracy") -> str | None:
    by_family: dict[str, list[tuple[int, str, bool | None]]] = {}
    for name, meta in results["sets"].items():
        if isinstance(meta.get("level"), int) and meta.get("family"):
            by_family.setdefault(meta["family"], []).append((meta["level"], name, meta["trained"]))
    if not by_family:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(by_family), figsize=(4.5 * len(by_family), 3.6), squeeze=False)
    for ax, (family, sets) in zip(axes[0], sorted(by_family.items())):
        sets.sort()
        trained = [lv for lv, _, t in sets if t]
        if trained:
            ax.axvspan(min(trained) - 0.5, max(trained) + 0.5, color="0.92", label="trained")
        for arm, a in results["arms"].items():
            xs, ys, es = [], [], []
            for level, name, _ in sets:
                ms = a["sets"].get(name, {}).get(metric) or {}
                if ms.get("mean") is not None:
                    xs.append(level)
                    ys.append(100 * ms["mean"])
                    es.append(100 * (ms.get("std") or 0.0))
            if xs:
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=arm)
        ax.set_title(family)
        ax.set_xlabel("level")
        ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
        ax.set_ylim(-3, 103)
        ax.legend(fontsize=8)
    fig.suptitle(f"{results['experiment']} ({results['variant']}): mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(results: Mapping, path: str) -> str | None:
    curves = {a: c for a, c in results.get("curves", {}).items() if c.get("step")}
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for arm, c in curves.items():
        mean, std = c["loss_mean"], [s or 0.0 for s in c["loss_std"]]
        ax.plot(c["step"], mean, label=arm)
        ax.fill_between(c["step"], [m - s for m, s in zip(mean, std)],
                        [m + s for m, s in zip(mean, std)], alpha=0.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats / target token)")
    ax.set_yscale("log")
    ax.set_title("Loss is per target token, so arms with different targets are "
                 "not comparable by level", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(results: Mapping, out: str) -> dict[str, str]:
    """Both figures under ``out``; ``{title: path}`` of those drawn (matplotlib
    missing: none, and the markdown simply has no figures)."""
    try:
        _pyplot()
    except ImportError:
        return {}
    drawn = {}
    for title, fn, name in (("accuracy against level", accuracy_vs_level, ACCURACY_PNG),
                            ("learning curves", learning_curves, CURVES_PNG)):
        path = fn(results, os.path.join(out, name))
        if path:
            drawn[title] = path
    return drawn
