"""Run a named experiment: every arm x seed, then results.json/results.md/plots.

    python -m rtt_jax.experiments.run --experiment=traces_vs_answer --variant=cpu \
        --out=workdirs/exp_a

On CPU the runs execute one after another (``OUT/runs/ARM/seed_S``); complete
runs are skipped on a rerun, so an interrupted experiment resumes. Then the
runs' ``report.json`` files are collected into ``OUT/results.json`` and
``OUT/results.md`` (with ``accuracy_vs_level.png`` and ``learning_curves.png``)
and the comparison table is printed; the last line is the results path.

On a TPU VM::

    python -m rtt_jax.experiments.run --experiment=traces_vs_answer --variant=tpu \
        --out=/tmp/exp_a --launch=tpu --workdir_root=gs://BUCKET/exp_a        # prints
    ... --launch=tpu --execute                                              # runs them
    ... --collect_only                   # (with workdirs readable here) results

Flags: ``--seeds=0,1`` and ``--arms=a,b`` pick a subset; ``--set=field=value``
(repeatable) overrides a config field in every run (``--set=train.steps=20``);
``--run_timeout`` kills a run that takes longer (it is reported missing);
``--parallel=N`` runs N local runs at a time, each pinned to its share of the
CPU cores (results are the same; on 2 cores ``--parallel=2`` is ~1.3x faster).
Experiments live in ``configs/experiments/NAME.py`` (``--experiment`` also
takes a path to such a file).
"""
from __future__ import annotations

import sys

from absl import app, flags

_EXPERIMENT = flags.DEFINE_string("experiment", None, "Name in configs/experiments/ or a path.")
_VARIANT = flags.DEFINE_string("variant", "cpu", "Experiment variant: cpu or tpu.")
_OUT = flags.DEFINE_string("out", None, "Output directory (results and, locally, run workdirs).")
_LAUNCH = flags.DEFINE_enum("launch", "local", ["local", "tpu"],
                            "local: run here one after another; tpu: print launch commands.")
_EXECUTE = flags.DEFINE_bool("execute", False, "With --launch=tpu: run the commands too.")
_COLLECT_ONLY = flags.DEFINE_bool("collect_only", False, "Only collect existing runs.")
_SEEDS = flags.DEFINE_list("seeds", [], "Seeds to run (default: the experiment's).")
_ARMS = flags.DEFINE_list("arms", [], "Arms to run (default: all).")
_SET = flags.DEFINE_multi_string("set", [], "field=value config override for every run.")
_WORKDIR_ROOT = flags.DEFINE_string("workdir_root", None, "Run workdirs root (default OUT/runs).")
_RUN_TIMEOUT = flags.DEFINE_float("run_timeout", None, "Seconds before a local run is killed.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Local runs at a time, each pinned to its "
                                 "share of the CPU cores (2 on a 2-core machine: ~1.3x faster).")
_REPORT_COPY = flags.DEFINE_string("report_copy", None,
                                   "Also write results.md under this name in OUT (make demo: report.md).")
flags.mark_flags_as_required(["experiment", "out"])


def main(argv) -> int:
    del argv
    from rtt_jax.experiments.orchestrate import run_experiment
    from rtt_jax.experiments.spec import ExperimentError
    try:
        path = run_experiment(_EXPERIMENT.value, _VARIANT.value, _OUT.value,
                              launch=_LAUNCH.value, execute=_EXECUTE.value,
                              collect_only=_COLLECT_ONLY.value, seeds=_SEEDS.value,
                              arms=_ARMS.value, sets=_SET.value,
                              workdir_root=_WORKDIR_ROOT.value, run_timeout=_RUN_TIMEOUT.value,
                              report_copy=_REPORT_COPY.value, parallel=_PARALLEL.value)
    except (ExperimentError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    del path
    return 0


if __name__ == "__main__":
    app.run(main)
