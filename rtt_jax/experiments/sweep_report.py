"""A sweep rendered: ``sweep.json``, ``sweep.md`` (the table, the best point
in bold, the missing runs with their reasons), the console table, and
``sweep.png`` (``plots.sweep_plot``)."""
from __future__ import annotations

import json
import os
from typing import Mapping

from rtt_jax import paths
from rtt_jax.experiments.sweep_plan import short_names, value_text
from rtt_jax.run_files import strict_json

SWEEP_JSON, SWEEP_MD, SWEEP_PNG = "sweep.json", "sweep.md", "sweep.png"


def write_figure(sweep: Mapping, out: str) -> str | None:
    """``sweep.png``; None without matplotlib (the optional "plots" extra)."""
    try:
        from rtt_jax.experiments import plots
        return plots.sweep_plot(sweep, os.path.join(out, SWEEP_PNG))
    except ImportError:
        return None


def write_json(sweep: Mapping, out: str) -> str:
    path = os.path.join(out, SWEEP_JSON)
    with paths.open_text(path, "w") as f:
        json.dump(strict_json(dict(sweep)), f, indent=1)
    return path


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.4g}"


def _cell(p: Mapping) -> str:
    return "–" if p["n"] == 0 else f"{_num(p['mean'])} ± {_num(p['std'])}"


def table_rows(sweep: Mapping) -> tuple[list[str], list[list[str]]]:
    """Header and one row per point: swept fields, mean ± std, n, missing, s/run."""
    fields = list(sweep["grid"])
    short = short_names(fields)
    header = [short[f] for f in fields] + [sweep["metric"], "n", "missing", "s/run"]
    rows = []
    for p in sweep["points"]:
        rows.append([value_text(p["overrides"][f]) for f in fields] +
                    [_cell(p), str(p["n"]), str(len(p["missing"])) if p["missing"] else "–",
                     "–" if p["seconds"] is None else f"{p['seconds']:.0f}"])
    return header, rows


def _what(sweep: Mapping) -> str:
    where = "" if sweep["scope"] is None else f" ({sweep['scope']})"
    return f"{sweep['metric']}{where}, goal {sweep['goal']}"


def markdown(sweep: Mapping, figure: str | None = None) -> str:
    header, rows = table_rows(sweep)
    best = sweep.get("best")
    out = [f"# Sweep `{sweep['experiment']}` / `{sweep['arm']}` ({sweep['variant']})", ""]
    if sweep.get("command"):
        out += ["```", sweep["command"], "```", ""]
    out += [f"Metric: {_what(sweep)}. Cells are mean ± std (sample std, ddof=1) over "
            f"the completed runs of seeds {sweep['seeds']}; a missing run is listed below "
            "and never averaged as zero. s/run: mean wall seconds of a completed run's last "
            "attempt. The best point is in bold.", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p, r in zip(sweep["points"], rows):
        if best is not None and p["name"] == best["name"]:
            r = [f"**{c}**" for c in r]
        out.append("| " + " | ".join(r) + " |")
    out.append("")
    out.append(f"Best: `{best['name']}` ({_cell(best)}, n={best['n']})." if best
               else "Best: none (no point has a value).")
    out.append("")
    missing = [(p["name"], m) for p in sweep["points"] for m in p["missing"]]
    if missing:
        out += ["## Missing runs (not averaged)", ""]
        out += [f"- `{name}` seed {m['seed']}: {m['reason']}" for name, m in missing]
        out.append("")
    if figure:
        out += [f"![{sweep['metric']} against each swept field]({os.path.basename(figure)})", ""]
    return "\n".join(out)


def write_markdown(sweep: Mapping, out: str, figure: str | None = None) -> str:
    path = os.path.join(out, SWEEP_MD)
    paths.write_text(path, markdown(sweep, figure))
    return path


def console_table(sweep: Mapping) -> str:
    """The table as plain text; ``*`` marks the best point."""
    header, rows = table_rows(sweep)
    best = (sweep.get("best") or {}).get("name")
    rows = [r + ["*" if p["name"] == best else ""] for p, r in zip(sweep["points"], rows)]
    header = header + [""]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    title = (f"sweep {sweep['experiment']}/{sweep['arm']} ({sweep['variant']}): {_what(sweep)}; "
             "mean ± std over seeds, * = best")
    return "\n".join([title, fmt.format(*header).rstrip()] +
                     [fmt.format(*r).rstrip() for r in rows])
