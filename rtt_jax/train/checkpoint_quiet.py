"""Orbax failures as one line: what to hide, what to wait for.

When an orbax save fails (disk full) or a restore fails (damaged files), orbax
and tensorstore report it many times over: a logged traceback per writer
thread, an asyncio "Task exception was never retrieved" per orphaned write,
an unraisable "Event loop is closed" traceback per in-flight tensorstore
completion (from background threads, before the failure itself reaches the
caller), and "coroutine was never awaited" warnings at exit. checkpoint.py
reports each failure once, as one ``CheckpointError`` line, so these echoes are
dropped here; the filters match only them, everything else still shows.
"""
from __future__ import annotations

import errno
import logging
import sys
import threading
import time
import warnings


def no_space(e: BaseException | None) -> bool:
    """ENOSPC anywhere in the exception chain (OSError, or tensorstore's text)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(e) or "ENOSPC" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


_ABORTED: list = []  # set once a failed save/restore has been reported


def _from_orbax_io(record) -> bool:
    text = record.getMessage()
    if "/orbax/" in text or "OCDBT" in text or "TensorStore" in text:
        return True
    tb = record.exc_info[2] if record.exc_info else None
    while tb is not None:
        if "/orbax/" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


class _HideEchoes(logging.Filter):
    """Drops (1) orbax's per-thread tracebacks and asyncio's per-task ones for
    ENOSPC, and (2) once a failed save/restore has been reported, asyncio's
    "exception was never retrieved" for orbax/tensorstore I/O of that attempt.
    checkpoint.py reports each failure once, as one line; records about
    anything else pass."""

    def filter(self, record) -> bool:
        if record.name == "absl" and "/orbax/" not in record.pathname:
            return True
        if "No space left on device" in record.getMessage():
            return False
        if record.exc_info and no_space(record.exc_info[1]):
            return False
        return not (_ABORTED and record.name == "asyncio"
                    and "exception was never retrieved" in record.getMessage()
                    and _from_orbax_io(record))


def install_log_filter() -> None:
    for name in ("absl", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HideEchoes) for f in logger.filters):
            logger.addFilter(_HideEchoes())


def _from_closed_loop(unraisable) -> bool:
    """A tensorstore completion landing on the event loop of an orbax save or
    restore that already failed and closed it."""
    e, tb = unraisable.exc_value, unraisable.exc_traceback
    if not (isinstance(e, RuntimeError) and str(e) == "Event loop is closed"):
        return False
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "call_soon_threadsafe":
            return True
        tb = tb.tb_next
    return False


def _orphaned_orbax_read(unraisable) -> bool:
    """An orbax read coroutine closed (GeneratorExit) after a sibling read of the
    same failed restore raised; orbax re-raises from its ``except`` block."""
    code = getattr(unraisable.object, "cr_code", None)
    if code is None or "/orbax/" not in code.co_filename:
        return False
    e, seen = unraisable.exc_value, set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, GeneratorExit):
            return True
        e = e.__cause__ or e.__context__
    return False


def install_closed_loop_filter() -> None:
    """When orbax aborts a failed save or restore, each in-flight tensorstore
    write or read later reports "Event loop is closed" as an unraisable
    exception with a traceback (dozens of them, from background threads, before
    the failure itself surfaces), and each read coroutine of a failed restore
    that is closed re-raises from its ``except`` block. checkpoint.py reports
    the failure once; only these unraisables are dropped, every other one
    reaches the previous hook."""
    if getattr(sys.unraisablehook, "_rtt_jax_closed_loop", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        if not (_from_closed_loop(unraisable) or _orphaned_orbax_read(unraisable)):
            previous(unraisable)

    hook._rtt_jax_closed_loop = True
    sys.unraisablehook = hook


def quiet_aborted_io() -> None:
    """A failed save/restore is being reported: its orphaned orbax tasks would
    log "exception was never retrieved" when collected, and its write
    coroutines warn "never awaited" at exit."""
    _ABORTED.append(True)
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                            category=RuntimeWarning)


def join_orbax_writers(timeout_s: float) -> None:
    """Let orbax's writer threads of a failed save end (a synchronous save
    raises on the first failed item while the others still write), so that
    nothing writes after the error is reported or the interpreter exits."""
    from orbax.checkpoint._src.futures import future as orbax_future
    kind = getattr(orbax_future, "_SignalingThread", None)
    if kind is None:
        return
    deadline = time.monotonic() + timeout_s
    for t in threading.enumerate():
        if isinstance(t, kind) and t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))
