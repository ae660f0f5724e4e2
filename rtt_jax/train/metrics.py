"""Metric writers: metrics.jsonl + TensorBoard (tensorboardX, no TensorFlow).

Only process 0 writes. Each logged step is one JSON object per line.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import jax


def _jsonable(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/Inf; keep it visible as text
    return v


class MetricWriter:
    def __init__(self, workdir: str, resume_step: int = 0, tensorboard: bool = True):
        self.enabled = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if not self.enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        self._truncate_after(resume_step)
        self._file = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def _truncate_after(self, step: int) -> None:
        """After a resume, drop rows the killed run logged past the checkpoint,
        so metrics.jsonl reads as one uninterrupted run."""
        if not os.path.exists(self.path):
            return
        kept = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill mid-write
                if int(row.get("step", 0)) <= step:
                    kept.append(json.dumps(row) + "\n")
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(kept)
        os.replace(tmp, self.path)

    def write(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
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
                self._tb.close()


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
