"""Planning and executing an experiment's runs.

A run is one (arm, seed): one ``rtt_jax.main --mode=train_eval`` command with
``--config=<experiment file>:<variant>/<arm> --config.seed=<seed>`` and its own
workdir ``<out>/runs/<arm>/seed_<seed>``. Locally (CPU) the runs execute one
after another as subprocesses, so a run that crashes (or is killed) is
recorded and the next one still runs; on a TPU VM (``launch="tpu"``) the same
commands are printed, or run, through ``launch/tpu.py run --wait`` (docs/tpu.md).

A run is *complete* when its workdir holds ``report.json``; rerunning the
runner skips complete runs and resumes incomplete ones from their last
checkpoint (the training loop restores it). ``run_status.json`` in the workdir
records the exit code, the seconds taken and the last error line.

An experiment's steps (``spec.Step``) are planned as runs too, with
``kind="step"``: ``python -m MODULE --out=OUT/steps/NAME[/seed_S] ...``,
complete when that directory holds ``done.json``. A run starts only when
every run it ``needs`` is complete; one whose need failed is not started and
is recorded as failed, naming the need. Steps always run on this machine
(with ``--launch=tpu`` too: they read the runs' workdirs, gs:// included).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Iterable, Sequence

from rtt_jax import paths
from rtt_jax.experiments.spec import Experiment, ExperimentError, Step

REPORT, STATUS, LOG, DONE = "report.json", "run_status.json", "run.log", "done.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The shipped experiment files ship inside the package (rtt_jax/configs/experiments;
# the repository's top-level configs/ is a symlink to rtt_jax/configs).
EXPERIMENTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "experiments")
# Starts a run on every worker of the slice $TPU_NAME in $TPU_ZONE and waits for it (docs/tpu.md).
TPU_LAUNCHER = "python3 launch/tpu.py run --wait"


@dataclasses.dataclass(frozen=True)
class Run:
    arm: str  # the arm, or the step's name for kind="step"
    seed: int | None  # None: a step that runs once
    workdir: str
    argv: tuple[str, ...]  # the command, without the python executable
    kind: str = "run"  # "run" (rtt_jax.main, report.json) or "step" (done.json)
    needs: tuple[str, ...] = ()  # keys of the runs that must be complete first
    done: str = DONE  # a step's completion file

    def command(self, python: str = "python") -> str:
        return " ".join(shlex.quote(a) for a in (python, *self.argv))

    @property
    def key(self) -> str:
        return self.arm if self.seed is None else f"{self.arm}/seed_{self.seed}"

    @property
    def complete(self) -> bool:
        return paths.exists(os.path.join(self.workdir, REPORT if self.kind == "run" else self.done))


class _StepDirs:
    """``{step:NAME}`` in a template: NAME's output directory for this seed."""

    def __init__(self, out: str, seed: int | None, experiment: Experiment):
        self.out, self.seed, self.experiment = out, seed, experiment

    def __format__(self, name: str) -> str:
        step = self.experiment.step(name)
        if step is None:
            raise ExperimentError(f"{{step:{name}}}: no step {name!r} in experiment "
                                  f"{self.experiment.name!r}")
        return step_dir(self.out, step, self.seed)


def step_dir(out: str, step: Step, seed: int | None) -> str:
    base = f"{paths.absolute(out)}/steps/{step.name}"
    return f"{base}/seed_{seed}" if step.per_seed and seed is not None else base


def _by_variant(value, variant: str, where: str):
    """A step argument's value for ``variant`` (``{variant: value}`` or one value)."""
    if not isinstance(value, dict):
        return value
    if variant not in value:
        raise ExperimentError(f"{where}: no value for variant {variant!r}; "
                              f"variants: {', '.join(value)}")
    return value[variant]


def _fill(template: str, where: str, **fields) -> str:
    try:
        return str(template).format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise ExperimentError(f"{where}: template {template!r}: {type(e).__name__}: {e}; "
                              "fields are {out} {runs} {seed} {variant} {experiment} "
                              "{step:NAME}") from None


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
    if REPO_ROOT not in sys.path:  # files outside the package may import configs.base
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
    """Every (arm, seed) run, arms in the experiment's order, each preceded by
    the steps and arms it needs (those are added even when ``arms`` leaves
    them out).

    ``sets``: extra ``field=value`` config overrides passed to every run as
    ``--config.field=value`` (e.g. a smaller ``train.steps`` for a smoke run).
    ``workdir_root`` replaces ``<out>/runs`` (e.g. a ``gs://`` bucket on TPU)."""
    seeds = tuple(seeds) if seeds else experiment.seeds_for(variant)
    arms = tuple(arms) if arms else experiment.arm_names
    for a in arms:
        experiment.arm(a)  # unknown arm -> ExperimentError
    root = workdir_root or os.path.join(paths.absolute(out), "runs")
    extra = []
    for s in sets:
        if "=" not in s:
            raise ExperimentError(f"--set={s}: expected field=value")
        extra.append(f"--config.{s}")
    # Repository-relative when inside it: the same command works on a TPU VM checkout.
    rel = os.path.relpath(path, REPO_ROOT)
    config_path = path if rel.startswith("..") else rel
    planned: dict[str, Run] = {}

    def fields(seed):
        return dict(out=paths.absolute(out), runs=root, seed="" if seed is None else seed,
                    variant=variant, experiment=config_path,
                    step=_StepDirs(out, seed, experiment))

    def seeds_of(name: str) -> tuple:
        step = experiment.step(name)
        if step is not None:
            return seeds if step.per_seed else (None,)
        return experiment.arm_seeds(name, variant, seeds)

    def need_keys(names, seed, where) -> tuple[str, ...]:
        keys = []
        for name in names:
            own = seeds_of(name)
            chosen = [seed] if seed in own else list(own)
            for s in chosen:
                keys.append(add(name, s))
        return tuple(keys)

    def add(name: str, seed) -> str:
        key = name if seed is None else f"{name}/seed_{seed}"
        if key in planned:
            if planned[key] is None:
                raise ExperimentError(f"experiment {experiment.name!r}: {key} needs itself "
                                      "through its needs (a cycle)")
            return key
        planned[key] = None  # a cycle stops here (the spec forbids self-needs)
        step = experiment.step(name)
        if step is not None:
            where = f"experiment {experiment.name!r} step {name!r}"
            needs = need_keys(step.needs, seed, where)
            workdir = step_dir(out, step, seed)
            args = [f"--{k}=" + _fill(_by_variant(v, variant, f"{where} arg {k!r}"), where,
                                      **fields(seed)) for k, v in step.args.items()]
            argv = ("-m", step.module, f"--out={workdir}", *args)
            run = Run(name, seed, workdir, argv, kind="step", needs=needs, done=step.done)
        else:
            arm = experiment.arm(name)
            where = f"experiment {experiment.name!r} arm {name!r}"
            needs = need_keys(arm.needs, seed, where)
            workdir = f"{root}/{name}/seed_{seed}"
            run_sets = [f"--config.{k}={_fill(v, where, **fields(seed))}"
                        for k, v in arm.run_sets.items()]
            argv = ("-m", "rtt_jax.main", "--mode=train_eval",
                    f"--config={config_path}:{variant}/{name}", f"--config.seed={seed}",
                    *run_sets, *extra, f"--workdir={workdir}")
            run = Run(name, seed, workdir, argv, needs=needs)
        del planned[key]  # re-insert after its needs: the list is in dependency order
        planned[key] = run
        return key

    for arm in arms:
        for seed in experiment.arm_seeds(arm, variant, seeds):
            add(arm, seed)
    return list(planned.values())


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


def _log_path(run: Run) -> str:
    """The file a local run's output goes to: ``<workdir>/run.log``; for a
    ``gs://`` workdir a local file (a subprocess needs one), appended to
    ``<workdir>/run.log`` when the run ends (``_upload_log``)."""
    if not paths.is_remote(run.workdir):
        return os.path.join(run.workdir, LOG)
    local = os.path.join(tempfile.gettempdir(), "rtt_jax_run_logs",
                         run.workdir.replace("://", "/"), LOG)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    return local


def _upload_log(run: Run) -> None:
    if paths.is_remote(run.workdir) and os.path.exists(_log_path(run)):
        local = _log_path(run)
        with open(local, encoding="utf-8", errors="replace") as f:
            paths.append_text(os.path.join(run.workdir, LOG), f.read())
        os.remove(local)


def cpu_slots(parallel: int) -> list[set[int] | None]:
    """CPU sets for ``parallel`` concurrent runs: the cores this process may use,
    dealt out evenly (a run pinned to its own cores is not slowed by the
    others' thread pools); ``[None]`` (no pinning) for one run at a time or
    where affinity is not supported."""
    if parallel <= 1 or not hasattr(os, "sched_getaffinity"):
        return [None] * max(parallel, 1)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < parallel:
        return [None] * parallel
    per = len(cores) // parallel
    return [set(cores[k * per:(k + 1) * per]) for k in range(parallel)]


def execute_local(runs: Sequence[Run], env: dict | None = None, timeout_s: float | None = None,
                  echo=print, parallel: int = 1) -> list[dict]:
    """Run each incomplete run as a subprocess, ``parallel`` at a time (each
    pinned to its share of the cores); returns statuses in ``runs`` order.

    On 2 CPU cores two runs pinned to one core each train about 1.3x the
    tokens per second of one run using both (bench: experiments run in
    parallel); results do not depend on ``parallel``."""
    statuses: list[dict | None] = [None] * len(runs)
    slots = cpu_slots(parallel)
    free = list(range(len(slots)))
    active: dict[int, tuple] = {}  # run index -> (process, slot, start time, log file)

    def finish(k: int, rc: int) -> None:
        proc, slot, t0, log = active.pop(k)
        run = runs[k]
        if rc == -9 and timeout_s is not None and time.time() - t0 >= timeout_s:
            log.write(f"\nerror: run exceeded --run_timeout={timeout_s}s and was killed\n")
        log.close()
        free.append(slot)
        status = {"arm": run.arm, "seed": run.seed, "rc": rc,
                  "seconds": round(time.time() - t0, 1), "complete": run.complete}
        if not status["complete"]:
            status["error"] = _last_error_line(_log_path(run))
        _upload_log(run)
        paths.write_text(os.path.join(run.workdir, STATUS), json.dumps(status, indent=1))
        echo(f"    {run.key} -> "
             f"{'ok' if status['complete'] else 'FAILED: ' + status['error']} "
             f"({status['seconds']:.0f}s)")
        statuses[k] = status

    pending = list(range(len(runs)))
    index = {run.key: k for k, run in enumerate(runs)}

    def blocked(k: int) -> str | None:
        """None when run k may start; "wait" while a need is running or
        pending; else the key of a need that finished without completing."""
        for need in runs[k].needs:
            j = index.get(need)
            if j is None or runs[j].complete:
                continue
            if statuses[j] is not None:
                return need
            return "wait"
        return None

    try:
        while pending or active:
            for k in list(pending):
                if not free:
                    break
                state = blocked(k)
                if state == "wait":
                    continue
                pending.remove(k)
                run = runs[k]
                if state is not None:
                    echo(f"[{k + 1}/{len(runs)}] {run.key}: not run, it needs {state}, "
                         "which failed")
                    statuses[k] = {"arm": run.arm, "seed": run.seed, "rc": None,
                                   "complete": False, "error": f"needs {state}, which failed"}
                    paths.makedirs(run.workdir)  # so results name the reason
                    paths.write_text(os.path.join(run.workdir, STATUS),
                                     json.dumps(statuses[k], indent=1))
                    continue
                paths.makedirs(run.workdir)
                if run.complete:
                    echo(f"[{k + 1}/{len(runs)}] {run.key}: complete, skipped")
                    statuses[k] = read_status(run)
                    continue
                slot = free.pop(0)
                cores = slots[slot]
                echo(f"[{k + 1}/{len(runs)}] {run.key}: running ({run.workdir})"
                     + (f" on cores {sorted(cores)}" if cores else ""))
                log = open(_log_path(run), "a", encoding="utf-8")
                proc = subprocess.Popen(
                    [sys.executable, *run.argv], stdout=log, stderr=subprocess.STDOUT, env=env,
                    cwd=REPO_ROOT,
                    preexec_fn=(lambda c=cores: os.sched_setaffinity(0, c)) if cores else None)
                active[k] = (proc, slot, time.time(), log)
            for k in list(active):
                proc, _, t0, _ = active[k]
                rc = proc.poll()
                if rc is None and timeout_s is not None and time.time() - t0 > timeout_s:
                    proc.kill()
                    rc = proc.wait()
                    rc = -9
                if rc is not None:
                    finish(k, rc)
            if active:
                time.sleep(0.2)
    finally:
        for k in list(active):  # interrupted: stop the children, keep their checkpoints
            active[k][0].kill()
            active[k][0].wait()
            active[k][3].close()
    return [s for s in statuses if s is not None]


def read_status(run: Run) -> dict:
    try:
        with paths.open_text(os.path.join(run.workdir, STATUS)) as f:
            status = json.load(f)
    except (OSError, ValueError):
        status = {"arm": run.arm, "seed": run.seed}
    status["complete"] = run.complete
    return status


def tpu_commands(runs: Sequence[Run], launcher: str = TPU_LAUNCHER) -> list[str]:
    """One shell line per run: ``launch/tpu.py run --wait -- <rtt_jax.main flags>``
    starts the run detached on every worker of the TPU VM named by $TPU_NAME
    in $TPU_ZONE (and $TPU_PROJECT), with its log in ``<workdir>/logs/``, and
    returns when it ends with its exit status, so the lines run one after
    another (each run uses the whole slice). The run's name is its workdir.
    A step is a plain ``python3 -m MODULE ...`` line: it runs where the
    commands are run (it reads the runs' workdirs, gs:// included)."""
    lines = []
    for run in runs:
        argv = list(run.argv)
        if run.kind == "step":
            lines.append(f"python3 {shlex.join(argv)}")
            continue
        main_args = argv[2:] if argv[:2] == ["-m", "rtt_jax.main"] else argv
        lines.append(f"{launcher} -- {shlex.join(main_args)}")
    return lines


def execute_tpu(runs: Sequence[Run], launcher: str | None = None, echo=print) -> list[int]:
    """Run the launch commands one after another (each run uses the whole
    slice); a failed run is reported missing and the next one still runs.
    The default launcher runs launch/tpu.py with this Python."""
    launcher = launcher or TPU_LAUNCHER.replace("python3", shlex.quote(sys.executable), 1)
    codes = []
    for line in tpu_commands(runs, launcher):
        if line.startswith("python3 -m "):  # a step, here
            line = shlex.quote(sys.executable) + line[len("python3"):]
        echo(line)
        codes.append(subprocess.run(line, shell=True, cwd=REPO_ROOT).returncode)
    return codes
