"""The shell scripts that ``launch/tpu.py`` runs on every TPU VM worker.

Each function returns one line of bash (statements joined by ``; ``), passed
to ``gcloud compute tpus tpu-vm ssh --worker=all --command=...``, so a dry
run prints every command on one line. Pure string building: nothing here
runs anything.

The layout on each worker (all under the ssh user's ``$HOME``):

* ``~/rtt_jax``: the code (a ``git archive`` of HEAD, or a ``git clone``);
  ``setup`` replaces it, and refuses while a run is alive.
* ``~/rtt_jax_venv``: a Python 3.11 virtual environment made by uv (which
  downloads Python 3.11 when the image lacks it), with ``-e ~/rtt_jax`` and
  the package's ``tpu`` extra (``jax[tpu]``) installed. It is kept across ``setup`` calls.
* ``~/rtt_jax_logs/<run>/``: one directory per run: ``pid`` (the detached
  wrapper's process id, also its process group), ``worker_<i>.log`` (the
  worker's stdout and stderr) and ``worker_<i>.exit`` (its exit status, once
  it ended). ``<i>`` is the worker number from the VM's metadata
  (``agent-worker-number``, the number JAX itself uses as process id).

A run is detached with ``setsid nohup``: closing the ssh session (or the
laptop) does not end it. When the run ends, its log and exit file are copied
to ``<workdir>/logs/`` (``gcloud storage cp`` for a ``gs://`` workdir, where
they are also copied every ``sync_s`` seconds while it runs, so a preempted
run leaves its log behind).
"""
from __future__ import annotations

import re
import shlex

REPO = "$HOME/rtt_jax"
VENV = "$HOME/rtt_jax_venv"
LOGS = "$HOME/rtt_jax_logs"
TARBALL = "rtt_jax.tar.gz"  # scp target, relative to $HOME
UV_INSTALL = "curl -LsSf https://astral.sh/uv/install.sh | sh"
_METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/attributes"
# The worker number; on a machine without TPU metadata, its host name.
WORKER_ID = f'W=$(curl -sf -H "Metadata-Flavor: Google" {_METADATA}/agent-worker-number || hostname)'


def _alive(d: str) -> str:
    """A test that is true while the run whose directory is ``d`` is alive
    (its wrapper process exists and is not a zombie)."""
    return f'[ -f "{d}/pid" ] && ps -o stat= -p "$(cat "{d}/pid")" | grep -qv "^Z"'


def _join(stmts: list[str]) -> str:
    """Statements on one line: ``; `` between them, but none after a ``&``
    (``cmd &; next`` is a bash syntax error)."""
    out = ""
    for s in stmts:
        out += s if not out else (" " if out.endswith("&") else "; ") + s
    return out


def _for_runs(run_name: str | None, body: str) -> str:
    """``body`` once per run directory ``$d`` (named ``$n``): the named run
    (``not started`` when this worker has none), or every run on the worker."""
    if run_name:
        dirs, missing = f'"{LOGS}/"{shlex.quote(run_name)}', \
            f'echo "worker $W: "{shlex.quote(run_name)}": not started"'
    else:
        dirs, missing = f'"{LOGS}"/*', 'echo "worker $W: no runs"'
    return (f'for d in {dirs}; do [ -d "$d" ] || {{ {missing}; continue; }}; '
            f'n=$(basename "$d"); {body}; done')


def setup_script(git_url: str | None = None, git_ref: str | None = None,
                 revision: str | None = None) -> str:
    """Install uv if missing, replace ``~/rtt_jax`` with the copied tarball
    (``revision``: the commit it holds, written to ``GIT_COMMIT``) or a clone
    of ``git_url`` at ``git_ref``, then install it with its ``tpu`` extra into the
    Python 3.11 venv and print the versions."""
    stmts = ["set -e", 'export PATH="$HOME/.local/bin:$PATH"', WORKER_ID,
             f'for d in "{LOGS}"/*; do if {_alive("$d")}; '
             f'then echo "worker $W: a run is alive ($d); stop it first" >&2; '
             f'exit 1; fi; done',
             f"command -v uv >/dev/null || {{ {UV_INSTALL}; }}",
             f'rm -rf "{REPO}"']
    if git_url:
        stmts.append(f'git clone --quiet {shlex.quote(git_url)} "{REPO}"')
        if git_ref:
            stmts.append(f'git -C "{REPO}" checkout --quiet {shlex.quote(git_ref)}')
    else:
        stmts += [f'mkdir -p "{REPO}"', f'tar -xzf "$HOME/{TARBALL}" -C "{REPO}"',
                  f'rm -f "$HOME/{TARBALL}"']
        if revision:
            stmts.append(f'echo {shlex.quote(revision)} > "{REPO}/GIT_COMMIT"')
    stmts += [f'[ -x "{VENV}/bin/python" ] || uv venv --quiet --python 3.11 "{VENV}"',
              f'uv pip install --quiet --python "{VENV}/bin/python" -e "{REPO}[tpu]"',
              f'"{VENV}/bin/python" -c \'import sys, jax; print("worker", sys.argv[1], '
              f'"ready: python", sys.version.split()[0], "jax", jax.__version__)\' "$W"']
    return _join(stmts)


def _copy_logs(workdir: str | None) -> tuple[str, str]:
    """(copy the log and exit files to ``<workdir>/logs/``, the same for the
    log alone); empty when there is no workdir. Failures are ignored: the
    local copy under ``~/rtt_jax_logs`` stays."""
    if not workdir:
        return "", ""
    dest = shlex.quote(workdir.rstrip("/") + "/logs/")
    log, exit_file = '"$D/worker_$W.log"', '"$D/worker_$W.exit"'
    if "://" in workdir:
        cp = "gcloud storage cp --quiet {} " + dest + " >/dev/null 2>&1 || true"
    else:
        cp = "{ mkdir -p " + dest + " && cp {} " + dest + "; } >/dev/null 2>&1 || true"
    return cp.replace("{}", f"{log} {exit_file}", 1), cp.replace("{}", log, 1)


def run_script(main_args: list[str], run_name: str, workdir: str | None,
               sync_s: int = 300) -> str:
    """Start ``python -m rtt_jax.main <main_args>`` detached, with
    ``RTT_JAX_DISTRIBUTED=1``, from ``~/rtt_jax``; its output goes to
    ``~/rtt_jax_logs/<run_name>/worker_<i>.log``. Refuses (exit 1) when a run
    of that name is alive on the worker."""
    copy_all, copy_log = _copy_logs(workdir)
    inner = [f'"{VENV}/bin/python" -m rtt_jax.main {shlex.join(main_args)} '
             f'> "$D/worker_$W.log" 2>&1', "rc=$?",
             'echo "$rc" > "$D/worker_$W.exit"']
    if workdir and "://" in workdir:  # a preempted VM takes its disk with it: sync as we go
        inner.insert(0, f"( while sleep {int(sync_s)}; do {copy_log}; done ) & S=$!")
        inner.insert(-1, 'kill "$S" 2>/dev/null')
    if copy_all:
        inner.append(copy_all)
    inner.append('exit "$rc"')
    return _join([
        WORKER_ID, f'D="{LOGS}/"{shlex.quote(run_name)}', 'mkdir -p "$D"',
        f'if {_alive("$D")}; then echo "worker $W: run "{shlex.quote(run_name)}" is already '
        f'running; stop it first" >&2; exit 1; fi',
        'rm -f "$D/worker_$W.exit"', f'cd "{REPO}"',
        "export W D RTT_JAX_DISTRIBUTED=1 PYTHONUNBUFFERED=1",
        f"setsid nohup bash -c {shlex.quote(_join(inner))} >/dev/null 2>&1 </dev/null &",
        'echo "$!" > "$D/pid"',
        'echo "worker $W: started "' + shlex.quote(run_name) + '" (pid $!), log $D/worker_$W.log"'])


def status_script(run_name: str | None = None) -> str:
    """One line per run on each worker: ``worker <i>: <run>: running (pid P)``,
    ``exited <code>``, ``not running, no exit code (...)`` or ``not started``."""
    body = (f'if {_alive("$d")}; then s="running (pid $(cat "$d/pid"))"; '
            f'elif [ -f "$d/worker_$W.exit" ]; then s="exited $(cat "$d/worker_$W.exit")"; '
            f'else s="not running, no exit code (killed, or the VM restarted)"; fi; '
            f'echo "worker $W: $n: $s"')
    return _join([WORKER_ID, _for_runs(run_name, body)])


def stop_script(run_name: str | None = None, grace_s: int = 30) -> str:
    """Stop the named run (or every live run) on each worker: SIGTERM to the
    program, up to ``grace_s`` seconds for the wrapper to record the exit
    status and copy the log, then SIGKILL to whatever is left of the group."""
    body = (f'if {_alive("$d")}; then P=$(cat "$d/pid"); pkill -TERM -P "$P"; '
            f'for i in $(seq {5 * int(grace_s)}); do {_alive("$d")} || break; sleep 0.2; done; '
            f'kill -KILL -- "-$P" 2>/dev/null; echo "worker $W: $n: stopped"; '
            f'else echo "worker $W: $n: not running"; fi')
    return _join([WORKER_ID, _for_runs(run_name, body)])


def logs_script(run_name: str | None = None, lines: int = 100, follow: bool = False) -> str:
    """The last ``lines`` lines of the worker's log of the named run (or of
    its most recently started run); ``follow`` keeps printing (``tail -F``)."""
    pick = (f'D="{LOGS}/"{shlex.quote(run_name)}' if run_name else
            f'D=$(ls -1dt "{LOGS}"/*/ 2>/dev/null | head -n 1)')
    return _join([
        WORKER_ID, pick,
        '[ -n "$D" ] && [ -d "$D" ] || { echo "worker $W: no such run log here" >&2; exit 1; }',
        'echo "== worker $W: $D" >&2',
        f'tail -n {int(lines)} {"-F " if follow else ""}"$D"/worker_*.log'])


def parse_status(text: str, run_name: str) -> dict[str, str]:
    """``{worker: state}`` for ``run_name`` from ``status_script``'s output
    (other lines, such as gcloud's own, are ignored)."""
    line_re = re.compile(rf"worker (\S+): {re.escape(run_name)}: (.+)$")
    states = {}
    for line in text.splitlines():
        m = line_re.search(line.strip())  # search: tolerate a prefix before "worker"
        if m:
            states[m[1]] = m[2].strip()
    return states


def exit_status(states: dict[str, str]) -> int | None:
    """None while any worker runs; else 0 when every worker exited 0, the
    first other exit code, or 1 for a worker with none (killed, not started)."""
    if not states or any(s.startswith("running") for s in states.values()):
        return None
    for worker in sorted(states):
        s = states[worker]
        code = s[len("exited "):] if s.startswith("exited ") else ""
        if not code.lstrip("-").isdigit():
            return 1
        if int(code) != 0:
            return int(code)
    return 0
