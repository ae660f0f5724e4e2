"""A hang guard: what tests use instead of reading a clock.

Not a speed assertion: it turns "never finishes" (a parser gone quadratic, a
process that never reaches the awaited step) into a failure, with a limit
generous enough for a shared, slow machine. It owns SIGALRM, so pytest-timeout
runs with ``timeout_method = "thread"`` (pyproject.toml).
"""
from __future__ import annotations

import contextlib
import signal


@contextlib.contextmanager
def hang_guard(seconds: int = 300, what: str = ""):
    """Fail the test instead of hanging it (SIGALRM; main thread, POSIX)."""
    def fail(signum, frame):
        raise TimeoutError(f"no result after {seconds} s{': ' + what if what else ''}")
    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
