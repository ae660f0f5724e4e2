"""Curriculum stages and deterministic mixing by index.

Config (``config.data``, kind ``curriculum``)::

    sources = {name: {kind, family, styles, mode, path, ...}}   # see sources.py
    stages  = [ {name: "s1", steps: 10,
                 mixture: {"add": 0.7, "mul": 0.3},   # weights, normalized here
                 levels:  {"add": "1-2", "mul": "1"}}, ...]  # "" / absent: defaults

Example j of stage s (j = 0, 1, ... counts the stage's examples globally) is
a pure function of (seed, s, j): a hashed draw picks the source by weight,
a second draw picks one of that source's levels in this stage, and the
source is asked for its example ``(s << 40) + j`` at that level. Using j as
the per-source index (not a per-source counter) keeps example j computable
without the examples before it, so any host can build any row and resume
needs no counters; sources treat it as an opaque index (synthetic: a problem
seed; finite: a position in shuffled epochs). The stage in the high bits
keeps stages from repeating each other's problems.

The last stage runs on past its ``steps`` until training ends.
"""
from __future__ import annotations

import bisect
import dataclasses

from rtt_jax.data.formatting import Example, format_example
from rtt_jax.data.sources import BadRecordError, TextExample, make_source, mix64

_STAGE_SHIFT = 40
_TO_UNIT = 1.0 / float(1 << 64)


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    sources: tuple[str, ...]
    cumulative: tuple[float, ...]  # normalized cumulative weights, last == 1.0
    levels: tuple[tuple[int, ...], ...]  # per source, aligned with ``sources``

    @property
    def weights(self) -> dict[str, float]:
        prev, out = 0.0, {}
        for name, c in zip(self.sources, self.cumulative):
            out[name], prev = c - prev, c
        return out


def parse_levels(spec, where: str) -> tuple[int, ...]:
    """``"1-3,5"`` -> (1, 2, 3, 5); an int or a list of ints also works."""
    if isinstance(spec, int):
        return (spec,)
    if isinstance(spec, (list, tuple)):
        return tuple(int(x) for x in spec)
    out: list[int] = []
    for part in str(spec).split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"{where}={spec!r}: expected levels like '1-3,5'") from None
    return tuple(out)


def _default_levels(source) -> tuple[int, ...]:
    family = getattr(source, "family", None)
    return tuple(family.train_levels) if family is not None else tuple(source.levels)


def _as_dict(x) -> dict:
    return dict(x.items()) if hasattr(x, "items") else dict(x or {})


def make_stages(stage_cfgs, sources: dict) -> list[Stage]:
    """Stages from ``config.data.stages``; errors name the field and what was expected."""
    if not stage_cfgs:
        raise ValueError("config.data.stages=[]: expected at least one stage")
    stages = []
    for k, cfg in enumerate(stage_cfgs):
        cfg = _as_dict(cfg)
        field = f"config.data.stages[{k}]"
        steps = cfg.get("steps")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"{field}.steps={steps!r}: expected a positive number of steps")
        mixture = {n: float(w) for n, w in _as_dict(cfg.get("mixture")).items() if float(w) != 0}
        if not mixture or any(w < 0 for w in mixture.values()):
            raise ValueError(f"{field}.mixture={mixture!r}: expected positive weights over sources")
        unknown = sorted(set(mixture) - set(sources))
        if unknown:
            raise ValueError(f"{field}.mixture names {unknown}: expected sources among "
                             f"{sorted(sources)}")
        level_cfg = _as_dict(cfg.get("levels"))
        names = tuple(sorted(mixture))  # sorted: config dict order must not change draws
        total, acc, cum, levels = sum(mixture.values()), 0.0, [], []
        for n in names:
            acc += mixture[n] / total
            cum.append(acc)
            spec = level_cfg.get(n, "")
            lv = parse_levels(spec, f"{field}.levels.{n}") if spec != "" else _default_levels(sources[n])
            bad = [x for x in lv if x not in sources[n].levels]
            if bad or not lv:
                have = sources[n].levels
                raise ValueError(f"{field}.levels.{n}={spec!r}: expected " + (
                    f"levels among {have[0]}..{have[-1]}" if hasattr(sources[n], "family")
                    else "no levels (a file source has none; leave it unset)"))
            levels.append(lv)
        cum[-1] = 1.0
        stages.append(Stage(str(cfg.get("name") or f"stage{k}"), steps, names, tuple(cum),
                            tuple(levels)))
    return stages


# A finite source's records are read over and over, one epoch after another:
# their tokenized examples are kept (sources up to this many records), so an
# epoch after the first costs a lookup instead of formatting and tokenizing
# (the Lee et al. files at 1,280 rows per step: 75 -> ~15 ms per batch).
CACHE_MAX_RECORDS = 200_000


class Curriculum:
    """Stages over named sources, and example j of stage s, tokenized."""

    def __init__(self, stages: list[Stage], sources: dict, tokenizer, seed: int):
        self.stages, self.sources, self.tokenizer, self.seed = stages, sources, tokenizer, seed
        self._cache: dict[tuple[str, int], Example] = {}

    @classmethod
    def from_config(cls, data_cfg, seed: int, tokenizer) -> "Curriculum":
        policy = data_cfg.get("on_bad_record", "fatal")
        sources = {name: make_source(name, cfg, seed, policy)
                   for name, cfg in _as_dict(data_cfg.sources).items()}
        return cls(make_stages(data_cfg.stages, sources), sources, tokenizer, seed)

    def choose(self, s: int, j: int) -> tuple[str, int, int]:
        """(source name, level, source index) of example j of stage s."""
        stage = self.stages[s]
        # (Draws skipped where there is nothing to draw: they are a pure
        # function of (seed, s, j) either way, and hashing is the slow part.)
        k = 0 if len(stage.sources) == 1 else min(
            bisect.bisect_right(stage.cumulative, mix64(self.seed, s, j, 1) * _TO_UNIT),
            len(stage.sources) - 1)
        lv = stage.levels[k]
        level = lv[0] if len(lv) == 1 else lv[mix64(self.seed, s, j, 2) % len(lv)]
        return stage.sources[k], level, (s << _STAGE_SHIFT) + j

    def text_example(self, s: int, j: int) -> tuple[str, int, TextExample]:
        name, level, index = self.choose(s, j)
        return name, level, self.sources[name].get(level, index)

    def example(self, s: int, j: int) -> Example:
        name, level, index = self.choose(s, j)
        source = self.sources[name]
        key = None
        if hasattr(source, "record_index") and source.size <= CACHE_MAX_RECORDS:
            key = (name, source.record_index(index))
            if key in self._cache:
                return self._cache[key]
        ex = source.get(level, index)
        try:
            out = format_example(ex.prompt, ex.completion, ex.mode, self.tokenizer,
                                 answer=ex.answer)
        except ValueError as e:
            raise BadRecordError(f"source {name!r} level {level} index {j} of stage {s}: {e}") from None
        if key is not None:
            self._cache[key] = out
        return out

    @property
    def bad_records(self) -> int:
        return sum(getattr(src, "bad_records", 0) for src in self.sources.values())


def time_averaged_stage(stage_cfgs, total_steps: int, name: str = "shuffled") -> dict:
    """One stage whose mixture is ``stage_cfgs``'s mixture averaged over training
    time (each stage weighted by the steps it runs; the last runs to
    ``total_steps``): the same data distribution as the curriculum, in a
    random order. A source must keep the same levels in every stage it
    appears in (else the average would not be exact: ValueError)."""
    stage_cfgs = [_as_dict(s) for s in stage_cfgs]
    mixture: dict[str, float] = {}
    levels: dict[str, object] = {}
    start = 0
    for k, s in enumerate(stage_cfgs):
        steps = max(0, (total_steps if k == len(stage_cfgs) - 1
                        else min(start + int(s["steps"]), total_steps)) - start)
        start += steps
        weights = _as_dict(s["mixture"])
        total = sum(weights.values())
        stage_levels = _as_dict(s.get("levels"))
        for src, w in weights.items():
            mixture[src] = mixture.get(src, 0.0) + steps / total_steps * w / total
            lv = stage_levels.get(src, "")
            if levels.setdefault(src, lv) != lv:
                raise ValueError(f"time_averaged_stage: source {src!r} has levels "
                                 f"{levels[src]!r} and {lv!r} in different stages")
    return dict(name=name, steps=10 ** 9, mixture={k: v for k, v in mixture.items() if v > 0},
                levels={k: v for k, v in levels.items() if v != ""})
