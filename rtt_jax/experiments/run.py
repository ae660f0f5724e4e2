"""Run a named experiment: every arm x seed, then results.json/results.md/plots.

    python -m rtt_jax.experiments.run --experiment=traces_vs_answer --variant=cpu \
        --out=workdirs/exp_a

On CPU the runs execute one after another (``OUT/runs/ARM/seed_S``); complete
runs are skipped on a rerun, so an interrupted experiment resumes. Then the
runs' ``report.json`` files are collected into ``OUT/results.json`` and
``OUT/results.md`` (with ``accuracy_vs_level.png`` and ``learning_curves.png``)
and the comparison table is printed; the last line is the results path.

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

from absl import app, flags

from rtt_jax import cli_errors


def _define_flags() -> None:
    """Only when run as a program: importing this module (the sweep CLI uses
    ``check_flags``) defines no flags."""
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


def check_flags(experiment: str, seeds, parallel: int, run_timeout: float | None) -> None:
    """The flags every experiment command shares, checked before any work:
    ValueError naming the flag. The experiment file is loaded once here, so
    a file that does not even import is one line too."""
    from rtt_jax.experiments import runner
    path = runner.experiment_path(experiment)
    with cli_errors.user_code(f"--experiment={path}"):
        runner.load_experiment(path)
    bad = [s for s in seeds if not str(s).strip().lstrip("-").isdigit()]
    if bad:
        raise ValueError(f"--seeds={','.join(map(str, seeds))}: expected integers, got {bad[0]!r}")
    if parallel < 1:
        raise ValueError(f"--parallel={parallel}: expected at least 1")
    if run_timeout is not None and run_timeout <= 0:
        raise ValueError(f"--run_timeout={run_timeout:g}: expected a positive number of seconds")


def main(argv) -> int:
    del argv
    from rtt_jax.experiments.orchestrate import run_experiment
    f = flags.FLAGS

    def body() -> None:
        check_flags(f.experiment, f.seeds, f.parallel, f.run_timeout)
        cli_errors.make_output_dir(f.out)
        run_experiment(f.experiment, f.variant, f.out, launch=f.launch, execute=f.execute,
                       collect_only=f.collect_only, seeds=f.seeds, arms=f.arms, sets=f.set,
                       workdir_root=f.workdir_root, run_timeout=f.run_timeout,
                       report_copy=f.report_copy, parallel=f.parallel)
    return cli_errors.run_reporting(body, path=f.out)


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser())
