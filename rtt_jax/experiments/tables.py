"""Human-readable views of a results dict: ``results.md`` and the console table.

Cells are ``mean ± std`` over completed seeds (``(n=k)`` when fewer seeds than
planned completed); differences from the baseline are in points (x100) with
their 95% interval and the method (``paired-t`` over seeds, or ``binomial``
over problems when only one seed pairs). ``–`` means not measured.
"""
from __future__ import annotations

import os
from typing import Mapping

from rtt_jax import paths
from rtt_jax.experiments.results import METRICS, POOLS, RESULTS_MD

_POOL_TITLES = {"all": "all eval sets", "trained": "trained levels",
                "untrained": "harder (untrained) levels"}


def _pct(ms: Mapping | None, planned: int | None = None) -> str:
    if not ms or ms.get("mean") is None:
        return "–"
    s = f"{100 * ms['mean']:.1f} ± {100 * (ms.get('std') or 0.0):.1f}"
    if planned is not None and ms.get("n", 0) < planned:
        s += f" (n={ms.get('n', 0)})"
    return s


def _diff(d: Mapping | None) -> str:
    if not d or d.get("diff") is None:
        return "–"
    s = f"{100 * d['diff']:+.1f}"
    if d.get("ci"):
        lo, hi = d["ci"]
        s += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
        if lo > 0 or hi < 0:
            s += " *"
    return s


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def summary_rows(results: Mapping, metric: str = "answer_accuracy") -> tuple[list[str], list]:
    """Header and rows: one row per arm, pooled accuracy per pool, diff vs baseline."""
    planned = len(results["seeds"])
    base = results["baseline"]
    pools = [p for p in POOLS if any(p in a["summary"] for a in results["arms"].values())]
    header = ["arm", "seeds"] + [_POOL_TITLES[p] for p in pools] + \
        [f"Δ vs {base} ({p})" for p in pools]
    rows = []
    for arm, a in results["arms"].items():
        cells = [arm, f"{a['seeds_completed']}/{planned}"]
        cells += [_pct(a["summary"].get(p, {}).get(metric)) for p in pools]
        cells += ["baseline" if arm == base else
                  _diff(a["diff_vs_baseline"].get(f"summary/{p}", {}).get(metric)) for p in pools]
        rows.append(cells)
    return header, rows


def console_table(results: Mapping) -> str:
    """The comparison table printed at the end of a run (plain text)."""
    header, rows = summary_rows(results)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [f"{results['experiment']} ({results['variant']}): answer accuracy, % "
             f"(mean ± std over seeds; Δ in points [95% CI], * = CI excludes 0)",
             fmt.format(*header)] + [fmt.format(*r) for r in rows]
    return "\n".join(lines)


def _budget_text(results: Mapping) -> str:
    b = results["budget"]
    tokens = sorted(set(b["tokens_per_run"].values()))
    if b["kind"] == "tokens":
        steps = b["steps"][next(iter(b["tokens_per_run"]))]
        outside = [a for a in b["steps"] if a not in b["tokens_per_run"]]
        head = (f"**Budget: equal training tokens.** Every compared run trains {tokens[0]:,} "
                f"token positions ({steps:,} steps)" +
                (f"; {', '.join(outside)} outside the budget." if outside else "."))
    elif b["kind"] == "flops":
        head = "**Budget: equal planned FLOPs** (RL: sampling and updates). Per run: " + \
            ", ".join(f"{a} {f:.3g}" + ("" if a in b["tokens_per_run"] else " (outside)")
                      for a, f in b.get("flops_per_run", {}).items()) + "."
    else:
        head = "**Budget: equal training examples.** Token positions per run: " + \
            ", ".join(f"{a} {t:,}" for a, t in b["tokens_per_run"].items()) + "."
    rows = []
    for arm, a in results["arms"].items():
        t = a.get("train", {})
        rows.append(f"{arm}: {_count(t.get('target_tokens'))} target tokens, "
                    f"{_count(t.get('examples'))} examples, final loss "
                    f"{_num(t.get('final_loss'))}")
    return head + " Measured per run (mean over seeds): " + "; ".join(rows) + "."


def _count(ms) -> str:
    return f"{ms['mean']:,.0f}" if ms and ms.get("mean") is not None else "–"


def _num(ms) -> str:
    return f"{ms['mean']:.4f}" if ms and ms.get("mean") is not None else "–"


def markdown(results: Mapping, plots: Mapping[str, str] | None = None) -> str:
    planned = len(results["seeds"])
    base = results["baseline"]
    out = [f"# Experiment `{results['experiment']}` ({results['variant']})", "",
           f"Claim: {results['claim']}", "", _budget_text(results), "",
           f"Seeds planned: {results['seeds']}. Cells are mean ± std over completed seeds, "
           f"in %; Δ is the difference from `{base}` in points with its 95% interval "
           "(paired t over seeds; binomial over problems when only one seed pairs); "
           "`*` marks an interval that excludes 0.", ""]
    missing = [(arm, m) for arm, a in results["arms"].items() for m in a["missing"]]
    if missing:
        out += ["## Missing runs (not averaged)", ""]
        out += [f"- `{arm}` seed {m['seed']}: {m['reason']}" for arm, m in missing]
        out.append("")
    for metric in METRICS:
        header, rows = summary_rows(results, metric)
        if all(c == "–" for r in rows for c in r[2:2 + (len(header) - 2) // 2]):
            continue
        out += [f"## {metric.replace('_', ' ')} (pooled)", ""] + _table(header, rows) + [""]
    arms = list(results["arms"])
    for metric in ("answer_accuracy", "step_validity"):
        header = ["eval set", "trained"] + arms + [f"Δ {a}" for a in arms if a != base]
        rows = []
        for name, meta in results["sets"].items():
            cells = [name, {True: "yes", False: "no"}.get(meta.get("trained"), "?")]
            cells += [_pct(results["arms"][a]["sets"].get(name, {}).get(metric), planned)
                      for a in arms]
            cells += [_diff(results["arms"][a]["diff_vs_baseline"].get(name, {}).get(metric))
                      for a in arms if a != base]
            rows.append(cells)
        if all(c == "–" for r in rows for c in r[2:2 + len(arms)]):
            continue
        out += [f"## {metric.replace('_', ' ')} per eval set", ""] + _table(header, rows) + [""]
    out += step_sections(results.get("steps") or {})
    for title, path in (plots or {}).items():
        out += [f"![{title}]({os.path.basename(path)})", ""]
    return "\n".join(out)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "–" if v is None else str(v)


def step_sections(steps: Mapping[str, Mapping]) -> list[str]:
    """Markdown for the steps' summaries (``done.json``): per seed, a line of
    the scalar ``totals`` and a table of ``per_level`` (``{level: {column:
    value}}``), under the summary's ``title``."""
    out = []
    for name, by_seed in steps.items():
        out += [f"## Step `{name}`", ""]
        for seed, summary in by_seed.items():
            if "missing" in summary:
                out += [f"- {seed}: missing ({summary['missing']})", ""]
                continue
            title = summary.get("title", "")
            totals = summary.get("totals") or {}
            out.append(f"**{seed}**" + (f": {title}" if title else "") + (
                ". " + "; ".join(f"{k} {_cell(v)}" for k, v in totals.items())
                if totals else ""))
            out.append("")
            per_level = summary.get("per_level") or {}
            if per_level:
                cols = list(dict.fromkeys(c for row in per_level.values() for c in row))
                out += _table(["level"] + cols,
                              [[str(lv)] + [_cell(row.get(c)) for c in cols]
                               for lv, row in per_level.items()]) + [""]
    return out


def write_markdown(results: Mapping, out: str, plots: Mapping[str, str] | None = None,
                   name: str = RESULTS_MD) -> str:
    path = os.path.join(out, name)
    paths.write_text(path, markdown(results, plots))
    return path
