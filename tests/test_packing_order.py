"""Packing: the row layout of ``pack_rows`` pinned against a plain reference
implementation (the lanes' row order and resume: tests/test_lane_packing.py)."""

import numpy as np
import pytest

from rtt_jax.data import packing as pk
from rtt_jax.data.formatting import Example


def _ex(n: int, prompt: int = 1, seed: int = 0) -> Example:
    """n tokens, the first ``prompt`` (>= 1) not targets; token = 3 + 1000 * seed + offset."""
    tokens = (3 + 1000 * seed + np.arange(n)).astype(np.int32)
    mask = np.ones(n, np.int32)
    mask[:prompt] = 0
    return Example(tokens, mask)


# --- row layout against a reference -------------------------------------------------

def _ref_spans(ex: Example, width: int, overflow: str):
    n = len(ex)
    if n <= width:
        return [(0, n)]
    if overflow == "split":
        spans = [(0, width)]
        while spans[-1][1] < n:
            start = spans[-1][1] - 1
            spans.append((start, min(start + width, n)))
        return spans
    if overflow == "truncate" and ex.loss_mask[1:width].any():
        return [(0, width)]
    return []


def _ref_pack(examples, width: int, algorithm: str, overflow: str):
    """Plain first fit / best-fit decreasing: the rows as lists of (example, start, stop)."""
    order = list(range(len(examples)))
    if algorithm == "best_fit":  # longest first (a long example counts as a full row), stable
        order.sort(key=lambda i: -min(len(examples[i]), width))
    rows, free = [], []
    for i in order:
        for a, b in _ref_spans(examples[i], width, overflow):
            fits = [r for r in range(len(rows)) if free[r] >= b - a]
            if not fits:
                r = None
            elif algorithm == "first_fit":
                r = fits[0]
            else:  # the tightest row; ties: the first such row
                r = min(fits, key=lambda r: (free[r], r))
            if r is None:
                rows.append([])
                free.append(width)
                r = len(rows) - 1
            rows[r].append((i, a, b))
            free[r] -= b - a
    return rows


def _ref_arrays(examples, rows, width):
    out = {k: np.zeros((len(rows), width), np.int32) for k in pk.ROW_KEYS}
    for r, segments in enumerate(rows):
        col = 0
        for s, (i, a, b) in enumerate(segments, 1):
            n = b - a
            out["tokens"][r, col:col + n] = examples[i].tokens[a:b]
            out["loss_mask"][r, col:col + n] = examples[i].loss_mask[a:b]
            out["loss_mask"][r, col] = 0
            out["segment_ids"][r, col:col + n] = s
            out["positions"][r, col:col + n] = np.arange(n)
            col += n
    return out


def _ref_stats(examples, rows, width, overflow) -> pk.PackStats:
    st = pk.PackStats()
    for ex in examples:
        n, spans = len(ex), _ref_spans(ex, width, overflow)
        st.examples += 1
        st.input_tokens += n
        st.input_targets += int(ex.loss_mask.sum())
        if n > width:
            if overflow == "split":
                st.split_examples += 1
                st.repeated_tokens += len(spans) - 1
            elif spans:
                st.truncated_examples += 1
                st.lost_tokens += n - width
                st.lost_targets += int(ex.loss_mask[width:].sum())
            else:
                st.dropped_examples += 1
                st.lost_tokens += n
                st.lost_targets += int(ex.loss_mask.sum())
    st.rows = len(rows)
    st.placed_tokens = sum(b - a for row in rows for _, a, b in row)
    st.placed_targets = sum(int(examples[i].loss_mask[a + 1:b].sum())
                            for row in rows for i, a, b in row)
    st.pad_tokens = st.rows * width - st.placed_tokens
    return st


def _check_layout(rows, stats, width):
    tok, seg, pos, mask = (rows[k] for k in pk.ROW_KEYS)
    for r in range(seg.shape[0]):
        n = int((seg[r] > 0).sum())
        k = int(seg[r].max(initial=0))
        assert n > 0  # no empty rows
        # segment ids 1..k in order, then padding (all zero)
        assert sorted(set(seg[r, :n].tolist())) == list(range(1, k + 1))
        assert (np.diff(seg[r, :n]) >= 0).all()
        assert not seg[r, n:].any() and not tok[r, n:].any() and not pos[r, n:].any()
        assert not mask[r, n:].any()
        starts = np.flatnonzero(np.diff(seg[r, :n], prepend=0))
        assert len(starts) == k
        assert (pos[r, starts] == 0).all()  # positions restart at every segment
        assert (mask[r, starts] == 0).all()  # a segment's first token is never a target
        step = np.diff(pos[r, :n])
        assert ((step == 1) | (np.diff(seg[r, :n]) == 1)).all()  # 0, 1, 2, ... per segment
    assert stats.placed_tokens == stats.input_tokens - stats.lost_tokens + stats.repeated_tokens
    assert stats.rows * width == stats.placed_tokens + stats.pad_tokens
    assert stats.placed_targets == stats.input_targets - stats.lost_targets == int(mask.sum())


@pytest.mark.parametrize("overflow", pk.POLICIES)
def test_pack_rows_matches_a_reference_on_random_inputs(overflow):
    rng = np.random.default_rng({"split": 0, "truncate": 1, "drop": 2}[overflow])
    total = {a: 0 for a in pk.ALGORITHMS}
    fewer = more = 0
    for trial in range(300):
        width = int(rng.integers(2, 41))
        n_examples = int(rng.integers(0, 26))
        # Mostly fitting examples, some longer than a row (split into continuation pieces).
        lengths = [int(rng.integers(2, width + 1)) if rng.random() < 0.75
                   else int(rng.integers(width + 1, 3 * width + 3)) for _ in range(n_examples)]
        examples = [_ex(n, int(rng.integers(1, n)), seed=k) for k, n in enumerate(lengths)]
        used = {}
        for algorithm in pk.ALGORITHMS:
            rows, stats = pk.pack_rows(examples, width - 1, algorithm=algorithm, overflow=overflow)
            ref = _ref_pack(examples, width, algorithm, overflow)
            expect = _ref_arrays(examples, ref, width)
            where = f"trial {trial}: {algorithm} width {width} lengths {lengths}"
            for k in pk.ROW_KEYS:
                np.testing.assert_array_equal(rows[k], expect[k], err_msg=f"{k}, {where}")
            assert stats == _ref_stats(examples, ref, width, overflow), where
            _check_layout(rows, stats, width)
            used[algorithm] = stats.rows
            total[algorithm] += stats.rows
        fewer += used["best_fit"] < used["first_fit"]
        more += used["best_fit"] > used["first_fit"]
    # Best-fit decreasing is a heuristic: on a given input it can use a row more
    # than first fit (test_best_fit_can_lose_to_first_fit_on_one_input), but
    # over many inputs it packs tighter.
    assert total["best_fit"] < total["first_fit"]
    assert fewer > 3 * more and fewer > 30, (fewer, more)


def test_best_fit_can_lose_to_first_fit_on_one_input():
    """Pins that ``best_fit`` <= ``first_fit`` rows is not a per-input law: in
    input order 6+12+7 | 6+8+10 fill two rows of 25; longest first, 12+10 | 8+7+6
    leave 3 and 4 free, and the last 6 opens a third row."""
    examples = [_ex(n, 1, seed=k) for k, n in enumerate([6, 12, 7, 6, 8, 10])]
    _, ff = pk.pack_rows(examples, 24, algorithm="first_fit")
    _, bf = pk.pack_rows(examples, 24, algorithm="best_fit")
    assert (ff.rows, bf.rows) == (2, 3)
