"""The JSON files of a workdir that several parts share.

* ``metrics.jsonl``: one JSON object per logged step (``step`` and scalars),
  written by ``rtt_jax.train.metrics.MetricWriter``. ``read_metrics(workdir)``
  is the one reader (plots, experiment results, ``train.summary``, tests).
* ``samples.jsonl``: sampled eval completions with their step verdicts, one
  object per sample tagged with its ``step``. ``write_samples`` is the one
  writer (evaluation during training, ``--mode=eval``'s report).

The samples rule is what resuming needs: the file is keyed by step. Writing
step N's samples keeps the rows of earlier steps and replaces those of step N
and later, so a run killed after an eval at step N and resumed from an
earlier checkpoint writes its own step-N samples once, not twice, and the
file reads as one uninterrupted run (as ``metrics.jsonl`` does after a
resume). ``step=None`` (an evaluation of no particular step) replaces the
whole file. The file is small (a few samples per eval), so it is rewritten
whole, atomically.

``strict_json`` makes a value strict JSON (NaN and inf become null) for
these files and for evaluation's ``report.json``. No JAX here; paths may be ``gs://`` URLs (``rtt_jax.paths``).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, Mapping

from rtt_jax import paths

METRICS_JSONL = "metrics.jsonl"
SAMPLES_JSONL = "samples.jsonl"


def strict_json(x: Any) -> Any:
    """``x`` with NaN/inf replaced by None (JSON has no such numbers)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): strict_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [strict_json(v) for v in x]
    return x


def _rows(path: str) -> list[dict[str, Any]]:
    """JSON objects of ``path``, one per line, in order; [] if there is no
    file. A line that is not a JSON object (cut by a kill mid-write) is skipped."""
    if not paths.exists(path):
        return []
    rows = []
    with paths.open_text(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    """The rows of ``workdir/metrics.jsonl`` that carry a ``step``, in order."""
    return [r for r in _rows(os.path.join(workdir, METRICS_JSONL)) if "step" in r]


def write_samples(workdir: str, step: int | None,
                  samples: Iterable[Mapping[str, Any]], name: str = SAMPLES_JSONL) -> str:
    """Write ``samples`` as step ``step``'s rows of ``workdir/samples.jsonl``
    (see the module docstring for what is kept); returns the file's path.
    ``name``: another file kept by the same rule (RL's ``rollouts.jsonl``)."""
    path = os.path.join(workdir, name)
    kept = [] if step is None else [r for r in _rows(path)
                                    if isinstance(r.get("step"), int) and r["step"] < step]
    new = [{**dict(s), "step": step} for s in samples]
    paths.replace_text(path, "".join(json.dumps(strict_json(r), ensure_ascii=False,
                                                default=str) + "\n" for r in kept + new))
    return path
