"""A hang guard for tests of parsers that must stay linear.

Not a speed assertion: it turns "never finishes" into a failure, with a limit
generous enough for a shared, slow machine.
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
