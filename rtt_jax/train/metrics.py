"""Metric writers: metrics.jsonl + TensorBoard (tensorboardX, no TensorFlow).

Only process 0 writes. Each logged step is one JSON object per line. The
workdir may be a ``gs://`` URL (``rtt_jax.paths``).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import jax
from absl import logging

from rtt_jax import paths
from rtt_jax.run_files import METRICS_JSONL, read_metrics


def _summary_writer(logdir: str):
    """A tensorboardX SummaryWriter for ``logdir``. tensorboardX writes
    ``gs://`` itself through google-cloud-storage (installed with gcsfs); where
    that is missing or cannot connect, a remote run logs TensorBoard nowhere,
    with one warning (metrics.jsonl has the same scalars)."""
    from tensorboardX import SummaryWriter
    try:
        return SummaryWriter(logdir)
    except Exception as e:  # ImportError, credentials, ...: TB is optional
        if not paths.is_remote(logdir):
            raise
        logging.warning("%s: no TensorBoard events for this run (%s: %s); metrics.jsonl "
                        "has the same scalars", logdir, type(e).__name__,
                        (str(e).splitlines() or [""])[0])
        return None


def _jsonable(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/Inf; keep it visible as text
    return v


class MetricWriter:
    def __init__(self, workdir: str, resume_step: int = 0, tensorboard: bool = True):
        self.enabled = jax.process_index() == 0
        self.path = os.path.join(workdir, METRICS_JSONL)
        self._tb = None
        if not self.enabled:
            return
        paths.makedirs(workdir)
        self._truncate_after(resume_step)
        self._file = paths.Appender(self.path)
        if tensorboard:
            self._tb = _summary_writer(os.path.join(workdir, "tensorboard"))

    def _truncate_after(self, step: int) -> None:
        """After a resume, drop rows the killed run logged past the checkpoint,
        so metrics.jsonl reads as one uninterrupted run."""
        if not paths.exists(self.path):
            return
        kept = [r for r in read_metrics(os.path.dirname(self.path)) if int(r["step"]) <= step]
        paths.replace_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")  # flushed (remote: uploaded) per row
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)

    def write_text(self, step: int, tag: str, text: str) -> None:
        if self.enabled and self._tb is not None:
            self._tb.add_text(tag, text, step)

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._tb is not None:
                try:
                    self._tb.close()  # remote: uploads the events file
                except Exception as e:  # TB is optional; metrics.jsonl is written
                    if not paths.is_remote(self.path):
                        raise
                    logging.warning("TensorBoard events not uploaded (%s: %s)", type(e).__name__,
                                    (str(e).splitlines() or [""])[0])


class Progress:
    """One console line per log: step, loss, tokens/s, ETA (process 0 only)."""

    def __init__(self, total_steps: int, start_step: int):
        self.total, self.start = total_steps, start_step
        self.t0 = time.perf_counter()

    def line(self, step: int, loss: float, tokens_per_sec: float, mfu: float | None) -> str:
        done = step - self.start
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / max(done, 1) * (self.total - step)
        return (f"step {step}/{self.total}  loss {loss:.4f}  tok/s {tokens_per_sec:,.0f}  "
                f"mfu {'n/a' if mfu is None else f'{mfu:.2%}'}  eta {eta:,.0f}s")

    def show(self, *args) -> None:
        if jax.process_index() == 0:
            print(self.line(*args), file=sys.stderr, flush=True)
