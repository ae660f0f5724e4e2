"""Executing planned runs: locally as subprocesses, or on a TPU slice.

Locally (CPU) the runs execute ``parallel`` at a time as subprocesses, each
pinned to its share of the cores, so a run that crashes (or is killed) is
recorded and the next one still runs; a run waits for the runs it needs, and
one whose need failed is not started and is recorded as failed, naming the
need. Rerunning skips complete runs and resumes incomplete ones from their
last checkpoint (the training loop restores it). On a TPU VM
(``launch="tpu"``) the same commands are printed, or run, through
``launch/tpu.py run --wait`` (docs/tpu.md); steps always run on this machine
(they read the runs' workdirs, gs:// included).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Sequence

from rtt_jax import paths
from rtt_jax.experiments.plan import LOG, REPO_ROOT, STATUS, Run
from rtt_jax.experiments.definition import ExperimentError

# Starts a run on every worker of the slice $TPU_NAME in $TPU_ZONE and waits for it (docs/tpu.md).
TPU_LAUNCHER = "python3 launch/tpu.py run --wait"


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
        if argv[:2] != ["-m", "rtt_jax.main"]:  # launch/tpu.py starts rtt_jax.main only
            raise ExperimentError(f"{run.key}: runs {argv[1]}; the TPU launcher starts "
                                  "rtt_jax.main runs only (run this arm locally)")
        main_args = argv[2:]
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
