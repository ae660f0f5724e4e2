"""The peak FLOP/s that MFU divides by, or None when nobody knows it.

Accelerators have a datasheet figure (``config.hardware.peak_flops_by_platform``:
H100/H200 dense bf16 989e12, TPU v5e 197e12). A CPU has none: its peak depends
on the chip, the cores and the vector units, so a table entry would be made up.
On CPU the peak is therefore, in order:

1. ``config.hardware.peak_flops`` when set (> 0);
2. the float32 matmul peak that ``python bench/matmul_peak.py`` measured on
   this machine and cached (``cpu_peak_path()``, keyed by CPU model and the
   cores this process may use);
3. None: MFU is logged as n/a, never as a guessed percentage.
"""
from __future__ import annotations

import json
import os
import platform

import jax


def cpu_fingerprint() -> str:
    """CPU model and usable core count: a measured peak is valid only for both."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} x{cores}"


def cpu_peak_path() -> str:
    root = os.environ.get("RTT_JAX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rtt_jax")
    return os.path.join(root, "cpu_peak_flops.json")


def save_cpu_peak(flops: float) -> str:
    """Record this machine's measured peak (bench/matmul_peak.py calls this)."""
    path = cpu_peak_path()
    table = _read_table(path)
    table[cpu_fingerprint()] = float(flops)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def _read_table(path: str) -> dict:
    try:
        with open(path) as f:
            table = json.load(f)
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        return {}  # absent or damaged cache: as if never measured


def cached_cpu_peak() -> float | None:
    value = _read_table(cpu_peak_path()).get(cpu_fingerprint())
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def peak_flops(config, backend: str | None = None) -> float | None:
    """Per-device peak FLOP/s for ``config`` on ``backend`` (default: jax's)."""
    if config.hardware.peak_flops:
        return float(config.hardware.peak_flops)
    backend = backend or jax.default_backend()
    table = float(config.hardware.peak_flops_by_platform.get(backend, 0.0) or 0.0)
    if table > 0:
        return table
    return cached_cpu_peak() if backend == "cpu" else None


__all__ = ["cpu_fingerprint", "cpu_peak_path", "save_cpu_peak", "cached_cpu_peak", "peak_flops"]
