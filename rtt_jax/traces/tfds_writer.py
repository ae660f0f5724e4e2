"""Trace datasets as TFDS ArrayRecord files (random access for Grain).

``write_tfds(jsonl_path, data_dir)`` turns a trace JSONL file (written by
``record.write_records``) into the TFDS dataset ``rtt_traces`` under
``data_dir/rtt_traces/1.0.0/`` with ``file_format="array_record"``. TensorFlow
is not needed to write or read it. Read it back with either::

    tfds.data_source("rtt_traces", data_dir=data_dir)["train"][i]
    tfds.builder_from_directory(builder_dir).as_data_source()["train"][i]

Order is preserved (``disable_shuffling``): element ``i`` is line ``i`` of the
JSONL file, so the dataset stays a pure function of the build config.

Features (strings come back as ``bytes``): ``id``, ``family``, ``style``,
``question``, ``reference_answer``, ``text`` (the completion), ``answer`` (the
claimed answer, "" if none), ``source``, ``teacher``, ``noise`` ("" if clean),
``record`` (the full record as JSON, for lossless round trips), and the int64
``seed``, ``index``, ``level``.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow_datasets as tfds

from rtt_jax.traces.record import TraceRecord, read_records, record_from_json

NAME = "rtt_traces"
VERSION = "1.0.0"
_TEXT_FIELDS = ("id", "family", "style", "question", "reference_answer", "text", "answer",
                "source", "teacher", "noise", "record")
_INT_FIELDS = ("seed", "index", "level")


def to_example(record: TraceRecord) -> dict[str, object]:
    p = record.problem
    return {
        "id": record.id, "family": p.family, "style": record.style, "question": p.question,
        "reference_answer": p.answer, "text": record.text, "answer": record.answer or "",
        "source": record.source, "teacher": record.teacher, "noise": record.noise or "",
        "record": record.to_line(), "seed": p.seed, "index": p.index, "level": p.level,
    }


def from_example(example: dict[str, object]) -> TraceRecord:
    """The record stored in a dataset element (as returned by a data source)."""
    raw = example["record"]
    line = raw.decode() if isinstance(raw, bytes) else str(raw)
    return record_from_json(json.loads(line), f"{NAME} element {example.get('id')!r}")


class RttTraces(tfds.core.GeneratorBasedBuilder):
    """Verified reasoning traces written by ``python -m rtt_jax.traces.build``."""

    VERSION = tfds.core.Version(VERSION)
    # tfds 4.9.10 derives a builder's code path with `importlib_resources`,
    # which it only installs on Python < 3.9, so a builder defined inside a
    # package crashes on 3.11. We have no checksums or metadata files to find.
    code_path = None
    RELEASE_NOTES = {str(VERSION): "Trace record schema rtt_jax.trace/1."}

    def __init__(self, *, jsonl_path: str | None = None, split: str = "train", **kwargs):
        self._jsonl_path = jsonl_path
        self._split = split
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        features = {name: tfds.features.Text() for name in _TEXT_FIELDS}
        features |= {name: np.int64 for name in _INT_FIELDS}
        return tfds.core.DatasetInfo(
            builder=self, description=__doc__,
            features=tfds.features.FeaturesDict(features),
            disable_shuffling=True)

    def _split_generators(self, dl_manager):
        if self._jsonl_path is None:
            raise ValueError(f"{NAME}: jsonl_path is needed to build the dataset")
        return {self._split: self._generate_examples(self._jsonl_path)}

    def _generate_examples(self, path: str):
        for i, record in enumerate(read_records(path)):
            yield i, to_example(record)


def write_tfds(jsonl_path: str, data_dir: str, split: str = "train") -> str:
    """Build the ArrayRecord dataset; returns the builder directory."""
    tfds.disable_progress_bar()
    builder = RttTraces(jsonl_path=jsonl_path, split=split, data_dir=data_dir,
                        file_format="array_record")
    if os.path.exists(builder.data_dir):
        raise FileExistsError(f"{builder.data_dir} already exists; use a fresh output directory")
    builder.download_and_prepare()
    return str(builder.data_dir)


def data_source(builder_dir: str, split: str = "train"):
    """Random-access source over a written dataset (no TensorFlow needed)."""
    return tfds.builder_from_directory(builder_dir).as_data_source()[split]
