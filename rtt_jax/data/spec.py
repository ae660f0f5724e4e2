"""``config.data``, checked once, as the typed pieces the data pipeline takes.

``data_spec(config.data, seed)`` is called by the entry point's
``config_validation.validate`` (and by the data CLIs, which need only this
section). It raises ``ConfigError`` on the first unusable field, one line
naming it, without opening any data file; what only shows once a file is
read (a missing path, a bad record) is reported when the source opens
(``sources.make_source``). Nothing downstream checks these fields again:
``Curriculum.from_spec`` and ``make_source`` trust the spec.

Levels are resolved here: a synthetic source has its family's levels
(default: the family's ``train_levels``), a textbook source the union of its
families' levels, a file source the one pseudo-level 0.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from rtt_jax import tasks
from rtt_jax.config_error import ConfigError, require
from rtt_jax.data import formatting, packing
from rtt_jax.data.curriculum import Stage, make_stages
from rtt_jax.data.formatting import ANSWER_ONLY, TRACE
from rtt_jax.data.sources import BAD_RECORD_POLICIES, FATAL, KINDS, LEE_FILE_DEFAULT_STYLES
from rtt_jax.tasks import addition

FILE_KINDS = ("traces", "jsonl", "tfds", "lee_file")


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One ``config.data.sources.<name>`` (fields: configs/base.py ``_source``).

    ``styles`` are the styles the source writes, defaults resolved (a
    synthetic source's family styles, a lee_file's ``lee_plain``); () for
    sources whose text is read, not written."""

    name: str
    kind: str
    mode: str = TRACE
    family: str = ""
    styles: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    path: str = ""
    format: str = "jsonl"
    tfds_name: str = ""
    split: str = "train"
    prompt_field: str = "prompt"
    completion_field: str = "completion"
    noise: tuple[float, float, float] = (0.0, 0.0, 0.0)  # wrong_step, skipped_step, wrong_answer
    prompt_loss: bool = False  # the prompt's tokens are targets too (formatting)
    levels: tuple[int, ...] = (0,)
    default_levels: tuple[int, ...] = (0,)

    @property
    def finite(self) -> bool:
        return self.kind in FILE_KINDS


@dataclasses.dataclass(frozen=True)
class PackingSpec:
    algorithm: str = packing.BEST_FIT
    overflow: str = packing.SPLIT
    window: int = 64
    shuffle_rows: bool = True


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What the curriculum pipeline is built from (``pipeline.make_curriculum_data``)."""

    seed: int
    seq_len: int
    global_batch_size: int
    sources: Mapping[str, SourceSpec]
    stages: tuple[Stage, ...]
    tokenizer: str = "bytes"  # "bytes" or a directory written by Tokenizer.save
    on_bad_record: str = FATAL
    prefetch: int = 0
    worker_count: int = 0
    packing: PackingSpec = PackingSpec()


def _styles(spec) -> tuple[str, ...]:
    if isinstance(spec, str):
        return tuple(s.strip() for s in spec.split(",") if s.strip())
    return tuple(spec or ())


def source_spec(name: str, cfg) -> SourceSpec:
    """One source's fields, checked; ``cfg`` is a ConfigDict or a dict."""
    get = (lambda k, default=None: cfg.get(k, default)) if hasattr(cfg, "get") else \
        (lambda k, default=None: getattr(cfg, k, default))
    f = f"data.sources.{name}"
    kind, mode = get("kind"), get("mode", TRACE)
    require(kind in KINDS, f + ".kind", kind, f"one of {KINDS}")
    require(mode in formatting.MODES, f + ".mode", mode, f"one of {formatting.MODES}")
    styles = _styles(get("styles", ""))
    prompt_loss = get("prompt_loss", False)
    require(isinstance(prompt_loss, bool), f + ".prompt_loss", prompt_loss, "True or False")
    require(not (prompt_loss and kind == "textbook"), f + ".prompt_loss", prompt_loss,
            "False for a textbook source (its text is all target already)")
    extra: dict = {}
    if kind == "synthetic":
        family = get("family")
        require(family in tasks.names(), f + ".family", family,
                 f"a task family among {', '.join(tasks.names())}")
        fam = tasks.get(family)
        unknown = sorted(set(styles) - set(fam.styles))
        require(not unknown, f + ".styles", get("styles"),
                f"styles of {family} among {', '.join(fam.styles)} (unknown: {unknown})")
        require(mode in (TRACE, ANSWER_ONLY), f + ".mode", mode, "trace or answer_only")
        extra = dict(family=family, styles=styles or tuple(fam.styles),
                     levels=tuple(fam.levels), default_levels=tuple(fam.train_levels),
                     noise=tuple(float(get(f"noise_{k}", 0.0))
                                 for k in ("wrong_step", "skipped_step", "wrong_answer")))
    elif kind == "textbook":
        fams = _styles(get("families") or "")
        require(all(x in tasks.names() for x in fams), f + ".families", get("families"),
                f"comma-separated task families among {', '.join(tasks.names())}")
        require(mode == formatting.FULL, f + ".mode", mode, "'full' (textbook text is all target)")
        fams = fams or tasks.names()
        levels = tuple(sorted({lv for x in fams for lv in tasks.get(x).levels}))
        extra = dict(families=fams, levels=levels, default_levels=levels)
    elif kind == "tfds":
        require(bool(get("tfds_name")), f + ".tfds_name", get("tfds_name"), "a TFDS dataset name")
    else:
        require(bool(get("path")), f + ".path", get("path"), "a file or directory")
    if kind == "lee_file":
        known = addition.FAMILY.styles
        unknown = sorted(set(styles) - set(known))
        require(not unknown, f + ".styles", get("styles"),
                f"addition styles among {', '.join(known)} (unknown: {unknown})")
        require(mode in (TRACE, ANSWER_ONLY), f + ".mode", mode, "trace or answer_only")
        extra = dict(styles=styles or LEE_FILE_DEFAULT_STYLES)
    return SourceSpec(name=name, kind=kind, mode=mode, path=str(get("path", "") or ""),
                      format=get("format", "jsonl"), tfds_name=str(get("tfds_name", "") or ""),
                      split=get("split", "train"), prompt_field=get("prompt_field", "prompt"),
                      completion_field=get("completion_field", "completion"),
                      prompt_loss=prompt_loss, **extra)


def data_spec(d, seed: int) -> DataSpec:
    """``config.data`` checked into a DataSpec; ConfigError names the first bad field."""
    require(d.get("kind", "curriculum") == "curriculum", "data.kind", d.get("kind"),
            "'curriculum' (the one data path: stages of data.sources; the built-in "
            "addition task is retired, use a synthetic addition source)")
    require(isinstance(d.seq_len, int) and d.seq_len >= 8, "data.seq_len", d.seq_len, ">= 8")
    require(isinstance(d.global_batch_size, int) and d.global_batch_size >= 1,
            "data.global_batch_size", d.global_batch_size, ">= 1")
    require(d.on_bad_record in BAD_RECORD_POLICIES, "data.on_bad_record",
            d.on_bad_record, f"one of {BAD_RECORD_POLICIES}")
    require(isinstance(d.prefetch, int) and d.prefetch >= 0, "data.prefetch", d.prefetch,
            "an integer >= 0 (batches made ahead)")
    workers = d.get("worker_count", 0)
    require(isinstance(workers, int) and not isinstance(workers, bool) and workers >= 0,
            "data.worker_count", workers, "an integer >= 0 (Grain worker processes; 0 = "
            "in-process)")
    p = d.packing
    require(p.algorithm in packing.ALGORITHMS, "data.packing.algorithm", p.algorithm,
            f"one of {packing.ALGORITHMS}")
    require(p.overflow in packing.POLICIES, "data.packing.overflow", p.overflow,
            f"one of {packing.POLICIES}")
    require(isinstance(p.window, int) and p.window >= 1, "data.packing.window", p.window,
            "an integer >= 1 (examples per packing window)")
    shuffle_rows = p.get("shuffle_rows", True)
    require(isinstance(shuffle_rows, bool), "data.packing.shuffle_rows", shuffle_rows,
            "True or False")
    sources = {name: source_spec(name, s) for name, s in d.sources.items()}
    try:
        stages = tuple(make_stages(d.stages, sources))
    except ValueError as e:  # messages name the field: config.data.stages[k]...
        raise ConfigError(str(e)) from None
    return DataSpec(seed=seed, seq_len=d.seq_len, global_batch_size=d.global_batch_size,
                    sources=sources, stages=stages, tokenizer=d.tokenizer,
                    on_bad_record=d.on_bad_record, prefetch=d.prefetch, worker_count=workers,
                    packing=PackingSpec(p.algorithm, p.overflow, p.window, shuffle_rows))


def trained_with_traces(data: DataSpec) -> bool:
    """Whether the run trains on text with steps: False when every source a
    stage mixes in (weight > 0) has mode ``answer_only`` or writes only Lee's
    one-line formats (``addition.ANSWER_LINE_STYLES``: plain and reversed,
    the answer and nothing before it).

    Step validity and trace/answer consistency judge the steps a model writes;
    a model trained on answers alone writes none, so for it they do not apply
    (None in the report, see ``evaluation.scoring.TRACE_METRICS``) rather
    than being 0 or a copy of its answer accuracy. Textbook (``full``) text
    has worked steps, so it counts as traces."""
    used = {name for stage in data.stages for name in stage.sources}

    def writes_steps(src: SourceSpec) -> bool:
        if src.mode == ANSWER_ONLY:
            return False
        return not src.styles or not set(src.styles) <= set(addition.ANSWER_LINE_STYLES)

    return not used or any(writes_steps(data.sources[name]) for name in used)
