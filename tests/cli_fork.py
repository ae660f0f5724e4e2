"""Command-line runs for tests, forked from one warm process.

Every ``python -m rtt_jax...`` a test starts first spends two to three CPU
seconds importing JAX, Flax, orbax and Grain. The tests of the command-line
contract (one error line, the exit status) run dozens of such commands, so
``run_module`` hands them to a helper process that has imported those
libraries once, without starting a JAX backend, and forks one child per
command. The child is the command: it runs the module as ``__main__`` as
``python -m`` does (``runpy``; ``sys.argv[0]`` the module's file, ``sys.path[0]``
the working directory), with the caller's arguments, working directory and
environment, stdin from /dev/null, stdout and stderr of its own, and exits
with the command's status (an uncaught exception: its traceback on stderr and
status 1, as ``python`` does). Forking before any backend exists is what the
checkpoint kill test's driver does too.

A request whose environment differs from the helper's in a variable that
JAX or XLA may read before the fork (``JAX_*``, ``XLA_FLAGS``) runs as a real
subprocess instead. The child ends as an interpreter does: it waits for its
non-daemon threads, runs its exit handlers, flushes its streams.
"""
from __future__ import annotations

import atexit
import json
import os
import pathlib
import subprocess
import sys
import tempfile

# What the commands import before their first flag is read (no backend starts).
_WARM = ("numpy", "jax", "jax.numpy", "flax.nnx", "optax", "orbax.checkpoint", "grain",
         "ml_collections", "absl.app", "absl.flags", "absl.logging")
_HELPER = None  # the per-process helper: (Popen, env it was started with)


def run_module(module: str, args, cwd, env=None, timeout: float = 600
               ) -> subprocess.CompletedProcess:
    """``python -m module *args`` in ``cwd`` (``env``: default this process's),
    as a ``CompletedProcess`` with text stdout and stderr."""
    env = dict(os.environ if env is None else env)
    helper = _helper()
    if _read_early(env) != _read_early(helper[1]):
        return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        request = dict(module=module, args=[str(a) for a in args], cwd=str(cwd), env=env,
                       stdout=out, stderr=err)
        proc = helper[0]
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        reply = proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"tests/cli_fork.py helper died (exit {proc.wait()})")
        code = json.loads(reply)["returncode"]
        return subprocess.CompletedProcess([sys.executable, "-m", module, *args], code,
                                           pathlib.Path(out).read_text(errors="replace"),
                                           pathlib.Path(err).read_text(errors="replace"))


def _read_early(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith("JAX_") or k == "XLA_FLAGS"}


def _helper():
    global _HELPER
    if _HELPER is None or _HELPER[0].poll() is not None:
        env = dict(os.environ)
        proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env)
        _HELPER = (proc, env)
        atexit.register(_close, proc)
    return _HELPER


def _close(proc) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=60)


def _serve() -> None:
    """The helper: one JSON request a line on stdin, one reply a line on stdout."""
    import importlib
    for name in _WARM:
        importlib.import_module(name)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        sys.stdout.write(json.dumps({"returncode": code}) + "\n")
        sys.stdout.flush()


def _child(request: dict) -> None:
    import atexit as exit_handlers
    import runpy
    import threading
    import traceback
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.path[0] = os.getcwd()  # python -m puts the working directory first
        sys.argv = [request["module"], *request["args"]]  # runpy sets argv[0] to the file
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - reported as python reports it
            traceback.print_exc()
            code = 1
        threading._shutdown()  # what the interpreter does at exit: non-daemon threads end
        exit_handlers._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    _serve()
