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

The parts: ``sweep_plan`` (the grid, its points and their runs),
``sweep_scores`` (each point's metric over seeds, the best point) and
``sweep_report`` (sweep.json, sweep.md, the console table, sweep.png); this
module runs them in order (``run_sweep``) and is the command line.
"""
from __future__ import annotations

import os
import shlex
import sys
from typing import Any, Callable, Sequence

from absl import app, flags

from rtt_jax import cli_errors, paths
from rtt_jax.experiments import plan, sweep_report
from rtt_jax.experiments.definition import ExperimentError
from rtt_jax.experiments.execute import execute_local, execute_tpu, tpu_commands
from rtt_jax.experiments.sweep_plan import plan_sweep
from rtt_jax.experiments.sweep_scores import FINAL_LOSS, best_point, check_metric, \
    collect_point, default_goal


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
    json_path = sweep_report.write_json(sweep, out)
    figure = sweep_report.write_figure(sweep, out)
    sweep_report.write_markdown(sweep, out, figure)
    echo("")
    echo(sweep_report.console_table(sweep))
    echo(f"sweep: {paths.absolute(json_path)}")
    return json_path


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
    FLAGS = flags.FLAGS
    for name in ("experiment", "arm", "out"):
        if not FLAGS[name].value:
            print(f"error: --{name} is required", file=sys.stderr)
            return 2
    command = "python -m rtt_jax.experiments.sweep " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    del argv

    def body() -> None:
        plan.check_flags(FLAGS.experiment, FLAGS.seeds, FLAGS.parallel, FLAGS.run_timeout)
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
