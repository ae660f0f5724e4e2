"""Statistics over seeds: mean +- std per arm, and each arm's difference from
the baseline with a confidence interval.

The unit of replication is the seed (one training run and its evaluation).
With ``n`` values per arm the summary is the mean and the sample standard
deviation (``ddof=1``; 0 for one value, None for none). Missing runs are
*absent*, never zero: callers pass only the values of runs that completed,
and metrics a run could not measure (None/NaN, e.g. step validity of an
answer-only model that writes no steps) are dropped the same way.

Difference from the baseline (``difference``):

* ``paired-t`` when at least two seeds completed in both arms: the seed fixes
  the evaluation problems and the data order, so the difference is taken per
  seed and the CI is ``mean(d) +- t_{n-1, 0.975} * sd(d) / sqrt(n)``.
* ``binomial`` when only one seed pairs up: the Agresti-Caffo two-proportion
  interval over the evaluated problems (``n_problems`` each), which measures the
  evaluation's sampling error only, not seed-to-seed variance (the report
  says which method it used).
* none (``ci`` None) when nothing pairs.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from rtt_jax.evaluation.intervals import t_quantile, z_quantile


def _finite(values: Iterable) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def mean_std(values: Iterable) -> dict:
    """``{"mean", "std", "n", "values"}`` of the finite values (None/NaN dropped)."""
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "values": []}
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "values": xs}


def difference(arm: Mapping[int, float], baseline: Mapping[int, float],
               n_problems: int | None = None, level: float = 0.95) -> dict:
    """``arm - baseline`` over seeds, with a ``level`` CI (see module doc).

    ``arm`` / ``baseline``: ``{seed: value}`` of completed runs. Returns
    ``{"diff", "ci": [lo, hi] | None, "method", "n_pairs"}``; ``diff`` is the
    mean paired difference over the seeds both arms completed (the quantity
    the interval is about), or the difference of the means when none pair."""
    a = {s: v for s, v in arm.items() if _finite([v])}
    b = {s: v for s, v in baseline.items() if _finite([v])}
    if not a or not b:
        return {"diff": None, "ci": None, "method": None, "n_pairs": 0}
    pairs = [a[s] - b[s] for s in sorted(set(a) & set(b))]
    n = len(pairs)
    # The difference the interval is about: over the seeds both arms completed
    # (all seeds when nothing is missing); unpaired means only when none pair.
    diff = sum(pairs) / n if n else sum(a.values()) / len(a) - sum(b.values()) / len(b)
    if n >= 2:
        d = mean_std(pairs)
        half = t_quantile(n - 1, level) * d["std"] / math.sqrt(n)
        # Rates differ by at most 1: with two seeds t_{1} = 12.7 can reach past that.
        return {"diff": diff, "ci": [max(d["mean"] - half, -1.0), min(d["mean"] + half, 1.0)],
                "method": "paired-t", "n_pairs": n}
    if n == 1 and n_problems:
        # Agresti-Caffo: add one success and one failure to each arm, so that
        # rates of 0 or 1 still get an interval of honest width.
        (s,) = set(a) & set(b)
        m = n_problems + 2
        pa = (min(max(a[s], 0.0), 1.0) * n_problems + 1) / m
        pb = (min(max(b[s], 0.0), 1.0) * n_problems + 1) / m
        half = z_quantile(level) * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / m)
        return {"diff": diff, "ci": [pa - pb - half, pa - pb + half],
                "method": "binomial", "n_pairs": 1}
    return {"diff": diff, "ci": None, "method": None, "n_pairs": n}


def significant(entry: Mapping) -> bool | None:
    """Whether a ``difference`` CI excludes zero (None without a CI)."""
    ci = entry.get("ci")
    if not ci:
        return None
    return ci[0] > 0 or ci[1] < 0


def mean_curve(curves: Sequence[Mapping[int, float]]) -> dict[int, dict]:
    """Per step: mean/std over runs of the steps every run logged."""
    if not curves:
        return {}
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    return {s: mean_std(c[s] for c in curves) for s in steps}
