"""Exact resume on GPU: ``train.gpu_deterministic`` and XLA's determinism flag.

On CPU and TPU the same program on the same inputs gives the same bits, so a
run resumed from a checkpoint reproduces the uninterrupted run's losses
exactly (tests/test_training.py). XLA:GPU does not promise that by default:
scatter-adds (the embedding gradient) and some reductions use atomics whose
order varies from run to run, and autotuning may pick different kernels in
a new process. On an H200 in issue 11 a resumed run's losses drifted from the
uninterrupted run's. ``--xla_gpu_deterministic_ops=true`` makes every op
deterministic and turns off the timing-based autotuning of GEMM fusions, so
the restarted process compiles and computes the same thing.

The policy: ``train.gpu_deterministic=True`` asks for it, and ``rtt_jax.main``
and ``rtt_jax.rl`` add the flag to ``XLA_FLAGS`` before JAX starts its
backend (flags are read once, then). ``bench/gpu_check.py`` measures its cost on the `gpu` config
(docs/benchmarks.md; not yet run on a GPU). Off, a resumed GPU run follows
the uninterrupted one only to float32 rounding, growing with the steps.
Code that starts JAX itself (a notebook) sets the flag in ``XLA_FLAGS``
before importing jax; the loop warns when a GPU run asked for it and the
backend started without it.
"""
from __future__ import annotations

import os

from absl import logging

FLAG = "--xla_gpu_deterministic_ops=true"
_NAME = "xla_gpu_deterministic_ops"


def request(deterministic: bool) -> bool:
    """Add the flag to ``XLA_FLAGS`` when asked (call before the backend starts;
    harmless on CPU/TPU). A value the user set there already wins. Returns
    whether the flag is now set."""
    flags = os.environ.get("XLA_FLAGS", "")
    if deterministic and _NAME not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return active()


def active() -> bool:
    flags = os.environ.get("XLA_FLAGS", "")
    return f"{_NAME}=true" in flags or f"{_NAME}=1" in flags


def check(deterministic: bool, backend: str) -> None:
    """Warn (once per run) when a GPU run asked for determinism without the flag."""
    if deterministic and backend == "gpu" and not active():
        logging.warning("train.gpu_deterministic is set but XLA_FLAGS lacks %s: set it before "
                        "JAX starts (rtt_jax.main does) or a resumed run may not reproduce "
                        "the uninterrupted one exactly", FLAG)


__all__ = ["FLAG", "active", "check", "request"]
