"""The lanes: our packer as a Grain IterDataset (``data.lane_packing``).

Each lane packs fixed windows of its own examples with ``pack_rows`` and
emits one row per step; the window's rows come out in a seeded order; the
state is each lane's (window, row), and a resume from any of them, mid-window
included, continues the same rows. Worker processes and other worker counts
give the same rows (tests/test_pipeline.py runs those through the pipeline)."""
import json

import grain
import numpy as np
import pytest

from rtt_jax.data import packing as pk
from rtt_jax.data.formatting import Example
from rtt_jax.data.lane_packing import (EXAMPLE_STATS, LANE_STRIDE, LanePackIterDataset,
                                       lane_states, merge_lane_groups, with_lane_states)

_WINDOW, _SEQ = 10, 31
_WIDTH = _SEQ + 1


class _Examples:
    """Example i: a length drawn from (i), some longer than a row (split)."""

    def __len__(self):
        return 1 << 62

    def __getitem__(self, i):
        n = int(np.random.default_rng(i).integers(2, 50))
        tokens = (3 + (i % 997) * 50 + np.arange(n)).astype(np.int32)
        mask = np.ones(n, np.int32)
        mask[:1 + i % 3 if n > 4 else 1] = 0
        return Example(tokens, mask)


def _dataset(lanes=(0,), shuffle_key=(7,), algorithm="best_fit", overflow="split",
             examples=None, window=_WINDOW, seq_len=_SEQ):
    return LanePackIterDataset(grain.MapDataset.range(lanes[0], lanes[-1] + 1),
                               examples or grain.MapDataset.source(_Examples()),
                               seq_len=seq_len, window=window, algorithm=algorithm,
                               overflow=overflow, shuffle_key=shuffle_key)


def _window_rows(lane, w, algorithm):
    src = _Examples()
    start = lane * LANE_STRIDE + w * _WINDOW
    rows, stats = pk.pack_rows([src[start + i] for i in range(_WINDOW)], _SEQ,
                               algorithm=algorithm)
    return np.stack([rows[k] for k in pk.ROW_KEYS], axis=1), stats


def _by_window(it, n_windows):
    """[(window stats vector, [row, ...]), ...] for a single-lane iterator."""
    out = []
    while True:
        e = next(it)
        if e["window_stats"].any():
            if len(out) == n_windows:
                return out
            out.append((e["window_stats"], []))
        out[-1][1].append(e["rows"][0])


def _multiset(rows):
    return sorted(np.asarray(r).tobytes() for r in rows)


@pytest.mark.parametrize("algorithm", pk.ALGORITHMS)
def test_a_lanes_windows_are_pack_rows_in_a_seeded_order(algorithm):
    n = 6
    plain = _by_window(iter(_dataset((3,), None, algorithm)), n)
    seeded = {k: _by_window(iter(_dataset((3,), (k,), algorithm)), n) for k in (0, 1)}
    again = _by_window(iter(_dataset((3,), (0,), algorithm)), n)
    reordered = differs = 0
    for w in range(n):
        ref_rows, ref_stats = _window_rows(3, w, algorithm)
        want = [getattr(ref_stats, f) for f in EXAMPLE_STATS]
        np.testing.assert_array_equal(plain[w][0], want)
        np.testing.assert_array_equal(np.stack(plain[w][1]), ref_rows)  # unshuffled: as packed
        for k in (0, 1):
            stats, rows = seeded[k][w]
            np.testing.assert_array_equal(stats, want)
            assert _multiset(rows) == _multiset(ref_rows)  # the same rows, permuted
            reordered += not np.array_equal(np.stack(rows), ref_rows)
        np.testing.assert_array_equal(np.stack(again[w][1]), np.stack(seeded[0][w][1]))
        differs += not np.array_equal(np.stack(seeded[0][w][1]), np.stack(seeded[1][w][1]))
    assert reordered >= 2 * (n - 1) and differs >= n - 1


@pytest.mark.parametrize("algorithm", pk.ALGORITHMS)
def test_resume_from_every_step_mid_window_included_is_exact(algorithm):
    lanes = (4, 5, 6)
    straight = iter(_dataset(lanes, algorithm=algorithm))
    seq = []
    for _ in range(40):
        seq.append((json.loads(json.dumps(straight.get_state())), next(straight)))
    assert any(p[1] > 0 for st, _ in seq for p in st["lanes"].values())  # mid-window states
    for cut in range(0, 40, 3):
        resumed = iter(_dataset(lanes, algorithm=algorithm))
        resumed.set_state(seq[cut][0])
        for state, element in seq[cut:cut + 8]:
            assert resumed.get_state() == state
            got = next(resumed)
            for k in element:
                np.testing.assert_array_equal(got[k], element[k])


def test_lanes_are_independent_of_which_lanes_share_an_iterator():
    """Lane r's rows do not depend on the other lanes beside it: the basis of
    host-count and worker-count independence."""
    together = iter(_dataset((0, 1, 2, 3)))
    alone = [iter(_dataset((r,))) for r in range(4)]
    for _ in range(25):
        e = next(together)
        parts = [next(it) for it in alone]
        np.testing.assert_array_equal(e["lanes"], [0, 1, 2, 3])
        np.testing.assert_array_equal(e["rows"], np.concatenate([p["rows"] for p in parts]))
        np.testing.assert_array_equal(e["window_stats"], sum(p["window_stats"] for p in parts))


def test_merge_lane_groups_puts_a_step_back_in_lane_order():
    a, b = iter(_dataset((0, 1))), iter(_dataset((2, 3)))
    whole = iter(_dataset((0, 1, 2, 3)))
    interleaved = []
    for _ in range(5):
        interleaved += [next(b), next(a)]  # workers may answer in any order within a step
    merged = list(merge_lane_groups(grain.MapDataset.source(interleaved).to_iter_dataset(), 2))
    assert len(merged) == 5
    for m in merged:
        e = next(whole)
        for k in e:
            np.testing.assert_array_equal(m[k], e[k])


def test_state_moves_between_layouts_and_a_missing_lane_is_named():
    one = iter(_dataset((0, 1, 2, 3)))
    for _ in range(7):
        next(one)
    saved = one.get_state()
    wrapped = {"worker": [saved, {"other": 1}]}  # as a Grain wrapper might nest it
    assert lane_states(wrapped) == saved["lanes"]
    half = iter(_dataset((2, 3)))
    half.set_state(with_lane_states(half.get_state(), lane_states(wrapped)))
    ref = [next(one) for _ in range(5)]
    for e in ref:
        np.testing.assert_array_equal(next(half)["rows"], e["rows"][2:])
    with pytest.raises(ValueError, match=r"no position for lanes \[5\]"):
        iter(_dataset((4, 5))).set_state({"kind": "lane_pack", "lanes": {"4": [0, 0]}})
    with pytest.raises(ValueError, match="not a lane_pack state"):
        iter(_dataset()).set_state({"kind": "curriculum"})


def test_a_window_whose_examples_are_all_dropped_is_skipped_and_counted():
    lengths = {0: 5, 1: 40, 2: 6, 3: 7}  # window 1 (window=1) holds only a too-long example

    class Few:
        def __len__(self):
            return 1 << 62

        def __getitem__(self, i):
            n = lengths[i % 4]
            return Example(np.arange(3, 3 + n, dtype=np.int32), np.r_[0, np.ones(n - 1, np.int32)])

    it = iter(_dataset((0,), None, overflow="drop", window=1, seq_len=15,
                       examples=grain.MapDataset.source(Few())))
    got = [next(it) for _ in range(3)]
    assert [int((e["rows"][0, 1] > 0).sum()) for e in got] == [5, 6, 7]
    dropped = EXAMPLE_STATS.index("dropped_examples")
    assert [e["window_stats"][dropped] for e in got] == [0, 1, 0]  # counted with the next row
