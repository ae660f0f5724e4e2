"""Our packer as a Grain ``IterDataset``: one packed row per lane per step.

Why not Grain's packers. ``FirstFitPackIterDataset`` / ``BestFitPackIterDataset``
pack one stream into rows as it arrives. They do not give what rtt_jax needs:

* **Host-count independence.** Row r of every global batch must be the same
  for 1 process or 64, so that a pod run and a laptop run of one config see
  the same data. A stream packer's rows depend on where the stream was cut.
* **Worker-count independence.** Grain's ``mp_prefetch`` slices the input of
  a stateful transformation across workers, so a packer before it changes
  its output with ``worker_count`` (Grain's own docs say so).
* **The overflow policies and accounting** of ``packing.pack_rows``: ``split``
  keeps every target of an over-long example (with one repeated context
  token), and every lost, repeated and padding token is counted.

So each global batch row r is a *lane*: lane r packs its own example stream
(the stage's examples ``examples[r * LANE_STRIDE + k]``, k = 0, 1, ...) in
fixed windows of ``window`` examples (``packing.pack_rows``), and emits one
row per step. A lane depends on nothing but (config, seed, lane). This
dataset's parent is a ``MapDataset`` of lane ids (the host's share, cut by
Grain's sharding options); ``mp_prefetch`` slices that parent, so each
worker packs whole lanes and ``merge_lane_groups`` puts a step back together
from one element per worker, in lane order. Any worker count gives the same
rows.

Elements: ``{"lanes": int32[n], "rows": int32[n, 4, seq_len + 1]`` (``ROW_KEYS``
order), ``"window_stats": float64[len(EXAMPLE_STATS)]}``: the example-side
counts (``PackStats``) of the windows that started this step.

State (JSON): ``{"kind": "lane_pack", "lanes": {"<lane>": [window, row]}}``,
rows of ``window`` already emitted. Restoring re-packs window ``window`` (a
pure function of its examples) and skips ``row`` rows. ``set_state`` takes a
map holding *at least* this iterator's lanes, so a state saved with one
worker count restores with another (``rtt_jax.data.pipeline``).
"""
from __future__ import annotations

import grain
import numpy as np

from rtt_jax.data.packing import ROW_KEYS, PackStats, check_args, pack_rows
from rtt_jax.data.sources import mix64

KIND = "lane_pack"
# Examples per lane per stage: lane r reads examples [r * LANE_STRIDE, (r + 1) * LANE_STRIDE).
LANE_STRIDE = 1 << 32
# The PackStats fields that describe examples (counted once, when a window starts).
EXAMPLE_STATS = ("examples", "input_tokens", "input_targets", "lost_tokens", "lost_targets",
                 "repeated_tokens", "truncated_examples", "split_examples", "dropped_examples")


class LanePackIterDataset(grain.IterDataset):
    """Packed rows of the lanes in ``lanes`` (a MapDataset of lane ids)."""

    def __init__(self, lanes: grain.MapDataset, examples: grain.MapDataset, *, seq_len: int,
                 window: int, algorithm: str, overflow: str, shuffle_key: tuple | None):
        super().__init__(lanes)
        self.width = check_args(seq_len, algorithm, overflow)
        if window < 1:
            raise ValueError(f"config.data.packing.window={window}: expected >= 1")
        self.examples, self.seq_len, self.window = examples, seq_len, window
        self.algorithm, self.overflow = algorithm, overflow
        # Rows of a window come out in a random order seeded by
        # (shuffle_key, lane, window) (packing.py, "Row order"); None: as packed.
        self.shuffle_key = shuffle_key

    def __iter__(self) -> "LanePackIterator":
        return LanePackIterator(self)

    def __str__(self) -> str:
        return f"LanePackIterDataset(window={self.window}, {self.algorithm}, {self.overflow})"


class LanePackIterator(grain.DatasetIterator):
    def __init__(self, ds: LanePackIterDataset):
        super().__init__()
        self._ds = ds
        lanes = ds.parents[0]
        self.lanes = [int(lanes[i]) for i in range(len(lanes))]
        self._pos = {lane: [0, 0] for lane in self.lanes}
        self._packed: dict[int, tuple[int, np.ndarray, PackStats]] = {}

    def _window(self, lane: int, w: int) -> tuple[np.ndarray, PackStats]:
        cached = self._packed.get(lane)
        if cached is not None and cached[0] == w:
            return cached[1], cached[2]
        ds = self._ds
        start = lane * LANE_STRIDE + w * ds.window
        examples = [ds.examples[start + i] for i in range(ds.window)]
        rows, stats = pack_rows(examples, ds.seq_len, algorithm=ds.algorithm,
                                overflow=ds.overflow, validate=False)
        stacked = np.stack([rows[k] for k in ROW_KEYS], axis=1)  # [rows, 4, width]
        if ds.shuffle_key is not None and len(stacked) > 1:
            seed = mix64(*ds.shuffle_key, lane) >> 1
            stacked = stacked[np.random.default_rng([seed, w]).permutation(len(stacked))]
        self._packed[lane] = (w, stacked, stats)
        return stacked, stats

    def _next_row(self, lane: int, totals: np.ndarray) -> np.ndarray:
        pos = self._pos[lane]
        while True:
            stacked, stats = self._window(lane, pos[0])
            if pos[1] == 0:  # a window starts: its examples are counted now
                totals += [getattr(stats, f) for f in EXAMPLE_STATS]
            if len(stacked):
                break
            pos[0] += 1  # no rows: every example was dropped (overflow drop/truncate)
        row = stacked[pos[1]]
        pos[1] += 1
        if pos[1] == len(stacked):
            pos[0], pos[1] = pos[0] + 1, 0
        return row

    def __next__(self) -> dict[str, np.ndarray]:
        totals = np.zeros(len(EXAMPLE_STATS), np.float64)
        rows = np.empty((len(self.lanes), len(ROW_KEYS), self._ds.width), np.int32)
        for i, lane in enumerate(self.lanes):
            rows[i] = self._next_row(lane, totals)
        return {"lanes": np.asarray(self.lanes, np.int32), "rows": rows, "window_stats": totals}

    def get_state(self) -> dict:
        return {"kind": KIND, "lanes": {str(lane): list(p) for lane, p in self._pos.items()}}

    def set_state(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("kind") != KIND:
            raise ValueError(f"data iterator state is not a {KIND} state: {str(state)[:80]}")
        have = state["lanes"]
        missing = [lane for lane in self.lanes if str(lane) not in have]
        if missing:
            raise ValueError(f"data iterator state has no position for lanes {missing[:4]}")
        self._pos = {lane: [int(x) for x in have[str(lane)]] for lane in self.lanes}


def merge_lane_groups(ds: grain.IterDataset, group: int) -> grain.IterDataset:
    """One step from ``group`` consecutive elements (one per worker), rows in lane order."""
    return ds.batch(group, batch_fn=_merge) if group > 1 else ds


def _merge(parts) -> dict[str, np.ndarray]:
    lanes = np.concatenate([p["lanes"] for p in parts])
    order = np.argsort(lanes, kind="stable")
    return {"lanes": lanes[order],
            "rows": np.concatenate([p["rows"] for p in parts])[order],
            "window_stats": np.sum([p["window_stats"] for p in parts], axis=0)}


def lane_states(state) -> dict[str, list[int]]:
    """Every lane position found anywhere in a (Grain-wrapped) iterator state."""
    found: dict[str, list[int]] = {}
    if isinstance(state, dict):
        if state.get("kind") == KIND:
            found.update(state["lanes"])
        else:
            for v in state.values():
                found.update(lane_states(v))
    elif isinstance(state, (list, tuple)):
        for v in state:
            found.update(lane_states(v))
    return found


def with_lane_states(state, lanes: dict[str, list[int]]):
    """``state`` with every lane_pack state in it replaced by one holding ``lanes``."""
    if isinstance(state, dict):
        if state.get("kind") == KIND:
            return {"kind": KIND, "lanes": dict(lanes)}
        return {k: with_lane_states(v, lanes) for k, v in state.items()}
    if isinstance(state, list):
        return [with_lane_states(v, lanes) for v in state]
    return state


def first_indices(n: int, lanes: int, window: int) -> list[int]:
    """The first ``n`` stage-example indices the lanes ``0..lanes-1`` read, in
    the order training packs them (window 0 of every lane, then window 1, ...):
    what a report should draw to show what the first steps train on."""
    out: list[int] = []
    w = 0
    while len(out) < n:
        for lane in range(lanes):
            start = lane * LANE_STRIDE + w * window
            out.extend(range(start, start + window))
        w += 1
    return out[:n]
