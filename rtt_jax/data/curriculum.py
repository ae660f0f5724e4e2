"""Curriculum stages, each a Grain mixture of named sources.

Config (``config.data``; checked once into a ``spec.DataSpec``, whose stages
``make_stages`` parses here)::

    sources = {name: {kind, family, styles, mode, path, ...}}   # see sources.py, spec.py
    stages  = [ {name: "s1", steps: 10,
                 mixture: {"add": 0.7, "mul": 0.3},   # weights, normalized here
                 levels:  {"add": "1-2", "mul": "1"},  # "" / absent: defaults
                 until: {metric: "eval/addition/L2/answer_accuracy",   # optional:
                         at_least: 0.9, max_steps: 500}}, ...]        # mastery gate

Stage s is one ``grain.MapDataset`` (``Curriculum.examples(s)``):
``MapDataset.mix`` over one component per (source, level), weighted
``w_source / len(levels)``. Grain's mix is proportional and deterministic:
index j names a component and an index inside it, with no counters, so
example j is a pure function of (seed, s, j) and any host can build any
row. A component is:

* an unbounded source (synthetic, textbook): its level view (a ``MapDataset``
  source node), item i = problem ``(s << 56) + i`` (stages never repeat each
  other's problems), then the ``Tokenize`` transformation;
* a finite source (files, TFDS): its records, ``Tokenize``, ``Memo`` (each
  record tokenized once), then ``shuffle(seed).repeat()``: endless epochs,
  each in its own seeded order.

Stage switches are ours, on top (``data.pipeline``): a stage ends after
``steps``, or, with ``until``, at the first evaluation where ``metric >=
at_least`` (or at ``max_steps``, default ``steps``). The last stage runs on
past its ``steps`` until training ends.
"""
from __future__ import annotations

import dataclasses
import sys

import grain

from rtt_jax.data.formatting import Example, format_example
from rtt_jax.data.sources import (BadRecordError, LevelView, RecordView, TextExample,
                                  make_source, mix64, name_key)

_STAGE_SHIFT = 56


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    sources: tuple[str, ...]
    cumulative: tuple[float, ...]  # normalized cumulative weights, last == 1.0
    levels: tuple[tuple[int, ...], ...]  # per source, aligned with ``sources``
    until: "Gate | None" = None

    @property
    def weights(self) -> dict[str, float]:
        prev, out = 0.0, {}
        for name, c in zip(self.sources, self.cumulative):
            out[name], prev = c - prev, c
        return out


@dataclasses.dataclass(frozen=True)
class Gate:
    """Mastery gate: end the stage at the first eval where ``metric >= at_least``."""

    metric: str
    at_least: float
    max_steps: int


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


def _as_dict(x) -> dict:
    return dict(x.items()) if hasattr(x, "items") else dict(x or {})


def make_stages(stage_cfgs, sources: dict) -> list[Stage]:
    """Stages from ``config.data.stages`` over ``sources`` (name -> ``spec.SourceSpec``);
    ValueError names the field and what was expected (``spec.data_spec`` calls
    this once, at validation)."""
    if not isinstance(stage_cfgs, (list, tuple)) or not stage_cfgs:
        raise ValueError(f"config.data.stages={stage_cfgs!r}: expected a list of stages "
                         "{name, steps, mixture, levels}")
    stages = []
    for k, cfg in enumerate(stage_cfgs):
        cfg = _as_dict(cfg)
        field = f"config.data.stages[{k}]"
        gate = parse_gate(cfg.get("until"), cfg.get("steps"), field)
        if gate is not None and k == len(stage_cfgs) - 1:
            raise ValueError(f"{field}.until={_as_dict(cfg['until'])!r}: expected a gate on a "
                             "stage before the last (the last stage runs to the end)")
        steps = gate.max_steps if gate else cfg.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"{field}.steps={cfg.get('steps')!r}: expected a positive "
                             "number of steps")
        mix = _as_dict(cfg.get("mixture"))
        if not mix or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError(f"{field}.mixture={mix!r}: expected non-negative weights over "
                             "sources, not all zero")
        if set(mix) - set(sources):
            raise ValueError(f"{field}.mixture={mix!r}: expected names among data.sources "
                             f"{sorted(sources)}")
        mixture = {n: float(w) for n, w in mix.items() if float(w) != 0}
        level_cfg = _as_dict(cfg.get("levels"))
        names = tuple(sorted(mixture))  # sorted: config dict order must not change draws
        total, acc, cum, levels = sum(mixture.values()), 0.0, [], []
        for n in names:
            acc += mixture[n] / total
            cum.append(acc)
            spec = level_cfg.get(n, "")
            src = sources[n]
            lv = parse_levels(spec, f"{field}.levels.{n}") if spec != "" else src.default_levels
            bad = [x for x in lv if x not in src.levels]
            if bad or not lv:
                raise ValueError(f"{field}.levels.{n}={spec!r}: expected " + (
                    "no levels (a file source has none; leave it unset)" if src.finite
                    else f"levels among {src.levels[0]}..{src.levels[-1]}"))
            levels.append(tuple(lv))
        for n, spec in level_cfg.items():  # levels of sources the stage does not mix
            if n not in mixture:
                parse_levels(spec, f"{field}.levels.{n}")
        cum[-1] = 1.0
        stages.append(Stage(str(cfg.get("name") or f"stage{k}"), steps, names, tuple(cum),
                            tuple(levels), gate))
    return stages


def parse_gate(spec, steps, field: str) -> Gate | None:
    """``config.data.stages[k].until`` (None or empty: no gate); errors name the field."""
    spec = _as_dict(spec) if spec is not None else {}
    if not spec:
        return None
    unknown = sorted(set(spec) - {"metric", "at_least", "max_steps"})
    metric, at_least = spec.get("metric"), spec.get("at_least")
    max_steps = spec.get("max_steps", steps)
    if unknown:
        raise ValueError(f"{field}.until has unknown fields {unknown}: expected metric, "
                         "at_least, max_steps")
    if not isinstance(metric, str) or not metric.startswith("eval/"):
        raise ValueError(f"{field}.until.metric={metric!r}: expected an eval metric name such "
                         "as 'eval/addition/L2/answer_accuracy'")
    if isinstance(at_least, bool) or not isinstance(at_least, (int, float)):
        raise ValueError(f"{field}.until.at_least={at_least!r}: expected a number")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"{field}.until.max_steps={max_steps!r}: expected a positive "
                         "number of steps")
    return Gate(metric, float(at_least), max_steps)


# A finite source's records are read over and over, one epoch after another:
# their tokenized examples are kept (sources up to this many records), so an
# epoch after the first costs a lookup instead of formatting and tokenizing
# (the Lee et al. files at 1,280 rows per step: 75 -> ~15 ms per batch).
CACHE_MAX_RECORDS = 200_000


class Curriculum:
    """Stages over named sources; stage s as a Grain ``MapDataset`` of examples."""

    def __init__(self, stages: list[Stage], sources: dict, tokenizer, seed: int):
        self.stages, self.sources, self.tokenizer, self.seed = stages, sources, tokenizer, seed

    @classmethod
    def from_spec(cls, spec, tokenizer) -> "Curriculum":
        """From a checked ``spec.DataSpec``: opens its sources (files are read here)."""
        sources = {name: make_source(src, spec.seed, spec.on_bad_record)
                   for name, src in spec.sources.items()}
        return cls(list(spec.stages), sources, tokenizer, spec.seed)

    def examples(self, s: int) -> grain.MapDataset:
        """Stage s's tokenized examples (``formatting.Example``), by index."""
        return self._mix(s, lambda name, level: self._component(s, name, level, True))

    def drawn(self, s: int) -> grain.MapDataset:
        """The same draws as ``examples(s)``, untokenized and labelled:
        ``(source name, level, TextExample)`` (reports and inspection)."""
        return self._mix(s, lambda name, level: self._component(s, name, level, False)
                         .map(_Label(name, level)))

    def _mix(self, s: int, component) -> grain.MapDataset:
        stage = self.stages[s]
        parts, weights = [], []
        for name, levels in zip(stage.sources, stage.levels):
            for level in levels:
                parts.append(component(name, level))
                weights.append(stage.weights[name] / len(levels))
        return parts[0] if len(parts) == 1 else grain.MapDataset.mix(parts, weights)

    def _component(self, s: int, name: str, level: int, tokenize: bool) -> grain.MapDataset:
        source = self.sources[name]
        if source.size != sys.maxsize:  # finite: endless epochs, each shuffled anew
            ds = RecordView(source)
            if tokenize:
                ds = ds.map_with_index(self._tokenize(name, level))
                if source.size <= CACHE_MAX_RECORDS:
                    ds = Memo(ds)
            seed = mix64(self.seed, name_key(name), s) & 0xFFFF_FFFF
            return ds.shuffle(seed=seed).repeat()
        # Unbounded: item i of stage s is problem (s << 56) + i, so that stages
        # never repeat each other's problems.
        ds = LevelView(source, level, s << _STAGE_SHIFT)
        return ds.map_with_index(self._tokenize(name, level)) if tokenize else ds

    def _tokenize(self, name: str, level: int) -> "Tokenize":
        return Tokenize(self.tokenizer, name, level,
                        getattr(self.sources[name], "prompt_loss", False))

    @property
    def bad_records(self) -> int:
        return sum(getattr(src, "bad_records", 0) for src in self.sources.values())


class Tokenize(grain.transforms.MapWithIndex):
    """Grain transformation: TextExample -> tokenized, loss-masked Example."""

    def __init__(self, tokenizer, name: str, level: int, prompt_loss: bool = False):
        self.tokenizer, self.name, self.level = tokenizer, name, level
        self.prompt_loss = prompt_loss

    def map_with_index(self, index: int, ex: TextExample) -> Example:
        try:
            return format_example(ex.prompt, ex.completion, ex.mode, self.tokenizer,
                                  answer=ex.answer, prompt_loss=self.prompt_loss)
        except ValueError as e:
            raise BadRecordError(f"source {self.name!r} level {self.level} item {index}: "
                                 f"{e}") from None


class _Label(grain.transforms.Map):
    def __init__(self, name: str, level: int):
        self.name, self.level = name, level

    def map(self, ex: TextExample) -> tuple[str, int, TextExample]:
        return self.name, self.level, ex


class Memo(grain.MapDataset):
    """Keeps each element of a finite parent once computed (one copy per worker)."""

    def __init__(self, parent: grain.MapDataset):
        super().__init__(parent)
        self._memo: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self._parent)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        index %= len(self._parent)  # Grain's shuffle hands on epoch * length + i
        hit = self._memo.get(index)
        if hit is None:
            hit = self._memo[index] = self._parent[index]
        return hit

    def __getstate__(self):  # workers start with an empty memo
        state = self.__dict__.copy()
        state["_memo"] = {}
        return state

    def __str__(self) -> str:
        return "Memo"


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
