"""Confidence intervals for evaluation metrics (95% by default).

* ``wilson(k, n)``: a proportion (accuracy, unparsed rate, ...). Wilson's
  score interval, not the normal one, because evaluation sets are small and
  rates sit near 0 or 1, where the normal interval leaves [0, 1] and covers
  far less than 95%.
* ``mean_ci(xs)``: a mean (trace length) with Student's t interval.
* ``ratio_ci(nums, dens)``: a ratio of sums (valid steps / all steps). Steps
  of one trace are not independent (one early mistake spoils the rest), so
  the interval treats each trace as the unit: the delta-method (cluster
  robust) variance of a ratio estimator, with a t quantile on n - 1 degrees
  of freedom. Pooling steps into a Wilson interval would be too narrow.

``z_quantile`` and ``t_quantile`` are the project's one source of normal
and Student t quantiles (scipy's; ``rtt_jax.experiments.seed_stats`` uses them too).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence


class Estimate(NamedTuple):
    """A point estimate with its interval and the number of units behind it."""

    value: float
    lo: float
    hi: float
    n: int


NAN = float("nan")


def z_quantile(confidence: float = 0.95) -> float:
    """The standard normal quantile for a two-sided ``confidence`` interval."""
    from scipy import stats  # imported on first use: scipy.stats is slow to import
    return float(stats.norm.ppf(0.5 + confidence / 2))


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """Two-sided Student t quantile (``t_{(1+confidence)/2, df}``); inf for df < 1."""
    if df < 1:
        return math.inf
    from scipy import stats
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def wilson(k: int, n: int, confidence: float = 0.95) -> Estimate:
    """Proportion ``k / n`` with Wilson's score interval; NaN when n = 0."""
    if n <= 0:
        return Estimate(NAN, NAN, NAN, 0)
    if not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    z = z_quantile(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 (k = n) the bound is exactly 0 (1); float noise would miss it.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return Estimate(p, lo, hi, n)


def mean_ci(xs: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean with a t interval; one value gives an infinite-width interval."""
    n = len(xs)
    if n == 0:
        return Estimate(NAN, NAN, NAN, 0)
    m = math.fsum(xs) / n
    if n == 1:
        return Estimate(m, -math.inf, math.inf, 1)
    var = math.fsum((x - m) ** 2 for x in xs) / (n - 1)
    half = t_quantile(n - 1, confidence) * math.sqrt(var / n)
    return Estimate(m, m - half, m + half, n)


def ratio_ci(nums: Sequence[float], dens: Sequence[float], confidence: float = 0.95,
             bounds: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    """``sum(nums) / sum(dens)`` with a cluster-robust (delta method) interval.

    Unit ``i`` (a trace) contributes ``nums[i]`` of ``dens[i]`` (valid steps
    of all steps). Units with ``dens[i] == 0`` carry no information and are
    dropped. ``n`` of the result is the number of units kept.
    """
    if len(nums) != len(dens):
        raise ValueError(f"ratio_ci: {len(nums)} numerators but {len(dens)} denominators")
    pairs = [(a, b) for a, b in zip(nums, dens) if b > 0]
    n = len(pairs)
    if n == 0:
        return Estimate(NAN, NAN, NAN, 0)
    total = math.fsum(b for _, b in pairs)
    r = math.fsum(a for a, _ in pairs) / total
    if n == 1:
        return Estimate(r, bounds[0], bounds[1], 1)
    mean_den = total / n
    resid = math.fsum((a - r * b) ** 2 for a, b in pairs) / (n - 1)
    half = t_quantile(n - 1, confidence) * math.sqrt(resid / n) / mean_den
    lo, hi = max(bounds[0], r - half), min(bounds[1], r + half)
    if resid == 0 and bounds == (0.0, 1.0) and r in (0.0, 1.0):
        # Every trace perfect (or every trace all wrong): the delta method
        # gives a zero-width interval. Fall back to Wilson over traces, as
        # if each trace were one success (failure): honest about n.
        w = wilson(n if r == 1.0 else 0, n, confidence)
        lo, hi = w.lo, w.hi
    return Estimate(r, lo, hi, n)
