"""Cloud TPU launcher: a slice from create to delete (docs/tpu.md).

    python -m launch.tpu COMMAND --name=NAME --zone=ZONE [--project=P] [flags] [-- MAIN_FLAGS]

Commands (each runs gcloud; ``--dry_run`` prints every command instead, one
shell-quoted line each, and runs nothing):

* ``create --accelerator_type=v5litepod-64 [--spot | --reserved]``: ask for
  the slice as a queued resource (default on demand). ``--runtime_version``
  defaults per generation: v5e ``v2-alpha-tpuv5-lite``, v5p
  ``v2-alpha-tpuv5``, v6e ``v2-alpha-tpuv6e``, v4 and older
  ``tpu-ubuntu2204-base``. It may wait in the queue: see ``status``.
* ``setup [--git_url=URL --git_ref=REF]``: on every worker, install uv, the
  code in ``~/rtt_jax`` (by default a ``git archive`` of this checkout's HEAD,
  copied with scp: commit first; with ``--git_url`` a clone at ``--git_ref``)
  and a Python 3.11 venv ``~/rtt_jax_venv`` with it and its ``tpu`` extra.
* ``run [--run_name=N] [--wait] -- --config=... --workdir=gs://...``: start
  ``python -m rtt_jax.main`` with those flags on every worker with
  ``RTT_JAX_DISTRIBUTED=1``, detached (closing ssh does not stop it). Logs:
  ``~/rtt_jax_logs/<run>/worker_<i>.log`` on each worker, copied to
  ``<workdir>/logs/`` (every 5 minutes for a gs:// workdir, and at the end).
  The run name defaults to the workdir as a file name. ``--wait`` polls until
  it ends; the exit status is the run's (the experiment runner uses this).
* ``logs [--worker=I] [--lines=N] [--run_name=N]`` / ``tail``: a worker's log
  (default worker 0, its latest run); ``tail`` keeps following it.
* ``status [--run_name=N]``: the queued resource's state and, once ACTIVE,
  every run on every worker (running, exited CODE, ...).
* ``stop [--run_name=N]``: stop the run (default: every live run) on all workers.
* ``delete [--yes]``: delete the queued resource and its TPU VM. Billing
  stops only then: ``stop`` does not stop it.

``--name``, ``--zone`` and ``--project`` default to ``$TPU_NAME``,
``$TPU_ZONE`` and ``$TPU_PROJECT`` (else gcloud's default project). A bad flag
is one error line and exit status 2 (``rtt_jax.cli_errors``); a failing gcloud
command stops the sequence with its exit status.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

if not __package__:  # run as a file (python launch/tpu.py): make `launch` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from launch import tpu_commands as tc
from launch import tpu_remote
from rtt_jax import cli_errors

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ("create", "setup", "run", "logs", "tail", "status", "stop", "delete")
# Flags that only some commands take (the others: every command).
SCOPE = {
    "accelerator_type": ("create",), "runtime_version": ("create",), "spot": ("create",),
    "reserved": ("create",), "git_url": ("setup",), "git_ref": ("setup",),
    "run_name": ("run", "logs", "tail", "status", "stop"), "wait": ("run",),
    "poll_s": ("run",), "worker": ("logs", "tail"), "lines": ("logs", "tail"),
    "yes": ("delete",),
}
MAIN_FLAGS = ("--config", "--workdir", "--mode", "--distributed")
OWN_FLAGS = (*SCOPE, "name", "zone", "project", "dry_run")
FLAGS = flags.FLAGS
_MAIN_ARGS: list[str] = []  # what follows `--`: rtt_jax.main's flags


def _define_flags() -> None:
    """Only when run as a program: importing this module defines no flags."""
    env = os.environ.get
    flags.DEFINE_string("name", env("TPU_NAME"), "Queued resource and TPU VM name ($TPU_NAME).")
    flags.DEFINE_string("zone", env("TPU_ZONE"), "Zone, e.g. us-west4-a ($TPU_ZONE).")
    flags.DEFINE_string("project", env("TPU_PROJECT"),
                        "GCP project ($TPU_PROJECT; default: gcloud's).")
    flags.DEFINE_string("accelerator_type", None, "create: e.g. v5litepod-64, v6e-8, v5p-128.")
    flags.DEFINE_string("runtime_version", None, "create: TPU software version "
                        "(default per generation, e.g. v2-alpha-tpuv5-lite for v5e).")
    flags.DEFINE_bool("spot", False, "create: a Spot slice (cheaper; can be preempted).")
    flags.DEFINE_bool("reserved", False, "create: from the project's reservation.")
    flags.DEFINE_string("git_url", None, "setup: clone this repository instead of copying HEAD.")
    flags.DEFINE_string("git_ref", None, "setup: branch, tag or commit of --git_url.")
    flags.DEFINE_string("run_name", None, "run/logs/status/stop: the run (default for run: "
                        "its workdir as a name; for logs: the latest run).")
    flags.DEFINE_bool("wait", False, "run: wait until the run ends; exit with its status.")
    flags.DEFINE_integer("poll_s", 60, "run --wait: seconds between checks.", lower_bound=1)
    flags.DEFINE_integer("worker", 0, "logs/tail: which worker's log.", lower_bound=0)
    flags.DEFINE_integer("lines", 100, "logs/tail: lines to show.", lower_bound=1)
    flags.DEFINE_bool("yes", False, "delete: do not ask to confirm.")
    flags.DEFINE_bool("dry_run", False, "Print the commands instead of running them.")


def parse_flags(argv: list[str]) -> list[str]:
    """Split off rtt_jax.main's flags (after ``--``), then parse ours with the
    one-error-line parser; a main flag before ``--`` gets its own hint."""
    cut = argv.index("--") if "--" in argv else len(argv)
    head, _MAIN_ARGS[:] = argv[:cut], argv[cut + 1:]
    for a in head[1:]:
        if a.split("=", 1)[0] in MAIN_FLAGS or a.startswith("--config."):
            print(f"error: {a.split('=', 1)[0]}: rtt_jax.main's flags go after -- "
                  "(launch/tpu.py run [--run_name=N] -- --config=... --workdir=...)",
                  file=sys.stderr)
            sys.exit(cli_errors.EXIT_BAD_INPUT)
    return cli_errors.flags_parser()(head)


def check(command: str | None, extra: list[str], main_args: list[str], present: set[str],
          values: dict) -> None:
    """Bad combinations as ValueError (one line): a command, its flags, its arguments."""
    if command not in COMMANDS:
        got = f"unknown command {command!r}" if command else "no command"
        raise ValueError(f"{got}; expected one of {', '.join(COMMANDS)} (--help for flags)")
    if extra:
        raise ValueError(f"{command}: unexpected argument {extra[0]!r}")
    for flag, commands in SCOPE.items():
        if flag in present and command not in commands:
            raise ValueError(f"--{flag} applies to {' and '.join(commands)}, not {command}")
    if main_args and command != "run":
        raise ValueError(f"{command}: takes no rtt_jax.main flags after --")
    for flag, env in (("name", "TPU_NAME"), ("zone", "TPU_ZONE")):
        if not values[flag]:
            raise ValueError(f"--{flag} is required (or set ${env})")
    if command == "create":
        if values["spot"] and values["reserved"]:
            raise ValueError("--spot and --reserved are mutually exclusive")
        if not values["accelerator_type"]:
            raise ValueError("create: --accelerator_type is required (e.g. v5litepod-64)")
        if not values["runtime_version"]:
            tc.runtime_version_for(values["accelerator_type"])
    if values["git_ref"] and not values["git_url"]:
        raise ValueError("--git_ref needs --git_url (setup copies this checkout's HEAD otherwise)")
    for a in main_args:  # e.g. `run -- ... --dry_run` would start the run for real
        key = a.split("=", 1)[0].lstrip("-")
        if a.startswith("--") and (key in OWN_FLAGS or key[2:] in OWN_FLAGS and key[:2] == "no"):
            raise ValueError(f"{a.split('=', 1)[0]} after --: launch/tpu.py's own flags go "
                             "before --; what follows -- is passed to rtt_jax.main")
    if command == "run" and not main_args:
        raise ValueError("run: give rtt_jax.main's flags after --, e.g. "
                         "run -- --config=configs/base.py:v5e-64 --workdir=gs://BUCKET/run")
    if values["run_name"]:
        tc.check_run_name(values["run_name"])


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", REPO_ROOT, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValueError(f"setup copies the git HEAD of {REPO_ROOT}, but git {args[0]} failed "
                         f"({proc.stderr.strip()[:200]}); commit there, or use --git_url")
    return proc.stdout.strip()


def build(command: str, target: tc.Target, values: dict, main_args: list[str]) -> list[list[str]]:
    """The commands for ``command`` (setup by copy reads this checkout's HEAD)."""
    if command == "create":
        provisioning = "spot" if values["spot"] else "reserved" if values["reserved"] else "on-demand"
        return tc.create_commands(target, values["accelerator_type"], values["runtime_version"],
                                  provisioning)
    if command == "setup":
        if values["git_url"]:
            return tc.setup_commands(target, git_url=values["git_url"], git_ref=values["git_ref"])
        sha = _git("rev-parse", "HEAD")
        if _git("status", "--porcelain", "--untracked-files=no"):
            print(f"warning: uncommitted changes in {REPO_ROOT} are not copied; setup copies "
                  f"commit {sha[:12]}", file=sys.stderr)
        tarball = os.path.join(tempfile.gettempdir(), f"rtt_jax-{sha[:12]}.tar.gz")
        return tc.setup_commands(target, tarball=tarball, revision=sha, repo=REPO_ROOT)
    if command == "run":
        return tc.run_commands(target, main_args, values["run_name"] or tc.default_run_name(main_args))
    if command in ("logs", "tail"):
        return tc.logs_commands(target, values["run_name"], values["worker"], values["lines"],
                                follow=command == "tail")
    if command == "status":
        return tc.status_commands(target, values["run_name"])
    if command == "stop":
        return tc.stop_commands(target, values["run_name"])
    return tc.delete_commands(target, yes=values["yes"])


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        raise ValueError(f"{cmd[0]}: not found on PATH" + (
            "; install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)"
            if cmd[0] == "gcloud" else ""))
    line = shlex.join(cmd)
    print("+ " + (line if len(line) <= 200 else line[:197] + "..."), file=sys.stderr, flush=True)
    return subprocess.run(cmd, **kwargs)


def execute(commands: list[list[str]]) -> int:
    """Run the commands in turn; the first failure stops them (its exit status)."""
    for cmd in commands:
        rc = _run(cmd).returncode
        if rc != 0:
            print(f"error: {shlex.join(cmd[:5])} ... failed with exit status {rc}", file=sys.stderr)
            return rc
    return 0


def status(commands: list[list[str]]) -> int:
    """The queued resource's state; the workers' runs only once it is ACTIVE."""
    describe, workers = commands
    proc = _run(describe, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr.strip(), file=sys.stderr)
        return proc.returncode
    state = proc.stdout.strip() or "unknown"
    print(f"queued resource {describe[5]}: {state}", flush=True)
    if state != "ACTIVE":
        print("workers: none yet (runs start once the state is ACTIVE)", flush=True)
        return 0
    return execute([workers])


def wait(target: tc.Target, run_name: str, poll_s: int, max_failures: int = 10) -> int:
    """Poll the run's state on every worker until none runs: the run's exit status."""
    check_cmd = tc.ssh(target, tpu_remote.status_script(run_name))
    failures, last = 0, None
    while True:
        time.sleep(poll_s)
        proc = subprocess.run(check_cmd, capture_output=True, text=True)
        states = tpu_remote.parse_status(proc.stdout, run_name)
        if proc.returncode != 0 or not states:
            failures += 1
            print(f"warning: could not read the run's state ({failures}/{max_failures}): "
                  f"{(proc.stderr.strip().splitlines() or ['no output'])[-1][:200]}", file=sys.stderr)
            if failures >= max_failures:
                print(f"error: lost contact with {target.name} (preempted or deleted? "
                      "`python -m launch.tpu status` shows its state)", file=sys.stderr)
                return 1
            continue
        failures = 0
        summary = ", ".join(f"{n} {s}" for s, n in sorted(_count(states).items()))
        if summary != last:
            print(f"{run_name}: {summary}", flush=True)
            last = summary
        rc = tpu_remote.exit_status(states)
        if rc is not None:
            return rc


def _count(states: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in states.values():
        key = "running" if s.startswith("running") else s
        out[key] = out.get(key, 0) + 1
    return out


def main(argv: list[str]) -> int:
    command, extra = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
    values = {n: FLAGS[n].value for n in (*SCOPE, "name", "zone", "project", "dry_run")}
    present = {name for name in SCOPE if FLAGS[name].present}
    main_args = list(_MAIN_ARGS)

    def body() -> int:
        check(command, extra, main_args, present, values)
        target = tc.Target(values["name"], values["zone"], values["project"] or None)
        commands = build(command, target, values, main_args)
        run_name = values["run_name"] or (tc.default_run_name(main_args) if command == "run"
                                          else None)
        if values["dry_run"]:
            print(tc.format_commands(commands))
            if command == "run" and values["wait"]:
                print(f"# then, every {values['poll_s']}s until no worker runs it:")
                print(shlex.join(tc.ssh(target, tpu_remote.status_script(run_name))))
            return 0
        if command == "status":
            return status(commands)
        rc = execute(commands)
        if rc == 0 and command == "run":
            hint = shlex.join([f"--name={target.name}", *target.flags(), f"--run_name={run_name}"])
            print(f"started {run_name}; logs: python -m launch.tpu logs {hint} [--worker=I]; "
                  f"stop: python -m launch.tpu stop {hint}", flush=True)
            if values["wait"]:
                return wait(target, run_name, values["poll_s"])
        if rc == 0 and command == "create":
            print(f"queued {target.name}; `python -m launch.tpu status` shows when it is ACTIVE. "
                  "It bills from then until `python -m launch.tpu delete`.")
        return rc
    return cli_errors.run_reporting(body)


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=parse_flags)
