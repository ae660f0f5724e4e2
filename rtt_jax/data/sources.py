"""Random-access example sources: example i is a pure function of (seed, name, level, i).

Every source has ``name``, ``levels`` (a tuple) and ``get(level, i) ->
TextExample``; ``at_level(level)`` (``LevelView``) and, for finite sources,
``RecordView`` are random-access Grain ``MapDataset`` source nodes:
``data.curriculum`` builds each stage's Grain pipeline from them. Kinds
(``make_source(spec, seed, on_bad_record)``, ``spec`` a ``spec.SourceSpec``
whose fields ``spec.data_spec`` has checked):

* ``synthetic``: on-the-fly task traces. ``cfg.family`` (a ``rtt_jax.tasks``
  name), ``cfg.styles`` ("" = all, else "a,b"), ``cfg.mode`` trace |
  answer_only. Problem i of level L is ``family.generate(seed', i, L)`` with
  ``seed' = make_rng_seed(seed, name)``; its style is a hash of (seed, name,
  L, i). Unbounded (``len`` is ``sys.maxsize``). ``cfg.noise_wrong_step``,
  ``noise_skipped_step``, ``noise_wrong_answer`` corrupt that share of the
  traces (``rtt_jax.traces.noise``; default 0).
* ``textbook``: synthetic textbook sections (``rtt_jax.textbook``) for
  ``cfg.families`` ("" = all), always ``full`` mode (loss on every token).
* ``traces``: a dataset written by ``python -m rtt_jax.traces.build``;
  ``cfg.path`` is its directory (reads ``traces.jsonl``) or, with
  ``cfg.format="array_record"``, its ``tfds/rtt_traces/1.0.0`` data via
  ``tfds.data_source``. Prompt = problem question, completion = trace text.
* ``jsonl``: ``cfg.path`` to a JSONL file of ``{"prompt", "completion"}``
  (``trace``/``answer_only`` modes) or ``{"text"}`` (``full`` mode).
* ``lee_file``: ``cfg.path`` to a Lee et al. 2023 data file (``a+b=c`` per
  line), each problem written in one of ``cfg.styles`` (addition styles,
  e.g. ``lee_detailed``; default ``lee_plain``).
* ``tfds``: ``tfds.data_source(cfg.tfds_name, data_dir=cfg.path, split=cfg.split)``,
  text from ``cfg.prompt_field``/``cfg.completion_field``.

Every kind but textbook takes ``cfg.prompt_loss`` (default False): the
prompt's tokens are targets too (``formatting``).

Finite sources have one pseudo-level ``(0,)`` and ``record(k)``; the
curriculum reads them as endless epochs, each shuffled by Grain with a seed
of (seed, name, stage, epoch).

Malformed records (bad JSON, missing field, empty target): with
``on_bad_record="fatal"`` a ``BadRecordError`` names ``file:line`` (or the
dataset element); with ``"skip"`` the record is left out and counted in
``source.bad_records``. Files are read and checked once, at open, so every
host sees the same record list; ``tfds`` elements are checked on access and a
bad one is replaced by the next good index (a pure function of i as well).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys

import grain

from rtt_jax import json_lines
from rtt_jax.data.formatting import FULL, TRACE

FATAL, SKIP = "fatal", "skip"
BAD_RECORD_POLICIES = (FATAL, SKIP)
KINDS = ("synthetic", "textbook", "traces", "jsonl", "tfds", "lee_file")
_MASK64 = (1 << 64) - 1


class BadRecordError(ValueError):
    """A record that cannot be used; the message names its file and line."""


@dataclasses.dataclass(frozen=True)
class TextExample:
    """Untokenized example: ``mode`` picks the loss-masked span (see formatting)."""

    prompt: str
    completion: str
    mode: str
    answer: str | None = None  # for answer_only when the completion has no #### line


def mix64(*parts: int) -> int:
    """splitmix64 over integer parts: a cheap, stable hash (same on every host)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & _MASK64
        h ^= h >> 29
    return h


def name_key(name: str) -> int:
    """A stable integer for a string (``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class LevelView(grain.MapDataset):
    """One level of an unbounded source as a Grain ``MapDataset`` (a source
    node: no parents): item i is ``source.get(level, offset + i)``.

    A ``MapDataset`` subclass rather than ``MapDataset.source(view)``: Grain's
    source node records a byte-size estimate (a pytree walk) and Prometheus
    counters for every element, which cost as much as making a small
    synthetic example (``bench/input_pipeline.py``)."""

    def __init__(self, source, level: int, offset: int = 0):
        super().__init__()
        self._source, self._level, self._offset = source, level, offset

    def __len__(self) -> int:
        return self._source.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        return self._source.get(self._level, self._offset + int(index))

    def __str__(self) -> str:
        return f"{self._source!r}.at_level({self._level})"


class RecordView(grain.MapDataset):
    """A finite source's records as a Grain ``MapDataset`` source node."""

    def __init__(self, source):
        super().__init__()
        self._source = source

    def __len__(self) -> int:
        return self._source.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        return self._source.record(int(index) % self._source.size)

    def __str__(self) -> str:
        return f"{self._source!r}.records"


class _Source:
    name: str
    levels: tuple[int, ...]
    size: int
    bad_records: int = 0
    # The prompt's tokens are targets too (``formatting``; the source's
    # ``prompt_loss`` field, set by ``make_source``).
    prompt_loss: bool = False

    def at_level(self, level: int) -> LevelView:
        if level not in self.levels:
            raise ValueError(f"source {self.name!r}: level {level} not in {self.levels}")
        return LevelView(self, level)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class SyntheticSource(_Source):
    def __init__(self, name: str, family: str, seed: int, styles=(), mode: str = TRACE):
        from rtt_jax import tasks  # tasks never import JAX; cheap in workers
        self.name, self.family = name, tasks.get(family)
        self.levels = tuple(self.family.levels)
        self.styles = tuple(styles) or tuple(self.family.styles)
        self.mode, self.seed, self.size = mode, seed, sys.maxsize
        from rtt_jax.tasks.base import make_rng_seed
        self._gen_seed = make_rng_seed(seed, name) % (1 << 31)
        self._key = name_key(name)
        self.noise = None  # a NoiseInjector after with_noise(...)

    def get(self, level: int, i: int) -> TextExample:
        problem = self.family.generate(self._gen_seed, i, level)
        style = self.styles[mix64(self.seed, self._key, level, i) % len(self.styles)]
        prompt, completion = self.family.format_example(problem, style)
        if self.noise is not None:
            completion = self._corrupt(problem, style, completion)
        return TextExample(prompt, completion, self.mode, problem.answer)

    def with_noise(self, wrong_step: float = 0.0, skipped_step: float = 0.0,
                   wrong_answer: float = 0.0) -> "SyntheticSource":
        """Corrupt a share of the traces (``rtt_jax.traces.noise``; the flawed-
        traces experiment). Which example gets which corruption is a pure
        function of (seed, source name, example), like everything else here."""
        from rtt_jax.traces.noise import NoiseConfig, NoiseInjector
        if wrong_step or skipped_step or wrong_answer:
            self.noise = NoiseInjector(NoiseConfig(wrong_step, skipped_step, wrong_answer,
                                                   seed=mix64(self.seed, self._key) >> 33))
        return self

    def _corrupt(self, problem, style: str, completion: str) -> str:
        from rtt_jax.traces.record import TraceRecord
        trace = self.family.solve(problem, style)
        record = TraceRecord(problem=problem, style=style, text=completion,
                             answer=trace.answer, steps=tuple(trace.steps))
        return self.noise(record).text


class TextbookDataSource(_Source):
    """Synthetic textbook sections (``rtt_jax.textbook``), loss on every token.

    Item i of level L is a section of family ``families[i % n]`` at L (each
    family keeps the levels it has; a level none has is a config error)."""

    def __init__(self, name: str, families, seed: int):
        from rtt_jax import tasks
        from rtt_jax.tasks.base import make_rng_seed
        self.name, self.families = name, tuple(families) or tasks.names()
        self.levels = tuple(sorted({lv for f in self.families for lv in tasks.get(f).levels}))
        self._levels = {f: set(tasks.get(f).levels) for f in self.families}
        self.seed, self.size = seed, sys.maxsize
        self._gen_seed = make_rng_seed(seed, name) % (1 << 31)

    def get(self, level: int, i: int) -> TextExample:
        from rtt_jax.textbook.sections import section
        have = [f for f in self.families if level in self._levels[f]]
        family = have[i % len(have)]
        return TextExample("", section(family, self._gen_seed, i // len(have), level).text, FULL)


class _FiniteSource(_Source):
    """A finite list of records (``record(k)``, k < ``size``); one pseudo-level.
    The curriculum reads it as endless shuffled epochs (Grain ``shuffle`` +
    ``repeat``, ``data.curriculum``)."""

    levels = (0,)

    def __init__(self, name: str, seed: int, n: int):
        if n == 0:
            raise BadRecordError(f"source {name!r}: no usable records")
        self.name, self.seed, self.size = name, seed, n

    def get(self, level: int, i: int) -> TextExample:
        return self.record(i % self.size)


def _check_text(ex: TextExample, where: str) -> TextExample:
    if ex.mode == FULL and not (ex.prompt + ex.completion):
        raise BadRecordError(f"{where}: empty 'text'")
    if ex.mode != FULL and not ex.completion:
        raise BadRecordError(f"{where}: empty 'completion'")
    return ex


def _from_obj(obj, mode: str, where: str, prompt_key="prompt", completion_key="completion",
              text_key="text") -> TextExample:
    if not isinstance(obj, dict):
        raise BadRecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if mode == FULL:
        if not isinstance(obj.get(text_key), str):
            raise BadRecordError(f"{where}: expected a string field {text_key!r} (full mode)")
        return _check_text(TextExample("", obj[text_key], FULL), where)
    for key in (prompt_key, completion_key):
        if not isinstance(obj.get(key), str):
            raise BadRecordError(f"{where}: expected string fields {prompt_key!r} and "
                                 f"{completion_key!r} ({key!r} missing or not a string)")
    answer = obj.get("answer") if isinstance(obj.get("answer"), str) else None
    return _check_text(TextExample(obj[prompt_key], obj[completion_key], mode, answer), where)


def _read_jsonl(path: str, parse, on_bad_record: str) -> tuple[list, int]:
    """(parsed records, bad count); ``parse(obj, where)`` raises BadRecordError."""
    if not os.path.exists(path):
        raise BadRecordError(f"{path}: no such file")
    records, bad = [], 0

    def skip_or_raise(e: ValueError) -> None:
        nonlocal bad
        if on_bad_record == FATAL:
            raise BadRecordError(str(e)) from None
        bad += 1

    try:
        # Lines that are not UTF-8, nest too deep or are not JSON are bad
        # records naming file:line, like any other (rtt_jax.json_lines).
        for lineno, obj in json_lines.iter_json_lines(path, on_error=skip_or_raise):
            try:
                records.append(parse(obj, f"{path}:{lineno}"))
            except (BadRecordError, ValueError) as e:
                skip_or_raise(e)
    except OSError as e:  # a directory, no permission
        raise BadRecordError(f"{path}: cannot read ({e.strerror})") from None
    return records, bad


class JsonlSource(_FiniteSource):
    def __init__(self, name: str, path: str, seed: int, mode: str = TRACE,
                 on_bad_record: str = FATAL):
        self._records, self.bad_records = _read_jsonl(
            path, lambda obj, where: _from_obj(obj, mode, where), on_bad_record)
        super().__init__(name, seed, len(self._records))

    def record(self, k: int) -> TextExample:
        return self._records[k]


class LeeFileSource(_FiniteSource):
    """Problems from a Lee et al. 2023 file (``a+b=c`` per line), formatted in
    the addition styles ``styles`` (record k's style is a hash of (seed, k));
    the Lee reproduction trains on their balanced files this way."""

    def __init__(self, name: str, path: str, seed: int, styles=(), mode: str = TRACE):
        from rtt_jax.tasks import addition
        if not os.path.exists(path):
            raise BadRecordError(f"config.data.sources.{name}.path={path!r}: no such file")
        try:
            self._problems = addition.read_lee_file(path)
        except ValueError as e:
            raise BadRecordError(str(e)) from None
        self.styles = tuple(styles) or LEE_FILE_DEFAULT_STYLES
        self.mode, self._family, self._key = mode, addition.FAMILY, name_key(name)
        super().__init__(name, seed, len(self._problems))

    def record(self, k: int) -> TextExample:
        problem = self._problems[k]
        style = self.styles[mix64(self.seed, self._key, k) % len(self.styles)]
        prompt, completion = self._family.format_example(problem, style)
        return TextExample(prompt, completion, self.mode, problem.answer)


class TracesSource(_FiniteSource):
    """A trace dataset directory (``traces.jsonl``; or its ArrayRecord copy).
    A record trains with the prompt its family writes for its style
    (``traces.teachers.record_prompt``), the prompt evaluation uses."""

    def __init__(self, name: str, path: str, seed: int, mode: str = TRACE,
                 on_bad_record: str = FATAL, file_format: str = "jsonl"):
        from rtt_jax.traces.record import TraceFormatError, record_from_json
        from rtt_jax.traces.teachers import record_prompt
        self.mode = mode
        self._prompt = record_prompt
        if file_format == "array_record":
            from rtt_jax.traces import tfds_writer
            self._ds = tfds_writer.data_source(os.path.join(path, "tfds", tfds_writer.NAME,
                                                            tfds_writer.VERSION))
            self._records = None
            self.bad_records = 0
            super().__init__(name, seed, len(self._ds))
            return

        def parse(obj, where):
            try:
                r = record_from_json(obj, where)
            except TraceFormatError as e:
                raise BadRecordError(str(e)) from None
            _check_text(TextExample("", r.text, mode, r.answer), where)
            return r  # its prompt is written when first read (Memo keeps it)

        self._records, self.bad_records = _read_jsonl(os.path.join(path, "traces.jsonl"),
                                                      parse, on_bad_record)
        super().__init__(name, seed, len(self._records))

    def record(self, k: int) -> TextExample:
        if self._records is not None:
            r = self._records[k]
        else:
            from rtt_jax.traces.tfds_writer import from_example
            r = from_example(self._ds[k])
        return TextExample(self._prompt(r), r.text, self.mode, r.answer)


class TfdsSource(_FiniteSource):
    """Any TFDS dataset prepared as ArrayRecord, read by name without TensorFlow."""

    def __init__(self, name: str, tfds_name: str, data_dir: str, split: str, seed: int,
                 mode: str = TRACE, prompt_field: str = "prompt",
                 completion_field: str = "completion", on_bad_record: str = FATAL):
        import tensorflow_datasets as tfds
        if tfds_name == "rtt_traces":
            import rtt_jax.traces.tfds_writer  # noqa: F401  (registers the builder)
        self._ds = tfds.data_source(tfds_name, data_dir=data_dir or None, split=split)
        self.mode, self.on_bad_record = mode, on_bad_record
        self._fields = (prompt_field, completion_field)
        self.bad_records = 0
        super().__init__(name, seed, len(self._ds))

    def record(self, k: int) -> TextExample:
        for step in range(self.size):
            j = (k + step) % self.size
            element = self._ds[j]
            obj = {key: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                   for key, v in element.items()}
            where = f"tfds {self._ds!r} element {j}"
            try:
                return _from_obj(obj, self.mode, where, *self._fields, self._fields[1])
            except BadRecordError:
                if self.on_bad_record == FATAL:
                    raise
                self.bad_records += 1
        raise BadRecordError(f"source {self.name!r}: no usable records")


# The style a lee_file source writes when its ``styles`` is empty: Lee's plain format.
LEE_FILE_DEFAULT_STYLES = ("lee_plain",)


def make_source(spec, seed: int, on_bad_record: str = FATAL) -> _Source:
    """Open the source a checked ``spec.SourceSpec`` describes (files are read here)."""
    source = _open_source(spec, seed, on_bad_record)
    source.prompt_loss = spec.prompt_loss
    return source


def _open_source(spec, seed: int, on_bad_record: str) -> _Source:
    kind, mode, name = spec.kind, spec.mode, spec.name
    if kind == "synthetic":
        source = SyntheticSource(name, spec.family, seed, spec.styles, mode)
        try:
            return source.with_noise(*spec.noise)
        except ValueError as e:
            raise ValueError(f"config.data.sources.{name}.noise_*: {e}") from None
    if kind == "textbook":
        return TextbookDataSource(name, spec.families, seed)
    if kind == "jsonl":
        return JsonlSource(name, spec.path, seed, mode, on_bad_record)
    if kind == "lee_file":
        return LeeFileSource(name, spec.path, seed, spec.styles, mode)
    if kind == "traces":
        return TracesSource(name, spec.path, seed, mode, on_bad_record, spec.format)
    return TfdsSource(name, spec.tfds_name, spec.path, spec.split, seed, mode,
                      spec.prompt_field, spec.completion_field, on_bad_record)
