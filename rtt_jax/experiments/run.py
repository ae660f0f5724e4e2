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

Flags: ``--seeds=0,1`` and ``--arms=a,b`` pick a subset; ``--set=field=value``
(repeatable) overrides a config field in every run (``--set=train.steps=20``);
``--run_timeout`` kills a run that takes longer (it is reported missing);
``--parallel=N`` runs N local runs at a time, each pinned to its share of the
CPU cores (results are the same; on 2 cores ``--parallel=2`` is ~1.3x faster).
Experiments live in ``configs/experiments/NAME.py`` (``--experiment`` also
takes a path to such a file).

Bad input (an unknown or unloadable experiment, a flag that does not parse,
an ``--out`` that is a file or read-only, a full disk) is one error line, exit
status 2; ``--verbosity=1`` adds the traceback (``rtt_jax.cli_errors``).
"""
from __future__ import annotations

import os

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
    flags.mark_flags_as_required(["experiment", "out"])


def main(argv) -> int:
    del argv
    f = flags.FLAGS

    def body() -> None:
        from rtt_jax.experiments import plan
        plan.check_flags(f.experiment, f.seeds, f.parallel, f.run_timeout)
        cli_errors.make_output_dir(f.out)
        run_experiment(f.experiment, f.variant, f.out, launch=f.launch, execute=f.execute,
                       collect_only=f.collect_only, seeds=f.seeds, arms=f.arms, sets=f.set,
                       workdir_root=f.workdir_root, run_timeout=f.run_timeout,
                       report_copy=f.report_copy, parallel=f.parallel)
    return cli_errors.run_reporting(body, path=f.out)


def run_experiment(experiment: str, variant: str, out: str, *, launch: str = "local",
                   execute: bool = False, collect_only: bool = False, seeds=(), arms=(),
                   sets=(), workdir_root: str | None = None, run_timeout: float | None = None,
                   report_copy: str | None = None, parallel: int = 1, echo=print) -> str | None:
    """Plan, execute (locally or on TPU), collect and write; returns results.json's path
    (None when commands were only printed)."""
    from rtt_jax.experiments import plan, plots, results, definition, tables
    from rtt_jax.experiments.execute import execute_local, execute_tpu, tpu_commands
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
    budget = definition.check_budget(exp, configs)
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
        echo(f"{exp.name} ({variant}): {len(runs)} runs, budget {exp.budget}; {exp.claim}")
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
    return json_path


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser())
