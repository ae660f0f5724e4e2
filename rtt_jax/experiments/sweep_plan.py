"""A sweep's plan: the grid of config values to try, and each point's runs.

``parse_grid`` reads ``--grid=field=v1,v2,...`` flags, each value typed like
the field in the arm's config; ``grid_points`` is their cartesian product,
each point with a name that is also its directory (``learning_rate=0.001,n_layers=2``);
``plan_sweep`` loads the experiment and lists every point's runs
(``plan.Run``, through the experiment runner's own planning). Every input
error is an ``ExperimentError`` before anything runs. The CLI is ``sweep.py``.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import os
import re
from typing import Any, Mapping, Sequence

from rtt_jax import paths
from rtt_jax.experiments import definition, plan
from rtt_jax.experiments.definition import ExperimentError

_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point: its directory-safe name and ``{field path: typed value}``."""

    name: str
    overrides: Mapping[str, Any]

    def sets(self) -> list[str]:
        """The point's values as ``field=value`` runner overrides."""
        return [f"{k}={value_text(v)}" for k, v in self.overrides.items()]


def value_text(v: Any) -> str:
    """A value as the command line and point names write it (floats round-trip)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def parse_grid(specs: Sequence[str], config, where: str = "--grid") -> dict[str, list]:
    """``["train.learning_rate=3e-4,1e-3"]`` -> ``{"train.learning_rate": [0.0003, 0.001]}``,
    each value typed like the field in ``config``; ExperimentError naming the flag
    for a missing ``=``, no values, an unknown field or a repeated field or value."""
    grid: dict[str, list] = {}
    for s in specs:
        field, eq, raw = s.partition("=")
        field = field.strip()
        if not eq or not field:
            raise ExperimentError(f"{where}={s}: expected field=v1,v2,...")
        texts = [t.strip() for t in raw.split(",")]
        if not raw.strip() or any(not t for t in texts):
            raise ExperimentError(f"{where}={s}: no value (or an empty one) for {field}; "
                                  "expected field=v1,v2,...")
        if field in grid:
            raise ExperimentError(f"{where}={s}: {field} is swept twice")
        values = [definition.typed_value(config, field, t, where=where) for t in texts]
        if len({value_text(v) for v in values}) != len(values):
            raise ExperimentError(f"{where}={s}: repeated value for {field}")
        grid[field] = values
    return grid


def short_names(fields: Sequence[str]) -> dict[str, str]:
    """Field path -> its last part (``learning_rate``), or the whole path where
    two swept fields share a last part."""
    last = [f.rsplit(".", 1)[-1] for f in fields]
    return {f: (s if last.count(s) == 1 else f) for f, s in zip(fields, last)}


def grid_points(grid: Mapping[str, Sequence]) -> list[Point]:
    """The cartesian product of the grid, in flag order, with readable names."""
    short = short_names(list(grid))
    points = []
    for combo in itertools.product(*grid.values()):
        overrides = dict(zip(grid, combo))
        name = ",".join(f"{short[f]}={value_text(v)}" for f, v in overrides.items())
        points.append(Point(_UNSAFE.sub("_", name), overrides))
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ExperimentError(f"--grid: values that differ only in characters unsafe in a "
                              f"directory name give the same point name: {names}")
    return points


def _seeds(seeds: Sequence) -> list[int]:
    try:
        return [int(s) for s in seeds]
    except ValueError:
        raise ExperimentError(f"--seeds={','.join(map(str, seeds))}: expected integers") from None


def plan_sweep(experiment: str, variant: str, arm: str, grid_specs: Sequence[str], out: str, *,
               seeds: Sequence = (), sets: Sequence[str] = (), workdir_root: str | None = None
               ) -> tuple[Any, dict, list[tuple[Point, list[plan.Run], int]]]:
    """(experiment, grid, [(point, its runs, its tokens per run)]); every input
    error is an ExperimentError before anything runs."""
    path = plan.experiment_path(experiment)
    module = plan.load_experiment(path)
    exp = module.EXPERIMENT
    exp.arm(arm)  # unknown arm -> ExperimentError
    try:
        base = module.get_config(f"{variant}/{arm}")
    except ExperimentError:
        raise
    except Exception as e:  # noqa: BLE001 - the experiment file is user code: one line
        raise ExperimentError(f"{path}: config {variant}/{arm}: {e}") from None
    fixed = definition.typed_sets(sets, base)
    if not grid_specs:
        raise ExperimentError("--grid: at least one --grid=field=v1,v2,... is required")
    grid = parse_grid(grid_specs, base)
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ExperimentError(f"--set and --grid both set {', '.join(both)}")
    root = workdir_root or os.path.join(paths.absolute(out), "runs")
    plans = []
    for point in grid_points(grid):
        config = definition.apply_overrides(copy.deepcopy(base),
                                      {**fixed, **point.overrides}, where=point.name)
        runs = plan.plan(path, exp, variant, out, seeds=_seeds(seeds) or None, arms=[arm],
                           sets=[*sets, *point.sets()], workdir_root=f"{root}/{point.name}")
        plans.append((point, runs, definition.tokens_per_run(config)))
    return exp, grid, plans
