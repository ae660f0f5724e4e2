"""Experiment figures (matplotlib Agg): accuracy against level per arm, and
learning curves per arm.

* ``accuracy_vs_level.png``: one panel per task family; per arm, the mean
  answer accuracy over seeds at each level with ± std bars; the trained levels
  are shaded, so generalisation to harder levels reads off the unshaded part.
* ``learning_curves.png``: training loss against step per arm, the mean over
  seeds with a ± std band.
* ``accuracy_vs_tokens.png`` (runs that evaluated during training,
  ``eval.every_steps``): answer accuracy at the trained levels against
  training token positions per arm, the mean over seeds with a ± std band:
  where the effect starts, at the experiment's model size.
* ``data_sources.png`` (experiments whose steps report ``data_share``, e.g.
  the STaR rounds): each source's share of the training data the step fed,
  one stacked bar per step (mean over seeds).
* ``sweep.png`` (``rtt_jax.experiments.sweep``): one panel per swept field,
  the metric against that field's values with ± std bars, one line per
  combination of the other swept fields.
"""
from __future__ import annotations

import itertools
import os
from typing import Mapping

from rtt_jax import paths

ACCURACY_PNG, CURVES_PNG = "accuracy_vs_level.png", "learning_curves.png"
TOKENS_PNG = "accuracy_vs_tokens.png"
SOURCES_PNG = "data_sources.png"


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
    paths.save_figure(fig, path, dpi=110)
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
    paths.save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def accuracy_vs_tokens(results: Mapping, path: str) -> str | None:
    curves = {a: c for a, c in (results.get("eval_curves") or {}).items() if c.get("step")}
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for arm, c in curves.items():
        xs = c["tokens"]
        mean = [100 * m for m in c["mean"]]
        std = [100 * (s or 0.0) for s in c["std"]]
        ax.plot(xs, mean, marker="o", label=arm)
        ax.fill_between(xs, [m - s for m, s in zip(mean, std)],
                        [m + s for m, s in zip(mean, std)], alpha=0.2)
    ax.set_xlabel("training token positions")
    ax.set_ylabel("answer accuracy, trained levels (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{results['experiment']} ({results['variant']}): mean ± std over seeds "
                 f"{results['seeds']}", fontsize=9)
    fig.tight_layout()
    paths.save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def sweep_plot(sweep: Mapping, path: str) -> str:
    """The metric against each swept field (one panel per field); the x axis is
    logarithmic where numeric values span more than 10x (learning rates), so
    equal ratios sit at equal distances. Raises ImportError without matplotlib."""
    from rtt_jax.experiments.sweep_plan import short_names, value_text
    plt = _pyplot()
    grid = sweep["grid"]
    fields = list(grid)
    short = short_names(fields)
    by_key = {tuple(value_text(p["overrides"][f]) for f in fields): p for p in sweep["points"]}
    fig, axes = plt.subplots(1, len(fields), figsize=(4.5 * len(fields), 3.6), squeeze=False)
    for ax, field in zip(axes[0], fields):
        values = list(grid[field])
        numeric = _numeric(values)
        xs = values if numeric else list(range(len(values)))
        others = [f for f in fields if f != field]
        for combo in itertools.product(*(grid[o] for o in others)):
            fixed = dict(zip(others, combo))
            ys, es = [], []
            for v in values:
                p = by_key.get(tuple(value_text(v if f == field else fixed[f]) for f in fields))
                ok = p is not None and p["n"] >= 1
                ys.append(p["mean"] if ok else float("nan"))
                es.append((p["std"] or 0.0) if ok else 0.0)
            label = ", ".join(f"{short[o]}={value_text(c)}" for o, c in fixed.items()) or None
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
        if numeric and min(values) > 0 and max(values) / min(values) > 10:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(xs)  # the swept values themselves, written as on the command line
        ax.set_xticklabels([value_text(v) for v in values])
        ax.set_xlabel(short[field])
        ax.set_ylabel(sweep["metric"] + (f" ({sweep['scope']})" if sweep.get("scope") else ""))
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize=7)
    fig.suptitle(f"sweep {sweep['experiment']}/{sweep['arm']} ({sweep['variant']}): "
                 f"mean ± std over seeds, goal {sweep['goal']}")
    fig.tight_layout()
    paths.save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def data_sources(results: Mapping, path: str) -> str | None:
    """Stacked shares of each source per step that reports ``data_share``
    (None when no step does)."""
    shares: dict[str, dict[str, list[float]]] = {}
    for step, by_seed in (results.get("steps") or {}).items():
        for summary in by_seed.values():
            for source, share in (summary.get("data_share") or {}).items():
                shares.setdefault(step, {}).setdefault(source, []).append(float(share))
    if not shares:
        return None
    plt = _pyplot()
    steps = list(shares)
    sources = list(dict.fromkeys(s for by in shares.values() for s in by))
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(steps), 3.6))
    bottom = [0.0] * len(steps)
    for source in sources:
        vals = [sum(shares[st].get(source, [0.0])) / max(len(shares[st].get(source, [0.0])), 1)
                for st in steps]
        ax.bar(steps, vals, bottom=bottom, label=source)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("share of training examples")
    ax.set_xlabel("the step that wrote the round's data")
    ax.set_ylim(0, 1.0)
    ax.set_title(f"{results['experiment']}: data sources of each round")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    paths.save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def write_plots(results: Mapping, out: str) -> dict[str, str]:
    """The figures under ``out``; ``{title: path}`` of those drawn (matplotlib
    missing: none, and the markdown simply has no figures)."""
    try:
        _pyplot()
    except ImportError:
        return {}
    drawn = {}
    for title, fn, name in (("accuracy against level", accuracy_vs_level, ACCURACY_PNG),
                            ("learning curves", learning_curves, CURVES_PNG),
                            ("accuracy against training tokens", accuracy_vs_tokens, TOKENS_PNG),
                            ("data sources", data_sources, SOURCES_PNG)):
        path = fn(results, os.path.join(out, name))
        if path:
            drawn[title] = path
    return drawn
