"""Per-run metrics computed from a finished run's files, for experiment tables.

A ``RunMetric`` is a name and ``value(report, rows) -> float | None``:
``report`` is the run's ``report.json`` (the final evaluation), ``rows`` its
``metrics.jsonl`` (training and periodic-evaluation scalars by step). An
experiment lists the metrics it is judged by (``Experiment.metrics``); the
runner computes each per run and compares arms over seeds like accuracy
(``rtt_jax.experiments.results``). Constructors:

* ``report_value("summary/seen/answer_accuracy")``: a number in the report;
* ``difference(a, b)``: one report number minus another (the train-test gap
  is ``seen`` accuracy minus held-out ``trained`` accuracy);
* ``curve_at(key, step)``: a periodic-evaluation scalar (``eval/.../...``)
  at ``step`` (the last evaluation at or before it): accuracy at a budget;
* ``curve_auc(key)``: the area under that scalar's learning curve,
  trapezoids over the evaluated steps from step 0 (where it is taken as 0)
  to the last, divided by the last step: the mean accuracy over training, 1
  for a model right from the start. Two arms with the same final accuracy
  differ here when one got there sooner.

A value that cannot be computed (no such key, no evaluation logged) is None:
the run is left out of that metric's mean, never counted as 0.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

Rows = Sequence[Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class RunMetric:
    name: str
    value: Callable[[Mapping[str, Any], Rows], float | None]
    description: str = ""
    scale: float = 100.0  # shown x scale (rates in points)


def _finite(v) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def lookup(report: Mapping[str, Any], path: str) -> float | None:
    """The number at ``"a/b/c"`` in ``report`` (a set name may hold ``/``:
    ``"sets/modular/L8/answer_accuracy"`` tries the longest keys first)."""
    parts = path.split("/")

    def walk(node, rest: list[str]):
        if not rest:
            return node
        if not isinstance(node, Mapping):
            return None
        for k in range(len(rest), 0, -1):
            key = "/".join(rest[:k])
            if key in node:
                got = walk(node[key], rest[k:])
                if got is not None:
                    return got
        return None
    return _finite(walk(report, parts))


def report_value(path: str, description: str = "", scale: float = 100.0,
                 name: str = "") -> RunMetric:
    return RunMetric(name or path, lambda report, rows: lookup(report, path),
                     description or path, scale)


def difference(name: str, a: str, b: str, description: str = "",
               scale: float = 100.0) -> RunMetric:
    def value(report, rows):
        x, y = lookup(report, a), lookup(report, b)
        return None if x is None or y is None else x - y
    return RunMetric(name, value, description or f"{a} - {b}", scale)


def curve(rows: Rows, key: str) -> list[tuple[int, float]]:
    """(step, value) of ``key`` in ``rows``, by step (the last row of a step wins)."""
    by_step: dict[int, float] = {}
    for r in rows:
        v, s = _finite(r.get(key)), r.get("step")
        if v is not None and isinstance(s, int):
            by_step[s] = v
    return sorted(by_step.items())


def value_at(rows: Rows, key: str, step: int) -> float | None:
    points = [v for s, v in curve(rows, key) if s <= step]
    return points[-1] if points else None


def auc(rows: Rows, key: str) -> float | None:
    """Normalised area under ``key``'s curve (module doc)."""
    points = [(0, 0.0)] + [p for p in curve(rows, key) if p[0] > 0]
    if len(points) < 2:
        return None
    area = sum((s1 - s0) * (v0 + v1) / 2 for (s0, v0), (s1, v1) in zip(points, points[1:]))
    return area / points[-1][0]


def curve_at(key: str, step: int, name: str = "", scale: float = 100.0) -> RunMetric:
    return RunMetric(name or f"{key}@{step}", lambda report, rows: value_at(rows, key, step),
                     f"{key} at step {step} (periodic evaluation)", scale)


def curve_auc(key: str, name: str = "", scale: float = 100.0) -> RunMetric:
    return RunMetric(name or f"auc({key})", lambda report, rows: auc(rows, key),
                     f"area under the learning curve of {key}, per step", scale)
