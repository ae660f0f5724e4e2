"""Readers for text corpora: JSONL, plain text, and TFDS datasets by name.

Every reader yields ``Doc(source, line, record)``: ``source`` and ``line`` say
where the document came from (for error messages and reports), and ``record``
is a dict with at least a ``text`` field (JSONL records keep all their fields).

Bad input gets one clear error naming ``file:line`` and what was expected, or,
with ``skip_bad=True``, the bad line is skipped and counted in
``ReadStats.bad_lines`` (and its first few errors kept in ``ReadStats.errors``).
That includes lines that are not UTF-8 and JSON nested too deeply to parse
(``rtt_jax.json_lines``).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterator

from rtt_jax import json_lines


class CorpusError(ValueError):
    """A corpus line or file that cannot be used; the message names file:line."""


@dataclasses.dataclass(frozen=True)
class Doc:
    source: str
    line: int  # 1-based line in a JSONL file, document number otherwise
    record: dict[str, Any]

    @property
    def text(self) -> str:
        return self.record["text"]


@dataclasses.dataclass
class ReadStats:
    docs: int = 0
    bad_lines: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)

    def bad(self, message: str) -> None:
        self.bad_lines += 1
        if len(self.errors) < 20:
            self.errors.append(message)


def read_jsonl(path: str, field: str = "text", skip_bad: bool = False,
               stats: ReadStats | None = None) -> Iterator[Doc]:
    """Records of a JSONL file whose ``field`` is a string (renamed to ``text``)."""
    stats = stats if stats is not None else ReadStats()

    def bad(e: ValueError) -> None:
        if not skip_bad:
            raise CorpusError(str(e)) from None
        stats.bad(str(e))

    try:
        lines = json_lines.iter_json_lines(path, on_error=bad)
        for n, rec in lines:
            if not isinstance(rec, dict):
                bad(CorpusError(f"{path}:{n}: expected a JSON object, got {type(rec).__name__}"))
                continue
            if not isinstance(rec.get(field), str):
                bad(CorpusError(f"{path}:{n}: expected a string field {field!r}, "
                                f"got {type(rec.get(field)).__name__}"))
                continue
            if field != "text":
                rec = rec | {"text": rec[field]}
            stats.docs += 1
            yield Doc(path, n, rec)
    except OSError as e:
        raise CorpusError(f"{path}: cannot open ({e.strerror})") from None


def read_text(path: str, separator: str | None = None) -> Iterator[Doc]:
    """A plain-text file (or every ``*.txt`` in a directory, sorted) as documents.

    ``separator=None``: one document per file. Otherwise a line equal to
    ``separator`` (after stripping; ``""`` means a blank line) ends a document.
    """
    paths = ([os.path.join(path, p) for p in sorted(os.listdir(path)) if p.endswith(".txt")]
             if os.path.isdir(path) else [path])
    for p in paths:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CorpusError(f"{p}: cannot open ({e.strerror})") from None
        try:
            content = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
            raise CorpusError(f"{p}:{line}: not UTF-8 (byte 0x{data[e.start]:02x} at column "
                              f"{column})") from None
        if separator is None:
            chunks = [content]
        else:
            chunks, cur = [], []
            for line in content.splitlines():
                if line.strip() == separator:
                    chunks.append("\n".join(cur))
                    cur = []
                else:
                    cur.append(line)
            chunks.append("\n".join(cur))
        for n, chunk in enumerate((c for c in chunks if c.strip()), 1):
            yield Doc(p, n, {"text": chunk.strip() + "\n"})


def read_tfds(spec: str, data_dir: str | None = None, field: str = "text") -> Iterator[Doc]:
    """Documents of a TFDS dataset given as ``name:split`` (``name`` may carry a version).

    Read through ``tfds.data_source`` (ArrayRecord, no TensorFlow needed);
    bytes fields are decoded as UTF-8.
    """
    import tensorflow_datasets as tfds

    name, _, split = spec.partition(":")
    if not name or not split:
        raise CorpusError(f"--tfds={spec!r}: expected NAME:SPLIT, e.g. rtt_traces:train")
    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001 - tfds raises several types for a missing dataset
        raise CorpusError(f"tfds {spec!r} (data_dir={data_dir}): cannot open ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    for i in range(len(source)):
        ex = source[i]
        if field not in ex:
            raise CorpusError(f"tfds {spec} element {i}: no field {field!r}; fields: {sorted(ex)}")
        rec = {k: (v.decode("utf-8") if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
               for k, v in ex.items()}
        rec["text"] = rec[field]
        yield Doc(f"tfds:{spec}", i + 1, rec)
