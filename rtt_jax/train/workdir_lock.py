"""One run per workdir: an exclusive lock taken before anything in it is touched.

Two runs writing one workdir interleave checkpoints, truncate each other's
metrics.jsonl and garbage-collect each other's steps. ``hold(workdir)`` takes
``<workdir>/run.lock`` with ``fcntl.flock`` (exclusive, non-blocking) and keeps
it for the whole run; a second run stops at once with a ``WorkdirLockedError``
whose one line names the holder's host and pid, read from the file.

Why flock and not a pid file alone: the kernel drops a flock when its holder
dies in any way (kill -9, OOM, power loss of the process), so a dead run never
blocks the next one, and two runs starting together cannot both win (no
check-then-create race). The file's text (``host pid start-time``) is for
people and for the stale-lock warning: a run that finds the lock free but the
file still naming a holder (that run was killed and never released it) takes
it over and logs a warning saying whose lock it was and whether that pid is
still alive on this host. A clean exit empties the file. If the filesystem
has no locks at all (flock fails with ENOLCK/EOPNOTSUPP, some network
mounts), the pid in the file decides: a live pid on this host blocks, any
other holder is taken over with a warning.

Multi-host: process 0 holds the lock for the run; the other processes only
write through orbax, which process 0 coordinates.

``gs://`` (any ``scheme://``) workdirs are not locked, with a logged warning:
object stores have no advisory locks, a marker object cannot be created
atomically through ``etils.epath``, and a marker left by a preempted VM cannot
be judged stale by a pid from another machine, so it would either block every
restart after a preemption or protect nothing. Scheduling one job per gs://
workdir is the launcher's job there.

``--mode=eval`` does not take the lock: it only reads checkpoints (restoring
with a read-only checkpoint manager that neither cleans nor renames anything),
so it may run next to the training run it is evaluating.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time

from absl import logging

from rtt_jax import paths

LOCK_NAME = "run.lock"


class WorkdirLockedError(RuntimeError):
    """Another live run holds the workdir (one line: path, host, pid)."""


def _holder(text: str) -> tuple[str, int | None, str]:
    parts = text.split()
    host = parts[0] if parts else "?"
    pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    since = " ".join(parts[2:])
    return host, pid, since


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _describe(text: str) -> str:
    host, pid, since = _holder(text)
    when = f", since {since}" if since else ""
    return f"host {host} pid {pid if pid is not None else '?'}{when}"


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace").strip()


def _read_holder(fd: int) -> str:
    """The holder's line; it writes it just after taking the lock, so wait briefly."""
    for _ in range(20):
        text = _read(fd)
        if text:
            return text
        time.sleep(0.05)
    return ""


class WorkdirLock:
    """The lock on one local workdir. ``acquire`` raises ``WorkdirLockedError``."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.path = os.path.join(workdir, LOCK_NAME)
        self._fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            host = socket.gethostname()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise self._in_use(_read_holder(fd)) from None
                if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                self._no_flock(_read(fd), host, e)
            else:
                self._warn_if_stale(_read(fd), host)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{host} {os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _in_use(self, holder: str) -> WorkdirLockedError:
        return WorkdirLockedError(f"{self.workdir}: in use by another run "
                                  f"({_describe(holder)}); lock file {self.path}")

    def _warn_if_stale(self, previous: str, host: str) -> None:
        if not previous:
            return
        h, pid, _ = _holder(previous)
        if h == host and pid is not None and pid != os.getpid():
            state = "still running, but not holding the lock" if _alive(pid) else "no longer running"
        else:
            state = "on another host, not holding the lock"
        logging.warning("%s: taking over a stale lock of %s (%s)", self.path,
                        _describe(previous), state)

    def _no_flock(self, previous: str, host: str, error: OSError) -> None:
        h, pid, _ = _holder(previous)
        if previous and h == host and pid is not None and pid != os.getpid() and _alive(pid):
            raise self._in_use(previous)
        logging.warning("%s: filesystem has no file locks (%s); judging by the pid in the file",
                        self.path, os.strerror(error.errno))
        self._warn_if_stale(previous, host)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # a clean exit leaves no holder to warn about
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def hold(workdir: str, process_index: int = 0):
    """Hold ``workdir``'s lock for the duration of the block (process 0, local paths)."""
    if process_index != 0:
        yield None
        return
    if paths.is_remote(workdir):
        logging.warning("%s: not locked (object stores have no file locks); make sure no "
                        "other run uses this workdir", workdir)
        yield None
        return
    lock = WorkdirLock(workdir)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


__all__ = ["LOCK_NAME", "WorkdirLock", "WorkdirLockedError", "hold"]
