"""``XLA_FLAGS`` for every JAX process the suite starts: cheap compiles.

From an empty persistent compile cache (a fresh CI machine) the suite spent
about as much CPU compiling its programs as running them: each test runs its
tiny programs for a handful of steps, so LLVM's optimisation passes cost far
more than the faster code they buy. Level 0 without LLVM's expensive passes
changes how XLA's CPU code is generated, not what it computes (fast math stays
off; the golden first losses of ``test_training`` hold at their tolerance).
The flags are part of the compile cache's key, so every process of the suite
(conftest, and each subprocess a test starts with its own ``XLA_FLAGS``) sets
the same ones, and a program compiled by one is a cache hit for the others.
"""
from __future__ import annotations

CHEAP_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def xla_flags(devices: int | None = None) -> str:
    """The suite's ``XLA_FLAGS`` with ``devices`` fake CPU devices (``None``: one,
    XLA's default)."""
    if devices is None:
        return CHEAP_COMPILE
    return f"--xla_force_host_platform_device_count={devices} {CHEAP_COMPILE}"
