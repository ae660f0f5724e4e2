"""Sweep one arm of an experiment over a grid of config values (learning rate,
depth, steps, ...): the metric's mean ± std over seeds at every point, and the
best point.

    python -m rtt_jax.experiments.sweep --experiment=traces_vs_answer --variant=cpu \
        --arm=traces --grid=train.learning_rate=3e-4,1e-3,3e-3 --grid=model.n_layers=2,4 \
        --seeds=0,1 --out=workdirs/sweep_lr

The points are the cartesian product of the ``--grid=field=v1,v2,...`` flags
(each field must exist in the arm's config; values are typed like it). Each
point is an ordinary set of experiment runs through the runner, with the
point's values as ``--config.field=value``: its runs live in
``OUT/runs/<point>/<arm>/seed_S``, where ``<point>`` reads like
``learning_rate=0.001,n_layers=2``. Complete runs are skipped on a rerun, so
an interrupted sweep resumes; a run that crashes is recorded in its
``run_status.json`` and reported missing with its error line, never averaged
as a zero. Then ``OUT/sweep.json``, ``OUT/sweep.md`` and ``OUT/sweep.png``
(the metric against each swept field) are written, the table is printed and
the last line is the path of sweep.json.

Metric: ``--metric=answer_accuracy`` (default; any per-set metric of the runs'
``report.json``) in ``--scope=trained`` (a summary pool: ``all``, ``trained``,
``untrained``; or an eval set such as ``modular/L8``), or
``--metric=final_loss``, the last training loss in ``metrics.jsonl``.
``--goal=max|min`` says which end is best (default: min for losses and error
rates, max otherwise).

On a TPU VM::

    python -m rtt_jax.experiments.sweep ... --launch=tpu --workdir_root=gs://BUCKET/sweep  # prints
    ... --launch=tpu --execute                                                          # runs them
    ... --collect_only                  # (with workdirs readable here) sweep.json

Flags: ``--seeds=0,1`` (default: the experiment's); ``--set=field=value``
(repeatable) overrides a field at every point; ``--run_timeout`` kills a run
that takes longer (it is reported missing); ``--parallel=N`` runs N local
runs at a time, each pinned to its share of the CPU cores; ``--workdir_root`` replaces
``OUT/runs``. Experiments live in ``configs/experiments/NAME.py``
(``--experiment`` also takes a path to such a file).
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import os
import re
import shlex
import sys
from typing import Any, Callable, Mapping, Sequence

from absl import app, flags

from rtt_jax import cli_errors, paths
from rtt_jax.experiments import plan, results, definition, seed_stats
from rtt_jax.experiments.execute import execute_local, execute_tpu, read_status, tpu_commands
from rtt_jax.experiments.definition import ExperimentError
from rtt_jax.run_files import read_metrics, strict_json

SWEEP_JSON, SWEEP_MD, SWEEP_PNG = "sweep.json", "sweep.md", "sweep.png"
FINAL_LOSS = "final_loss"
# Metrics where lower is better; every other metric defaults to --goal=max.
LOWER_IS_BETTER = frozenset({FINAL_LOSS, "loss", "perplexity", "unparsed", "wrong"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point: its directory-safe name and ``{field path: typed value}``."""

    name: str
    overrides: Mapping[str, Any]

    def sets(self) -> list[str]:
        """The point's values as ``field=value`` runner overrides."""
        return [f"{k}={value_text(v)}" for k, v in self.overrides.items()]


def value_text(v: Any) -> str:
    """A value as the command line and point names write it (floats round-trip)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def parse_grid(specs: Sequence[str], config, where: str = "--grid") -> dict[str, list]:
    """``["train.learning_rate=3e-4,1e-3"]`` -> ``{"train.learning_rate": [0.0003, 0.001]}``,
    each value typed like the field in ``config``; ExperimentError naming the flag
    for a missing ``=``, no values, an unknown field or a repeated field or value."""
    grid: dict[str, list] = {}
    for s in specs:
        field, eq, raw = s.partition("=")
        field = field.strip()
        if not eq or not field:
            raise ExperimentError(f"{where}={s}: expected field=v1,v2,...")
        texts = [t.strip() for t in raw.split(",")]
        if not raw.strip() or any(not t for t in texts):
            raise ExperimentError(f"{where}={s}: no value (or an empty one) for {field}; "
                                  "expected field=v1,v2,...")
        if field in grid:
            raise ExperimentError(f"{where}={s}: {field} is swept twice")
        values = [definition.typed_value(config, field, t, where=where) for t in texts]
        if len({value_text(v) for v in values}) != len(values):
            raise ExperimentError(f"{where}={s}: repeated value for {field}")
        grid[field] = values
    return grid


def short_names(fields: Sequence[str]) -> dict[str, str]:
    """Field path -> its last part (``learning_rate``), or the whole path where
    two swept fields share a last part."""
    last = [f.rsplit(".", 1)[-1] for f in fields]
    return {f: (s if last.count(s) == 1 else f) for f, s in zip(fields, last)}


def grid_points(grid: Mapping[str, Sequence]) -> list[Point]:
    """The cartesian product of the grid, in flag order, with readable names."""
    short = short_names(list(grid))
    points = []
    for combo in itertools.product(*grid.values()):
        overrides = dict(zip(grid, combo))
        name = ",".join(f"{short[f]}={value_text(v)}" for f, v in overrides.items())
        points.append(Point(_UNSAFE.sub("_", name), overrides))
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ExperimentError(f"--grid: values that differ only in characters unsafe in a "
                              f"directory name give the same point name: {names}")
    return points


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


# --- reading one run ------------------------------------------------------------------

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


# --- the sweep ----------------------------------------------------------------------------

def _seeds(seeds: Sequence) -> list[int]:
    try:
        return [int(s) for s in seeds]
    except ValueError:
        raise ExperimentError(f"--seeds={','.join(map(str, seeds))}: expected integers") from None


def _typed_sets(sets: Sequence[str], config) -> dict[str, Any]:
    out = {}
    for s in sets:
        field, eq, raw = s.partition("=")
        if not eq:
            raise ExperimentError(f"--set={s}: expected field=value")
        out[field] = definition.typed_value(config, field, raw, where="--set")
    return out


def plan_sweep(experiment: str, variant: str, arm: str, grid_specs: Sequence[str], out: str, *,
               seeds: Sequence = (), sets: Sequence[str] = (), workdir_root: str | None = None
               ) -> tuple[Any, dict, list[tuple[Point, list[plan.Run], int]]]:
    """(experiment, grid, [(point, its runs, its tokens per run)]); every input
    error is an ExperimentError before anything runs."""
    path = plan.experiment_path(experiment)
    module = plan.load_experiment(path)
    exp = module.EXPERIMENT
    exp.arm(arm)  # unknown arm -> ExperimentError
    try:
        base = module.get_config(f"{variant}/{arm}")
    except ExperimentError:
        raise
    except Exception as e:  # an experiment file that fails to build its config
        raise ExperimentError(f"{path}: config {variant}/{arm}: {e}") from None
    fixed = _typed_sets(sets, base)
    if not grid_specs:
        raise ExperimentError("--grid: at least one --grid=field=v1,v2,... is required")
    grid = parse_grid(grid_specs, base)
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ExperimentError(f"--set and --grid both set {', '.join(both)}")
    root = workdir_root or os.path.join(paths.absolute(out), "runs")
    plans = []
    for point in grid_points(grid):
        config = definition.apply_overrides(copy.deepcopy(base),
                                      {**fixed, **point.overrides}, where=point.name)
        runs = plan.plan(path, exp, variant, out, seeds=_seeds(seeds) or None, arms=[arm],
                           sets=[*sets, *point.sets()], workdir_root=f"{root}/{point.name}")
        plans.append((point, runs, definition.tokens_per_run(config)))
    return exp, grid, plans


def run_sweep(experiment: str, variant: str, arm: str, grid_specs: Sequence[str], out: str, *,
              seeds: Sequence = (), sets: Sequence[str] = (), metric: str = "answer_accuracy",
              scope: str = "trained", goal: str | None = None, launch: str = "local",
              execute: bool = False, collect_only: bool = False,
              workdir_root: str | None = None, run_timeout: float | None = None,
              parallel: int = 1, command: str = "", echo: Callable[[str], Any] = print) -> str | None:
    """Plan, execute (locally or on TPU), collect and write; returns sweep.json's
    path (None when TPU commands were only printed)."""
    check_metric(metric)
    goal = goal or default_goal(metric)
    if goal not in ("max", "min"):
        raise ExperimentError(f"--goal={goal}: expected max or min")
    if metric != FINAL_LOSS and not scope:
        raise ExperimentError("--scope: empty; expected all, trained, untrained or an eval set")
    exp, grid, plans = plan_sweep(experiment, variant, arm, grid_specs, out, seeds=seeds,
                                  sets=sets, workdir_root=workdir_root)
    paths.makedirs(out)
    if launch == "tpu" and not collect_only:
        if not execute:
            for _, runs, _ in plans:
                for line in tpu_commands(runs):
                    echo(line)
            return None
        for point, runs, _ in plans:
            echo(f"point {point.name}")
            execute_tpu(runs, echo=echo)
    elif not collect_only:
        env = dict(os.environ)
        if not paths.is_remote(out):  # a gs:// OUT gets no compilation cache of ours
            env.setdefault("JAX_COMPILATION_CACHE_DIR",
                           os.path.join(os.path.abspath(out), ".jax_cache"))
        n_runs = sum(len(r) for _, r, _ in plans)
        echo(f"sweep {exp.name}/{arm} ({variant}): {len(plans)} points, {n_runs} runs")
        # All points' runs in one queue, so that --parallel keeps every core busy.
        execute_local([r for _, runs, _ in plans for r in runs], env=env,
                             timeout_s=run_timeout, echo=echo, parallel=parallel)
    scope_used = None if metric == FINAL_LOSS else scope
    points = [collect_point(p, runs, metric, scope_used, tokens) for p, runs, tokens in plans]
    sweep = {"experiment": exp.name, "variant": variant, "arm": arm, "metric": metric,
             "scope": scope_used, "goal": goal,
             "seeds": sorted({r.seed for _, runs, _ in plans for r in runs}),
             "grid": grid, "points": points, "best": best_point(points, goal),
             "command": command}
    json_path = write_json(sweep, out)
    figure = _plot(sweep, out)
    write_markdown(sweep, out, figure)
    echo("")
    echo(console_table(sweep))
    echo(f"sweep: {paths.absolute(json_path)}")
    return json_path


def _plot(sweep: Mapping, out: str) -> str | None:
    try:
        from rtt_jax.experiments import plots
        return plots.sweep_plot(sweep, os.path.join(out, SWEEP_PNG))
    except ImportError:  # matplotlib is the optional "plots" extra
        return None


# --- writing --------------------------------------------------------------------------------

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


# --- command line ---------------------------------------------------------------------------

def _define_flags() -> None:
    """Only when run as a program: importing this module defines no flags (the
    same names are run.py's)."""
    flags.DEFINE_string("experiment", None, "Name in configs/experiments/ or a path.")
    flags.DEFINE_string("variant", "cpu", "Experiment variant: cpu or tpu.")
    flags.DEFINE_string("arm", None, "The arm whose config is swept.")
    flags.DEFINE_multi_string("grid", [], "field=v1,v2,... (repeatable; the points are "
                              "the cartesian product).")
    flags.DEFINE_string("out", None, "Output directory (sweep files and, locally, run workdirs).")
    flags.DEFINE_list("seeds", [], "Seeds per point (default: the experiment's).")
    flags.DEFINE_multi_string("set", [], "field=value config override at every point.")
    flags.DEFINE_string("metric", "answer_accuracy", "A report.json metric, or final_loss.")
    flags.DEFINE_string("scope", "trained", "all | trained | untrained | an eval set name.")
    flags.DEFINE_string("goal", None, "max or min (default: min for losses, else max).")
    flags.DEFINE_enum("launch", "local", ["local", "tpu"],
                      "local: run here one after another; tpu: print launch commands.")
    flags.DEFINE_bool("execute", False, "With --launch=tpu: run the commands too.")
    flags.DEFINE_bool("collect_only", False, "Only collect existing runs.")
    flags.DEFINE_string("workdir_root", None, "Run workdirs root (default OUT/runs).")
    flags.DEFINE_float("run_timeout", None, "Seconds before a local run is killed.")
    flags.DEFINE_integer("parallel", 1, "Local runs at a time, each pinned to its share of the cores.")


def main(argv) -> int:
    """Flags and the output directory are checked before any run (one error
    line each, ``rtt_jax.cli_errors``; ``--verbosity=1`` adds the traceback)."""
    from rtt_jax.experiments.run import check_flags
    FLAGS = flags.FLAGS
    for name in ("experiment", "arm", "out"):
        if not FLAGS[name].value:
            print(f"error: --{name} is required", file=sys.stderr)
            return 2
    command = "python -m rtt_jax.experiments.sweep " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    del argv

    def body() -> None:
        check_flags(FLAGS.experiment, FLAGS.seeds, FLAGS.parallel, FLAGS.run_timeout)
        cli_errors.make_output_dir(FLAGS.out)
        run_sweep(FLAGS.experiment, FLAGS.variant, FLAGS.arm, FLAGS.grid, FLAGS.out,
                  seeds=FLAGS.seeds, sets=FLAGS.set, metric=FLAGS.metric, scope=FLAGS.scope,
                  goal=FLAGS.goal, launch=FLAGS.launch, execute=FLAGS.execute,
                  collect_only=FLAGS.collect_only, workdir_root=FLAGS.workdir_root,
                  run_timeout=FLAGS.run_timeout, parallel=FLAGS.parallel, command=command)
    return cli_errors.run_reporting(body, path=FLAGS.out)


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser())
