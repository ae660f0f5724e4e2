"""Measure this machine's float32 matmul peak (FLOP/s) through XLA.

    python bench/matmul_peak.py            # prints peak_flops=<value>

On CPU, where no datasheet number applies, the value is cached for this
machine (``rtt_jax.train.peak_flops``: keyed by CPU model and usable cores), and
the trainer's MFU uses it from then on; without it MFU is logged as n/a.
``--config.hardware.peak_flops`` overrides both. The best of several square
sizes is taken.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def matmul_peak(sizes=(512, 1024, 2048), repeats: int = 8) -> float:
    best = 0.0
    for n in sizes:
        a = jnp.ones((n, n), jnp.float32)
        f = jax.jit(lambda x, y: x @ y)
        f(a, a).block_until_ready()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            f(a, a).block_until_ready()
            times.append(time.perf_counter() - t)
        best = max(best, 2 * n ** 3 / min(times))
    return best


if __name__ == "__main__":
    from rtt_jax.train.peak_flops import save_cpu_peak
    print(f"backend={jax.default_backend()} devices={jax.device_count()}")
    peak = matmul_peak()
    print(f"peak_flops={peak:.4g}")
    if jax.default_backend() == "cpu":
        print(f"cached for this machine's MFU: {save_cpu_peak(peak)}")
