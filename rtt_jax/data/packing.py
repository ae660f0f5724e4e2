"""Packing tokenized Examples into fixed rows, accounting for every token.

Row format (each int32 [rows, seq_len + 1], the train step's input)::

    tokens       token ids; 0 (PAD) after the last segment
    segment_ids  1, 2, ... per example piece within the row; 0 = padding
    positions    0, 1, ... restarting at every segment
    loss_mask    1 where the token is a target (predicted from t - 1)

Algorithms (both deterministic):

* ``first_fit``: examples in the given order; each goes into the first row
  with room, else a new row. Keeps the input order within rows.
* ``best_fit``: best-fit decreasing: examples sorted by length (longest
  first, ties by input order), each into the row it fills most tightly.
  Usually packs tighter (not always: widths 25, lengths 6,12,7,6,8,10 take
  3 rows against first-fit's 2; tests/test_packing_order.py); the order
  inside a window is no longer the input order.

Policies for an example longer than a row (``width = seq_len + 1`` tokens):

* ``truncate``: keep the first ``width`` tokens; the tail (EOS included) is
  lost and counted. If no target survives in the head the example is dropped
  instead, since a row of pure context trains nothing.
* ``split``: cut it into pieces of at most ``width`` tokens placed as separate
  segments. Each continuation piece starts with the previous piece's last
  token as context (mask 0), so every target still has its predecessor in its
  segment and no target is lost; those repeated tokens are counted. A
  continuation cannot attend to earlier pieces (attention is block-diagonal)
  and its positions restart at 0: with RoPE only relative offsets matter, and
  restarting keeps every position below ``width``.
* ``drop``: skip the example; its examples and tokens are counted.

Accounting (``PackStats``) always satisfies::

    placed_tokens = input_tokens - lost_tokens + repeated_tokens
    rows * width  = placed_tokens + pad_tokens

Streaming with exact resume is ``data.lane_packing``'s Grain
``IterDataset``: each lane packs fixed windows of ``window`` consecutive
examples with ``pack_rows`` and emits one row per step; its state is the
(window, row) of each lane.

Row order. Best-fit sorts a window by length, so its rows come out longest
first; when every batch row packs its own window in step (the lanes),
whole batches then cycle from long (hard) to short (easy) examples every
window, which measurably hurt training (docs/recipes.md, "Packing"). So
``packing.shuffle_rows`` emits a window's rows in a random order seeded by
(seed, stage, lane, window): still a pure function of the window, so resume
stays exact.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from rtt_jax.data.formatting import Example, check_example

FIRST_FIT, BEST_FIT = "first_fit", "best_fit"
ALGORITHMS = (FIRST_FIT, BEST_FIT)
TRUNCATE, SPLIT, DROP = "truncate", "split", "drop"
POLICIES = (TRUNCATE, SPLIT, DROP)
ROW_KEYS = ("tokens", "segment_ids", "positions", "loss_mask")


@dataclasses.dataclass
class PackStats:
    """Counts for one packing call; add them up across calls with ``+``.

    ``examples``/``input_*`` count every example given, packed or lost.
    """

    examples: int = 0
    input_tokens: int = 0
    input_targets: int = 0
    placed_tokens: int = 0
    placed_targets: int = 0
    lost_tokens: int = 0
    lost_targets: int = 0
    repeated_tokens: int = 0
    truncated_examples: int = 0
    split_examples: int = 0
    dropped_examples: int = 0
    rows: int = 0
    pad_tokens: int = 0

    def __add__(self, other: "PackStats") -> "PackStats":
        # Called per example while packing: avoid dataclasses.fields() each time.
        return PackStats(*(getattr(self, n) + getattr(other, n) for n in _STAT_FIELDS))

    @property
    def padding_fraction(self) -> float:
        total = self.placed_tokens + self.pad_tokens
        return self.pad_tokens / total if total else 0.0

    def as_metrics(self, prefix: str = "data/") -> dict[str, float]:
        out = {prefix + f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out[prefix + "padding_fraction"] = self.padding_fraction
        return out


_STAT_FIELDS = tuple(f.name for f in dataclasses.fields(PackStats))


def check_args(seq_len: int, algorithm: str, overflow: str) -> int:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown packing algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if overflow not in POLICIES:
        raise ValueError(f"unknown overflow policy {overflow!r}; expected one of {POLICIES}")
    if seq_len < 1:
        raise ValueError(f"seq_len={seq_len}: rows need at least 2 tokens")
    return seq_len + 1


def _pieces(ex: Example, width: int, overflow: str, stats: PackStats) -> list[tuple[int, int]]:
    """[start, stop) spans of ``ex`` to place; updates the example-side stats."""
    n, mask = len(ex), ex.loss_mask
    stats.examples += 1
    stats.input_tokens += n
    stats.input_targets += ex.num_targets
    if n <= width:
        return [(0, n)]
    if overflow == SPLIT:
        spans = [(0, width)]
        while spans[-1][1] < n:
            start = spans[-1][1] - 1  # repeat one token so the next target keeps its context
            spans.append((start, min(start + width, n)))
        stats.split_examples += 1
        stats.repeated_tokens += len(spans) - 1
        return spans
    if overflow == TRUNCATE and mask[1:width].any():
        stats.truncated_examples += 1
        stats.lost_tokens += n - width
        stats.lost_targets += int(mask[width:].sum())
        return [(0, width)]
    stats.dropped_examples += 1
    stats.lost_tokens += n
    stats.lost_targets += ex.num_targets
    return []


def _choose_row(remaining: list[int], length: int, algorithm: str) -> int:
    """The row for a piece of ``length`` tokens (-1: none has room). Plain
    Python over a list: windows have tens of rows, where one numpy call per
    example costs more than the whole loop (the Lee et al. runs pack ~6,000
    examples per step)."""
    if algorithm == FIRST_FIT:
        for r, free in enumerate(remaining):
            if free >= length:
                return r
        return -1
    best, best_free = -1, 1 << 62
    for r, free in enumerate(remaining):
        if length <= free < best_free:
            best, best_free = r, free
    return best


def _assign(examples: Sequence[Example], width: int, algorithm: str, overflow: str):
    """Row assignment: (rows as lists of (example, start, stop), stats)."""
    order = range(len(examples))
    if algorithm == BEST_FIT:
        order = sorted(order, key=lambda i: -min(len(examples[i]), width))  # stable: ties keep order
    remaining: list[int] = []  # free tokens of each open row
    rows: list[list[tuple[int, int, int]]] = []
    stats = PackStats()
    for i in order:
        for start, stop in _pieces(examples[i], width, overflow, stats):
            length = stop - start
            r = _choose_row(remaining, length, algorithm)
            if r < 0:
                r = len(rows)
                rows.append([])
                remaining.append(width)
            remaining[r] -= length
            rows[r].append((i, start, stop))
    return rows, stats


def _write_rows(examples: Sequence[Example], rows, width: int, num_rows: int,
                stats: PackStats) -> dict[str, np.ndarray]:
    out = {k: np.zeros((num_rows, width), np.int32) for k in ROW_KEYS}
    ramp = np.arange(width, dtype=np.int32)
    for r, segments in enumerate(rows):
        if not segments:
            continue
        # One concatenation per row (not four slice writes per segment): the
        # packer places thousands of short examples per step.
        lengths = [stop - start for _, start, stop in segments]
        n = sum(lengths)
        out["tokens"][r, :n] = np.concatenate([examples[i].tokens[a:b] for i, a, b in segments])
        mask = np.concatenate([examples[i].loss_mask[a:b] for i, a, b in segments])
        starts = np.cumsum([0] + lengths[:-1])
        # A piece's first token has no predecessor in its segment: for a
        # head it is BOS (mask 0 already), for a continuation it is context.
        mask[starts] = 0
        out["loss_mask"][r, :n] = mask
        out["segment_ids"][r, :n] = np.repeat(np.arange(1, len(segments) + 1, dtype=np.int32),
                                              lengths)
        out["positions"][r, :n] = np.concatenate([ramp[:k] for k in lengths])
    stats.rows += num_rows
    stats.placed_tokens += int((out["segment_ids"] > 0).sum())
    stats.placed_targets += int(out["loss_mask"].sum())
    stats.pad_tokens += int((out["segment_ids"] == 0).sum())
    return out


def _validate(examples: Sequence[Example]) -> None:
    for k, ex in enumerate(examples):
        check_example(ex, f"example {k} of the packing input")


def pack_rows(examples: Sequence[Example], seq_len: int, *, algorithm: str = BEST_FIT,
              overflow: str = SPLIT, validate: bool = True
              ) -> tuple[dict[str, np.ndarray], PackStats]:
    """Packs all ``examples`` into as many rows as they need: ([R, seq_len + 1] arrays, stats).

    ``validate=False`` skips ``check_example`` for inputs already checked
    (``formatting.format_example`` checks every example it makes)."""
    width = check_args(seq_len, algorithm, overflow)
    if validate:
        _validate(examples)
    rows, stats = _assign(examples, width, algorithm, overflow)
    return _write_rows(examples, rows, width, len(rows), stats), stats
