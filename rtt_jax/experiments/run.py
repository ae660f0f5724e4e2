"""Run a named experiment: every arm x seed, then results.json/results.md/plots
(``run_experiment`` is the same from Python: plan, execute, collect, write).

    python -m rtt_jax.experiments.run --experiment=traces_vs_answer --variant=cpu \
        --out=workdirs/exp_a

On CPU the runs execute one after another (``OUT/runs/ARM/seed_S``); complete
runs are skipped on a rerun, so an interrupted experiment resumes. Then the
runs' ``report.json`` files are collected into ``OUT/results.json`` and
``OUT/results.md`` (with ``accuracy_vs_level.png`` and ``learning_curves.png``)
and the comparison table is printed; the last line is the results path.
An experiment with steps (``distill``, ``star``: ``definition.Step``) runs them
between the runs that need them, and their summaries join ``results.json``.

On a TPU slice (docs/tpu.md: create, setup, then from this checkout, with
``TPU_NAME``/``TPU_ZONE`` set; each line is ``launch/tpu.py run --wait -- ...``)::

    python -m rtt_jax.experiments.run --experiment=traces_vs_answer --variant=tpu \
        --out=/tmp/exp_a --launch=tpu --workdir_root=gs://BUCKET/exp_a        # prints
    ... --launch=tpu --execute                          # runs them, one after another
    ... --collect_only --workdir_root=gs://BUCKET/exp_a   # results, read from the bucket (docs/gcs.md)

Before anything runs, every run's input files are checked
(``rtt_jax.experiments.inputs``): a data file that is missing is one
``error:`` line naming the run, the field and where to put the file.

When runs end without a report (a crash, a timeout, a run whose need
failed), the table is printed as usual, then one ``error: RUN: REASON`` line
per such run or step, and the exit status is 1: a script or CI that runs an
experiment sees the failure. ``--allow_missing`` keeps exit status 0 for
sweeps that expect gaps (the lines are still printed).

``--dry_run`` runs and writes nothing: it prints each run's command, the
config fields its arm overrides (with the values they resolve to) and the
fields its command sets, then the input check.

Flags: ``--seeds=0,1`` and ``--arms=a,b`` pick a subset; ``--set=field=value``
(repeatable) overrides a config field in every run (``--set=train.steps=20``);
``--run_timeout`` kills a run that takes longer (it is reported missing);
``--parallel=N`` runs N local runs at a time, each pinned to its share of the
CPU cores (on 2 cores ``--parallel=2`` is ~1.3x faster; results agree in
distribution, not bit for bit: a run rounds differently on one core than on
two, docs/experiments.md).
Experiments live in ``configs/experiments/NAME.py`` (``--experiment`` also
takes a path to such a file).

Bad input (an unknown or unloadable experiment, a flag that does not parse,
an ``--out`` that is a file or read-only, a full disk) is one error line, exit
status 2; ``--verbosity=1`` adds the traceback (``rtt_jax.cli_errors``).
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from rtt_jax import cli_errors, paths


def _define_flags() -> None:
    """Only when run as a program: importing this module defines no flags."""
    flags.DEFINE_string("experiment", None, "Name in configs/experiments/ or a path.")
    flags.DEFINE_string("variant", "cpu", "Experiment variant: cpu or tpu.")
    flags.DEFINE_string("out", None, "Output directory (results and, locally, run workdirs).")
    flags.DEFINE_enum("launch", "local", ["local", "tpu"],
                      "local: run here one after another; tpu: print launch commands.")
    flags.DEFINE_bool("execute", False, "With --launch=tpu: run the commands too.")
    flags.DEFINE_bool("collect_only", False, "Only collect existing runs.")
    flags.DEFINE_list("seeds", [], "Seeds to run (default: the experiment's).")
    flags.DEFINE_list("arms", [], "Arms to run (default: all).")
    flags.DEFINE_multi_string("set", [], "field=value config override for every run.")
    flags.DEFINE_string("workdir_root", None, "Run workdirs root (default OUT/runs).")
    flags.DEFINE_float("run_timeout", None, "Seconds before a local run is killed.")
    flags.DEFINE_integer("parallel", 1, "Local runs at a time, each pinned to its share of "
                         "the CPU cores (2 on a 2-core machine: ~1.3x faster).")
    flags.DEFINE_string("report_copy", None,
                        "Also write results.md under this name in OUT (make demo: report.md).")
    flags.DEFINE_bool("allow_missing", False,
                      "Exit 0 even when requested runs did not complete (sweeps that expect "
                      "gaps); their error lines are printed either way.")
    flags.DEFINE_bool("dry_run", False,
                      "Print each run's command and overrides and check its inputs; run "
                      "and write nothing.")
    flags.mark_flags_as_required(["experiment", "out"])


def main(argv) -> int:
    del argv
    f = flags.FLAGS

    def body() -> int:
        from rtt_jax.experiments import plan
        plan.check_flags(f.experiment, f.seeds, f.parallel, f.run_timeout)
        if f.dry_run:
            return dry_run(f.experiment, f.variant, f.out, seeds=f.seeds, arms=f.arms,
                           sets=f.set, workdir_root=f.workdir_root,
                           check_files=f.launch == "local")
        cli_errors.make_output_dir(f.out)
        failed: list[str] = []
        run_experiment(f.experiment, f.variant, f.out, launch=f.launch, execute=f.execute,
                       collect_only=f.collect_only, seeds=f.seeds, arms=f.arms, sets=f.set,
                       workdir_root=f.workdir_root, run_timeout=f.run_timeout,
                       report_copy=f.report_copy, parallel=f.parallel, failed=failed)
        return EXIT_RUNS_FAILED if failed and not f.allow_missing else 0
    return cli_errors.run_reporting(body, path=f.out)


EXIT_RUNS_FAILED = 1  # requested runs did not complete (2 is bad input: cli_errors)


def _planned(experiment: str, variant: str, out: str, seeds, arms, sets,
             workdir_root: str | None):
    """(experiment file, its module, the planned runs, arm configs, budget)."""
    from rtt_jax.experiments import definition, plan
    path = plan.experiment_path(experiment)
    module = plan.load_experiment(path)
    exp = module.EXPERIMENT
    runs = plan.plan(path, exp, variant, out, seeds=[int(s) for s in seeds] or None,
                     arms=list(arms) or None, sets=sets, workdir_root=workdir_root)
    configs = {}
    for arm in dict.fromkeys(r.arm for r in runs if r.kind == "run"):
        try:
            configs[arm] = module.get_config(f"{variant}/{arm}")
            definition.apply_overrides(configs[arm], definition.typed_sets(sets, configs[arm]),
                                       where="--set")
        except definition.ExperimentError:
            raise
        except Exception as e:  # noqa: BLE001 - the experiment file is user code: one line
            raise definition.ExperimentError(f"{path}: config {variant}/{arm}: {e}") from None
    return path, module, runs, configs, definition.check_budget(exp, configs)


def _roots(out: str, workdir_root: str | None) -> list[str]:
    return [out, workdir_root or os.path.join(paths.absolute(out), "runs")]


def run_experiment(experiment: str, variant: str, out: str, *, launch: str = "local",
                   execute: bool = False, collect_only: bool = False, seeds=(), arms=(),
                   sets=(), workdir_root: str | None = None, run_timeout: float | None = None,
                   report_copy: str | None = None, parallel: int = 1, echo=print,
                   echo_error=None, failed: list | None = None) -> str | None:
    """Plan, execute (locally or on TPU), collect and write; returns results.json's path
    (None when commands were only printed). After the table, each requested run or
    step that did not complete gets one ``error: KEY: REASON`` line (``echo_error``,
    default stderr), and its key is appended to ``failed`` when given."""
    from rtt_jax.experiments import inputs, plots, results, tables
    from rtt_jax.experiments.execute import execute_local, execute_tpu, tpu_commands
    path, module, runs, configs, budget = _planned(experiment, variant, out, seeds, arms,
                                                   sets, workdir_root)
    exp = module.EXPERIMENT
    if launch == "local" and not collect_only:
        issues = inputs.check_inputs(configs, runs, _roots(out, workdir_root))
        if issues:
            raise inputs.inputs_error(exp.name, issues)
    paths.makedirs(out)
    if launch == "tpu" and not collect_only:
        if execute:
            execute_tpu(runs, echo=echo)
        else:
            for line in tpu_commands(runs):
                echo(line)
            return None
    elif not collect_only:
        env = dict(os.environ)
        if not paths.is_remote(out):  # a gs:// OUT gets no compilation cache of ours
            env.setdefault("JAX_COMPILATION_CACHE_DIR",
                           os.path.join(os.path.abspath(out), ".jax_cache"))
        echo(f"{exp.name} ({variant}): {len(runs)} run{'' if len(runs) == 1 else 's'}, "
             f"budget {exp.budget}; {exp.claim}")
        execute_local(runs, env=env, timeout_s=run_timeout, echo=echo, parallel=parallel)
    res = results.collect(exp, variant, runs, budget)
    json_path = results.write_json(res, out)
    figures = plots.write_plots(res, out)
    md_path = tables.write_markdown(res, out, figures)
    if report_copy:
        md_path = tables.write_markdown(res, out, figures, name=report_copy)
    echo("")
    echo(tables.console_table(res))
    echo(f"report: {paths.absolute(md_path)}")
    echo(f"results: {paths.absolute(json_path)}")
    echo_error = echo_error or _stderr
    for key, reason in incomplete(runs):
        echo_error(f"error: {exp.name} {key}: {reason}")
        if failed is not None:
            failed.append(key)
    return json_path


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def incomplete(runs) -> list[tuple[str, str]]:
    """(key, one-line reason) for each planned run or step without its report."""
    from rtt_jax.experiments.results import missing_reason
    out = []
    for run in runs:
        if not run.complete:
            reason = missing_reason(run)
            out.append((run.key, reason[len("error:"):].strip()
                        if reason.startswith("error:") else reason))
    return out


def dry_run(experiment: str, variant: str, out: str, *, seeds=(), arms=(), sets=(),
            workdir_root: str | None = None, check_files: bool = True, echo=print) -> int:
    """Print each planned run's command, the fields its arm overrides (resolved)
    and the fields its command sets, then the input check's issues as
    ``error:`` lines; writes nothing. The exit status: 0, or 1 with issues."""
    from rtt_jax.experiments import definition, inputs
    path, module, runs, configs, budget = _planned(experiment, variant, out, seeds, arms,
                                                   sets, workdir_root)
    exp = module.EXPERIMENT
    tokens = sorted(set(budget["tokens_per_run"].values()))
    plural = "" if len(runs) == 1 else "s"
    echo(f"{exp.name} ({variant}): {len(runs)} run{plural}, budget {exp.budget} "
         f"(token positions per run: {', '.join(f'{t:,}' for t in tokens) or 'none'}); "
         f"{exp.claim}")
    for k, run in enumerate(runs, 1):
        needs = f" (needs {', '.join(run.needs)})" if run.needs else ""
        echo(f"[{k}/{len(runs)}] {run.key}{needs}")
        echo(f"  {run.command()}")
        if run.kind != "run":
            continue
        for field in exp.arm(run.arm).overrides:  # the values they resolve to
            echo(f"  arm:     {field} = {definition.get_field(configs[run.arm], field)!r}")
        for field, value in inputs.command_sets(run):
            echo(f"  command: {field} = {value}")
    issues = inputs.check_inputs(configs, runs, _roots(out, workdir_root)) \
        if check_files else []
    for issue in issues:
        echo(f"error: {exp.name} {issue.line()}")
    return EXIT_RUNS_FAILED if issues else 0


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser())
