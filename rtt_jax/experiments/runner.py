"""Planning and executing an experiment's runs.

A run is one (arm, seed): one ``rtt_jax.main --mode=train_eval`` command with
``--config=<experiment file>:<variant>/<arm> --config.seed=<seed>`` and its own
workdir ``<out>/runs/<arm>/seed_<seed>``. Locally (CPU) the runs execute one
after another as subprocesses, so a run that crashes (or is killed) is
recorded and the next one still runs; on a TPU VM (``launch="tpu"``) the same
commands are printed, or run, through ``launch/tpu_vm.sh``.

A run is *complete* when its workdir holds ``report.json``; rerunning the
runner skips complete runs and resumes incomplete ones from their last
checkpoint (the training loop restores it). ``run_status.json`` in the workdir
records the exit code, the seconds taken and the last error line.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from typing import Iterable, Sequence

from rtt_jax.experiments.spec import Experiment, ExperimentError

REPORT, STATUS, LOG = "report.json", "run_status.json", "run.log"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS_DIR = os.path.join(REPO_ROOT, "configs", "experiments")
TPU_LAUNCHER = "launch/tpu_vm.sh"


@dataclasses.dataclass(frozen=True)
class Run:
    arm: str
    seed: int
    workdir: str
    argv: tuple[str, ...]  # the rtt_jax.main command, without the python executable

    def command(self, python: str = "python") -> str:
        return " ".join(shlex.quote(a) for a in (python, *self.argv))

    @property
    def complete(self) -> bool:
        return os.path.exists(os.path.join(self.workdir, REPORT))


def experiment_path(name_or_path: str) -> str:
    """``NAME`` -> ``configs/experiments/NAME.py``; a path to a .py file is kept."""
    if name_or_path.endswith(".py") or os.sep in name_or_path:
        path = name_or_path
    else:
        path = os.path.join(EXPERIMENTS_DIR, f"{name_or_path}.py")
    if not os.path.isfile(path):
        known = sorted(f[:-3] for f in os.listdir(EXPERIMENTS_DIR)
                       if f.endswith(".py") and not f.startswith("_")) \
            if os.path.isdir(EXPERIMENTS_DIR) else []
        raise ExperimentError(f"--experiment={name_or_path}: no such experiment file {path}; "
                              f"known: {', '.join(known)}")
    return os.path.abspath(path)


def load_experiment(path: str):
    """The experiment file's module (``EXPERIMENT`` and ``get_config``)."""
    spec = importlib.util.spec_from_file_location(
        "rtt_experiment_" + os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    if REPO_ROOT not in sys.path:  # experiment files import configs.base
        sys.path.insert(0, REPO_ROOT)
    spec.loader.exec_module(module)
    for attr in ("EXPERIMENT", "get_config"):
        if not hasattr(module, attr):
            raise ExperimentError(f"{path}: an experiment file must define {attr}")
    if not isinstance(module.EXPERIMENT, Experiment):
        raise ExperimentError(f"{path}: EXPERIMENT must be an rtt_jax.experiments.Experiment")
    return module


def plan(path: str, experiment: Experiment, variant: str, out: str,
         seeds: Sequence[int] | None = None, arms: Sequence[str] | None = None,
         sets: Iterable[str] = (), workdir_root: str | None = None) -> list[Run]:
    """Every (arm, seed) run, arms in the experiment's order.

    ``sets``: extra ``field=value`` config overrides passed to every run as
    ``--config.field=value`` (e.g. a smaller ``train.steps`` for a smoke run).
    ``workdir_root`` replaces ``<out>/runs`` (e.g. a ``gs://`` bucket on TPU)."""
    seeds = tuple(seeds) if seeds else experiment.seeds_for(variant)
    arms = tuple(arms) if arms else experiment.arm_names
    for a in arms:
        experiment.arm(a)  # unknown arm -> ExperimentError
    root = workdir_root or os.path.join(os.path.abspath(out), "runs")
    extra = []
    for s in sets:
        if "=" not in s:
            raise ExperimentError(f"--set={s}: expected field=value")
        extra.append(f"--config.{s}")
    # Repository-relative when inside it: the same command works on a TPU VM checkout.
    rel = os.path.relpath(path, REPO_ROOT)
    config_path = path if rel.startswith("..") else rel
    runs = []
    for arm in arms:
        for seed in seeds:
            workdir = f"{root}/{arm}/seed_{seed}"
            argv = ("-m", "rtt_jax.main", "--mode=train_eval",
                    f"--config={config_path}:{variant}/{arm}", f"--config.seed={seed}",
                    *extra, f"--workdir={workdir}")
            runs.append(Run(arm, seed, workdir, argv))
    return runs


def _last_error_line(log_path: str) -> str:
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f.read().splitlines()[-200:] if line.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.startswith("error:") or "Error" in line.split(":")[0]:
            return line[:300]
    return lines[-1][:300] if lines else "empty log"


def execute_local(runs: Sequence[Run], env: dict | None = None, timeout_s: float | None = None,
                  echo=print) -> list[dict]:
    """Run each incomplete run as a subprocess, one after another; returns statuses."""
    statuses = []
    for k, run in enumerate(runs, 1):
        os.makedirs(run.workdir, exist_ok=True)
        status_path = os.path.join(run.workdir, STATUS)
        if run.complete:
            echo(f"[{k}/{len(runs)}] {run.arm} seed {run.seed}: complete, skipped")
            statuses.append(read_status(run))
            continue
        echo(f"[{k}/{len(runs)}] {run.arm} seed {run.seed}: running ({run.workdir})")
        t0 = time.time()
        log_path = os.path.join(run.workdir, LOG)
        with open(log_path, "a", encoding="utf-8") as log:
            try:
                rc = subprocess.run([sys.executable, *run.argv], stdout=log,
                                    stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
                                    timeout=timeout_s).returncode
            except subprocess.TimeoutExpired:
                rc = -9
                log.write(f"\nerror: run exceeded --run_timeout={timeout_s}s and was killed\n")
        status = {"arm": run.arm, "seed": run.seed, "rc": rc,
                  "seconds": round(time.time() - t0, 1), "complete": run.complete}
        if not status["complete"]:
            status["error"] = _last_error_line(log_path)
        with open(status_path, "w", encoding="utf-8") as f:
            json.dump(status, f, indent=1)
        echo(f"    -> {'ok' if status['complete'] else 'FAILED: ' + status['error']} "
             f"({status['seconds']:.0f}s)")
        statuses.append(status)
    return statuses


def read_status(run: Run) -> dict:
    try:
        with open(os.path.join(run.workdir, STATUS), encoding="utf-8") as f:
            status = json.load(f)
    except (OSError, ValueError):
        status = {"arm": run.arm, "seed": run.seed}
    status["complete"] = run.complete
    return status


def tpu_commands(runs: Sequence[Run], launcher: str = TPU_LAUNCHER) -> list[str]:
    """One shell line per run: the launcher runs the command on every TPU VM worker."""
    return [f"{launcher} {run.command('python3')}" for run in runs]


def execute_tpu(runs: Sequence[Run], launcher: str = TPU_LAUNCHER, echo=print) -> list[int]:
    """Run the launch commands one after another (each run uses the whole slice)."""
    codes = []
    for line in tpu_commands(runs, launcher):
        echo(line)
        codes.append(subprocess.run(line, shell=True, cwd=REPO_ROOT).returncode)
    return codes
