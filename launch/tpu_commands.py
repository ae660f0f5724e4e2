"""The commands ``launch/tpu.py`` runs, as argument lists (pure functions).

Every subcommand of the launcher is a list of commands, each a list of
strings for ``subprocess.run`` (no shell on this side): ``gcloud`` commands,
and for ``setup`` by copy one local ``git archive``. ``--dry_run`` prints
them with ``shlex.join``; the tests compare them exactly, without gcloud.

The TPU VM is a *queued resource* whose node has the same name: ``create``
asks for it (on demand, ``--spot`` or ``--reserved``), ``delete`` deletes both
(``--force`` deletes the node first). What runs on the workers is in
``launch/tpu_remote.py``.
"""
from __future__ import annotations

import dataclasses
import re
import shlex

from launch import tpu_remote

GCLOUD_TPU = ("gcloud", "compute", "tpus")
PROVISIONING = ("on-demand", "spot", "reserved")

# TPU software ("runtime") version per generation, for JAX (cloud.google.com/tpu/docs/runtimes).
RUNTIME_VERSIONS = {
    "v6e": "v2-alpha-tpuv6e",
    "v5p": "v2-alpha-tpuv5",
    "v5litepod": "v2-alpha-tpuv5-lite",  # v5e
    "v5e": "v2-alpha-tpuv5-lite",
    "v4": "tpu-ubuntu2204-base",
    "v3": "tpu-ubuntu2204-base",
    "v2": "tpu-ubuntu2204-base",
}
_ACCELERATOR = re.compile(r"^(v\d+[a-z]*)-(\d+)$")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


@dataclasses.dataclass(frozen=True)
class Target:
    """Which TPU VM: its (queued resource and node) name, zone and, if not
    gcloud's default, project."""
    name: str
    zone: str
    project: str | None = None

    def flags(self) -> list[str]:
        return [f"--zone={self.zone}"] + ([f"--project={self.project}"] if self.project else [])


def runtime_version_for(accelerator_type: str) -> str:
    """The default TPU software version for ``accelerator_type`` (``v5litepod-64``
    -> ``v2-alpha-tpuv5-lite``); ValueError for a type or generation not known."""
    m = _ACCELERATOR.match(accelerator_type)
    if not m:
        raise ValueError(f"--accelerator_type={accelerator_type}: expected GENERATION-SIZE, "
                         "e.g. v5litepod-64, v6e-8, v5p-128, v4-32")
    if m[1] not in RUNTIME_VERSIONS:
        raise ValueError(f"--accelerator_type={accelerator_type}: no default runtime for "
                         f"{m[1]} (known: {', '.join(RUNTIME_VERSIONS)}); pass --runtime_version")
    return RUNTIME_VERSIONS[m[1]]


def ssh(target: Target, script: str, worker: str = "all") -> list[str]:
    """``gcloud ... tpu-vm ssh`` running ``script`` on ``worker`` (``all``: every worker)."""
    return [*GCLOUD_TPU, "tpu-vm", "ssh", target.name, *target.flags(),
            f"--worker={worker}", f"--command={script}"]


def create_commands(target: Target, accelerator_type: str, runtime_version: str | None = None,
                    provisioning: str = "on-demand") -> list[list[str]]:
    """Ask for the slice as a queued resource; ``provisioning``: ``on-demand``
    (the default), ``spot`` (cheaper, preemptible) or ``reserved`` (a
    reservation the project holds)."""
    if provisioning not in PROVISIONING:
        raise ValueError(f"provisioning={provisioning}: expected one of {', '.join(PROVISIONING)}")
    runtime = runtime_version or runtime_version_for(accelerator_type)
    cmd = [*GCLOUD_TPU, "queued-resources", "create", target.name, f"--node-id={target.name}",
           *target.flags(), f"--accelerator-type={accelerator_type}",
           f"--runtime-version={runtime}"]
    if provisioning != "on-demand":
        cmd.append(f"--{provisioning}")
    return [cmd]


def setup_commands(target: Target, *, git_url: str | None = None, git_ref: str | None = None,
                   tarball: str | None = None, revision: str = "HEAD",
                   repo: str = ".") -> list[list[str]]:
    """Put the code on every worker and install it. With ``git_url``: each
    worker clones it (at ``git_ref``). Otherwise ``git archive`` of
    ``revision`` in the local ``repo`` into ``tarball``, copied to every worker
    (committed files only: uncommitted changes are not in the archive)."""
    if git_url:
        return [ssh(target, tpu_remote.setup_script(git_url=git_url, git_ref=git_ref))]
    if not tarball:
        raise ValueError("setup by copy needs a tarball path")
    return [["git", "-C", repo, "archive", "--format=tar.gz", f"--output={tarball}", revision],
            [*GCLOUD_TPU, "tpu-vm", "scp", tarball, f"{target.name}:{tpu_remote.TARBALL}",
             *target.flags(), "--worker=all"],
            ssh(target, tpu_remote.setup_script(revision=revision))]


def workdir_of(main_args: list[str]) -> str | None:
    """The ``--workdir`` value among rtt_jax.main's arguments (either spelling)."""
    for k, a in enumerate(main_args):
        if a.startswith("--workdir="):
            return a.split("=", 1)[1]
        if a == "--workdir" and k + 1 < len(main_args):
            return main_args[k + 1]
    return None


def default_run_name(main_args: list[str]) -> str:
    """A run's name when none is given: its workdir as one file name
    (``gs://b/exp/traces/seed_0`` -> ``b_exp_traces_seed_0``), at most 100
    characters, so that the same command always has the same name."""
    workdir = workdir_of(main_args)
    if not workdir:
        raise ValueError("run: no --workdir among rtt_jax.main's flags (after --) to name "
                         "the run by; pass --run_name")
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", workdir.split("://", 1)[-1]).strip("._-")
    return name[-100:].lstrip("._-=") or "run"


def check_run_name(run_name: str) -> str:
    if not _RUN_NAME.match(run_name):
        raise ValueError(f"--run_name={run_name}: use letters, digits and . _ = - "
                         "(starting with a letter or digit)")
    return run_name


def run_commands(target: Target, main_args: list[str], run_name: str,
                 sync_s: int = 300) -> list[list[str]]:
    """Start ``python -m rtt_jax.main <main_args>`` detached on every worker
    with ``RTT_JAX_DISTRIBUTED=1`` (rtt_jax.main then calls
    ``jax.distributed.initialize()``); logs in ``~/rtt_jax_logs/<run_name>/``
    on each worker, copied to ``<workdir>/logs/``."""
    return [ssh(target, tpu_remote.run_script(list(main_args), check_run_name(run_name),
                                              workdir_of(main_args), sync_s))]


def logs_commands(target: Target, run_name: str | None = None, worker: int = 0,
                  lines: int = 100, follow: bool = False) -> list[list[str]]:
    """Print one worker's log (the named run, or its latest); ``follow``: keep printing."""
    return [ssh(target, tpu_remote.logs_script(run_name and check_run_name(run_name),
                                               lines, follow), worker=str(worker))]


def describe_command(target: Target) -> list[str]:
    """The queued resource's state (WAITING_FOR_RESOURCES, PROVISIONING, ACTIVE, ...)."""
    return [*GCLOUD_TPU, "queued-resources", "describe", target.name, *target.flags(),
            "--format=value(state.state)"]


def status_commands(target: Target, run_name: str | None = None) -> list[list[str]]:
    """The queued resource's state, then each worker's runs (or the named one)."""
    return [describe_command(target),
            ssh(target, tpu_remote.status_script(run_name and check_run_name(run_name)))]


def stop_commands(target: Target, run_name: str | None = None) -> list[list[str]]:
    """Stop the named run (default: every live run) on every worker."""
    return [ssh(target, tpu_remote.stop_script(run_name and check_run_name(run_name)))]


def delete_commands(target: Target, yes: bool = False) -> list[list[str]]:
    """Delete the queued resource and its TPU VM (``--force``). gcloud asks to
    confirm unless ``yes`` (``--quiet``)."""
    return [[*GCLOUD_TPU, "queued-resources", "delete", target.name, *target.flags(), "--force",
             *(["--quiet"] if yes else [])]]


def format_commands(commands: list[list[str]]) -> str:
    """One shell-quoted line per command (what ``--dry_run`` prints)."""
    return "\n".join(shlex.join(c) for c in commands)
