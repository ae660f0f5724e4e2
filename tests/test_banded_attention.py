"""The banded attention kernel for packed rows of short segments, and the
train step's choice between it and the full kernel."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rtt_jax.model import ModelConfig, attention_mask
from rtt_jax.model import attention as attn


def _segments(rng, b, t, longest, pad):
    rows = []
    for _ in range(b):
        row, sid = [], 1
        while len(row) < t - pad:
            row += [sid] * int(rng.integers(2, longest + 1))
            sid += 1
        rows.append(row[:t - pad] + [0] * pad)
    return jnp.asarray(rows, jnp.int32)


@pytest.mark.parametrize("block,window", [(16, 2), (8, 3)])
def test_banded_equals_full_kernel_when_the_band_holds_every_segment(block, window):
    """Forward and gradients within the kernel tests' tolerance (1e-5), GQA,
    segments up to 9 tokens, a run of 12 padding tokens at the end."""
    rng = np.random.default_rng(0)
    b, t, h, kv, d = 3, 64, 4, 2, 8
    seg = _segments(rng, b, t, longest=9, pad=12)
    mask = attention_mask(seg)
    assert bool(attn.band_fits(mask, block, window))
    q = jnp.asarray(rng.normal(size=(b, t, h, d)), jnp.float32)
    k, v = (jnp.asarray(rng.normal(size=(b, t, kv, d)), jnp.float32) for _ in range(2))
    w = jnp.asarray(rng.normal(size=(b, t, h, d)), jnp.float32)
    band = attn.band_mask(seg, block, window)
    full = lambda q, k, v: jnp.sum(attn.head_major(q, k, v, mask) * w)  # noqa: E731
    banded = lambda q, k, v: jnp.sum(attn.attend(q, k, v, band) * w)  # noqa: E731
    np.testing.assert_allclose(jax.jit(attn.attend)(q, k, v, band),
                               jax.jit(attn.head_major)(q, k, v, mask), rtol=1e-5, atol=1e-5)
    grads = [jax.jit(jax.grad(f, (0, 1, 2)))(q, k, v) for f in (banded, full)]
    for a, g in zip(*grads):
        np.testing.assert_allclose(a, g, rtol=1e-5, atol=1e-5)


def test_band_fits_only_when_no_visible_pair_lies_outside_it():
    seg = jnp.asarray([[1] * 20 + [2] * 12], jnp.int32)  # a 20-token segment
    mask = attention_mask(seg)
    assert bool(attn.band_fits(mask, 16, 2))  # 20 <= 16 + (row % 16) + 1 at every row
    assert not bool(attn.band_fits(mask, 8, 2))  # row 19 sees row 0, 2 blocks back
    assert bool(attn.band_fits(mask, 8, 3))


def test_padding_sees_only_itself():
    m = np.asarray(attention_mask(jnp.asarray([[1, 1, 0, 0, 0]])))[0]
    np.testing.assert_array_equal(m[2:, 2:], np.eye(3, dtype=bool))
    assert not m[2:, :2].any() and not m[:2, 2:].any()


@pytest.mark.slow  # two train steps compiled, each with both kernels
def test_train_step_uses_the_band_when_it_fits_and_computes_the_same():
    """Losses and updated params with the band on (block 16) equal the full
    kernel's on a batch whose segments fit and on one whose do not."""
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.state import init_state, state_layout
    from rtt_jax.train.step import make_train_step
    rng = np.random.default_rng(1)
    t = 64
    fits = _segments(rng, 4, t + 1, longest=10, pad=5)
    long = jnp.asarray(np.repeat([[1] * 40 + [2] * 25], 4, axis=0), jnp.int32)  # 40 > band
    assert bool(attn.band_fits(attention_mask(fits[:, :-1]), 16, 2))
    assert not bool(attn.band_fits(attention_mask(long[:, :-1]), 16, 2))
    base = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                       attention="xla", attention_block=0)
    batches = []
    for seg in (fits, long):
        pos = np.zeros(seg.shape, np.int32)
        for r in range(seg.shape[0]):
            for i in range(1, t + 1):
                pos[r, i] = pos[r, i - 1] + 1 if seg[r, i] == seg[r, i - 1] else 0
        batches.append({"tokens": jnp.asarray(rng.integers(1, 64, seg.shape), jnp.int32),
                        "segment_ids": seg, "positions": jnp.asarray(pos),
                        "loss_mask": jnp.ones(seg.shape, jnp.int32)})
    mesh = shd.make_mesh({"data": -1}, jax.devices()[:1])
    opt = optax.adamw(1e-2)
    results = {}
    for block in (0, 16):
        cfg = dataclasses.replace(base, attention_block=block)
        layout = state_layout(cfg, opt, mesh, [("batch", "data")] + [
            (n, None) for n in ("vocab", "embed", "heads", "kv_heads", "kv", "mlp", "norm")])
        step = make_train_step(layout, opt, lambda s: 1e-2)
        state = init_state(layout, cfg, opt, 0)
        losses = []
        for batch in batches:
            state, metrics = step(state, batch)
            losses.append(float(metrics["loss"]))
        results[block] = (losses, jax.device_get(state["params"]))
    np.testing.assert_allclose(results[16][0], results[0][0], rtol=1e-6)
    # Adam divides by sqrt(v): float noise in tiny gradients shows at ~1e-6
    # (the tolerance of test_training's accumulation test).
    for a, b in zip(jax.tree.leaves(results[16][1]), jax.tree.leaves(results[0][1])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_cross_entropy_by_select_equals_the_gather():
    from rtt_jax.train.step import token_losses
    rng = np.random.default_rng(2)
    logits = jnp.asarray(rng.normal(size=(2, 5, 11)), jnp.float32)
    targets = jnp.asarray(rng.integers(0, 11, (2, 5)), jnp.int32)
    mask = jnp.ones((2, 5))
    _, ce = token_losses(logits, targets, mask)
    lse = jax.nn.logsumexp(logits, -1)
    gathered = lse - jnp.take_along_axis(logits, targets[..., None], -1)[..., 0]
    np.testing.assert_array_equal(ce, jnp.sum(gathered))


# ---- the whole model: banded against full attention, logits and loss gradients ----

def _layout_row(lengths, width):
    """Segment ids of one row from segment lengths (0 = a run of padding of
    that many tokens... given as -n), padded at the end to ``width``."""
    row, sid = [], 1
    for n in lengths:
        if n < 0:
            row += [0] * -n
        else:
            row += [sid] * n
            sid += 1
    assert len(row) <= width, lengths
    return row + [0] * (width - len(row))


def _reference_fits(row, block, window) -> bool:
    """The band holds a row iff every segment's first token is within the
    window of its last one: first >= (last // block - (window - 1)) * block
    (intervals, not the mask band_fits reads)."""
    row = np.asarray(row)
    for sid in set(row.tolist()) - {0}:
        where = np.flatnonzero(row == sid)
        if where[0] < (where[-1] // block - (window - 1)) * block:
            return False
    return True


def _batch(segment_ids, rng, vocab):
    """A packed batch over ``segment_ids`` [R, T + 1] as the packer writes it:
    positions restart at each segment, padding has token 0 and no target."""
    seg = np.asarray(segment_ids, np.int32)
    pos = np.zeros_like(seg)
    for r in range(seg.shape[0]):
        for i in range(1, seg.shape[1]):
            pos[r, i] = pos[r, i - 1] + 1 if seg[r, i] == seg[r, i - 1] and seg[r, i] else 0
    tokens = np.where(seg > 0, rng.integers(1, vocab, seg.shape), 0)
    return {"tokens": jnp.asarray(tokens, jnp.int32), "segment_ids": jnp.asarray(seg),
            "positions": jnp.asarray(pos), "loss_mask": jnp.asarray(seg > 0, jnp.int32)}


def _model(block, window, seed=0):
    from flax import nnx
    from rtt_jax.model import Transformer
    cfg = ModelConfig(vocab_size=32, d_model=16, n_layers=2, n_heads=4, n_kv_heads=2,
                      attention="xla", dtype="float32", attention_block=block,
                      attention_window_blocks=window)
    # A larger init than the default 0.02, so attention is far from uniform
    # and a key missing from (or wrongly in) a query's band shows in logits.
    return Transformer(dataclasses.replace(cfg, init_std=0.5), nnx.Rngs(params=seed))


def _assert_close(actual, desired, what="", floor=1.0):
    """Within 1e-5 of max(floor, desired's largest magnitude): float32
    rounding of sums taken in another order. A key seen or missed moves
    logits by 1e-3 and more at this init. Gradients pass floor=0: each is
    judged against its own leaf's scale."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    gap = float(np.abs(actual - desired).max())
    assert gap <= 1e-5 * max(floor, float(np.abs(desired).max())), (what, gap)


def _logits(model, batch, banded):
    """Whole-model float32 logits [R, T, vocab], jitted."""
    from flax import nnx
    graphdef, params = nnx.split(model)

    @jax.jit
    def run(params, batch):
        return nnx.merge(graphdef, params)(batch["tokens"][:, :-1], batch["positions"][:, :-1],
                                           batch["segment_ids"][:, :-1], banded=banded)
    return np.asarray(run(params, batch))


def _logits_and_grads(model, batch, banded):
    """Whole-model float32 logits and the gradient of the train step's loss
    (its target mask and cross-entropy, mean over targets) by parameter."""
    from flax import nnx
    from rtt_jax.train.step import target_mask, token_losses
    graphdef, params = nnx.split(model)

    @jax.jit
    def run(params, batch):
        def loss(params):
            m = nnx.merge(graphdef, params)
            logits = m(batch["tokens"][:, :-1], batch["positions"][:, :-1],
                       batch["segment_ids"][:, :-1], banded=banded)
            mask = target_mask(batch)
            objective, _ = token_losses(logits, batch["tokens"][:, 1:], mask)
            return objective / jnp.maximum(mask.sum(), 1.0), logits
        return jax.grad(loss, has_aux=True)(params)
    grads, logits = run(params, batch)
    return np.asarray(logits), jax.tree.leaves(grads)


# Rows of T = 64 tokens (4 blocks of 16, window 2 blocks = 32 keys); a
# negative length is a run of padding. Each row names the case it covers.
LAYOUTS = {
    "straddles a block edge": [10, 16, 16, 12, -10],
    "block length, aligned": [16, 16, 16, 16],
    "block length, misaligned": [3, 16, 16, 16, -13],
    "block + 1 (the longest that always fits)": [15, 17, 17, 15],
    "window length, aligned": [32, 32],
    "window length, misaligned": [1, 32, 31],
    "window + 1": [33, 31],
    "a run of padding mid-row": [10, -6, 20, -28],
    "padding only": [-64],
    "one segment, the whole row": [64],
    "ends one token into the next block": [17, 16, 31],
    "a 1-token segment at each block edge": [15, 1, 15, 1, 15, 1, 16],
}


@pytest.mark.parametrize("block,window", [(16, 2), (8, 3)])
def test_whole_model_banded_equals_full_exactly_where_the_band_fits(block, window):
    """Per row of every layout: band_fits agrees with the interval reference;
    where it fits, banded logits equal full attention's (1e-5), and where it
    does not, they differ (the check is neither too loose nor too strict)."""
    rng = np.random.default_rng(3)
    t = 64
    rows = [_layout_row(lengths, t + 1) for lengths in LAYOUTS.values()]
    batch = _batch(rows, rng, 32)
    model = _model(block, window)
    seg = batch["segment_ids"][:, :-1]
    full = _logits(model, batch, banded=False)
    band = _logits(model, batch, banded=True)
    fit_count = 0
    for r, name in enumerate(LAYOUTS):
        fits = bool(model.band_fits(seg[r:r + 1]))
        assert fits == _reference_fits(np.asarray(seg[r]), block, window), name
        gap = np.abs(band[r] - full[r]).max()
        if fits:
            fit_count += 1
            _assert_close(band[r], full[r], name)
        else:
            assert gap > 1e-3, (name, gap)
    assert 0 < fit_count < len(LAYOUTS)
    assert not bool(model.band_fits(seg))  # one row outside the band: the batch falls back


@pytest.mark.parametrize("block,window", [(16, 2), (8, 3)])
def test_whole_model_loss_gradient_banded_equals_full(block, window):
    """The loss gradient of every parameter over the layouts the band holds."""
    rng = np.random.default_rng(4)
    t = 64
    rows = [_layout_row(lengths, t + 1) for lengths in LAYOUTS.values()]
    rows = [r for r in rows if _reference_fits(r[:t], block, window)]
    batch = _batch(rows, rng, 32)
    model = _model(block, window, seed=1)
    assert bool(model.band_fits(batch["segment_ids"][:, :-1]))
    full_logits, full = _logits_and_grads(model, batch, banded=False)
    band_logits, band = _logits_and_grads(model, batch, banded=True)
    _assert_close(band_logits, full_logits, "logits")
    for a, g in zip(band, full):
        _assert_close(a, g, "gradient", floor=0.0)


def _packed_rows(lo, hi, count, seed):
    """Rows of 256 as the data pipeline packs them (best_fit, split):
    ``count`` examples of ``lo``..``hi`` tokens, targets after a prompt."""
    from rtt_jax.data.formatting import Example
    from rtt_jax.data.packing import pack_rows
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        n = int(rng.integers(lo, hi + 1))
        mask = (np.arange(n) >= n // 3).astype(np.int32)
        examples.append(Example(rng.integers(1, 32, n).astype(np.int32), mask))
    rows, _ = pack_rows(examples, 256, algorithm="best_fit")
    return rows


def test_whole_model_on_the_packers_rows():
    """Block 64, window 2, rows of 256 from best_fit: examples of 20-200
    tokens (most rows hold one longer than the band) and of 20-65 tokens
    (always within it). Rows the band holds give the full kernel's logits;
    the others are rejected; a batch of held rows gives its gradients."""
    rng = np.random.default_rng(5)
    model = _model(64, 2, seed=2)
    wide = _packed_rows(20, 200, 24, seed=0)
    short = _packed_rows(20, 65, 24, seed=1)
    seg = np.concatenate([wide["segment_ids"], short["segment_ids"]])
    batch = {k: jnp.asarray(np.concatenate([wide[k], short[k]])) for k in wide}
    batch["tokens"] = _batch(seg, rng, 32)["tokens"]
    full = _logits(model, batch, banded=False)
    band = _logits(model, batch, banded=True)
    fits = np.asarray([bool(model.band_fits(batch["segment_ids"][r:r + 1, :-1]))
                       for r in range(seg.shape[0])])
    reference = [_reference_fits(row[:-1], 64, 2) for row in seg]
    np.testing.assert_array_equal(fits, reference)
    assert fits[len(wide["segment_ids"]):].all() and not fits.all()
    gaps = np.abs(band - full).max(axis=(1, 2))
    for r in np.flatnonzero(fits):
        _assert_close(band[r], full[r], f"row {r}")
    assert (gaps[~fits] > 1e-3).all(), gaps[~fits]
    held = {k: v[np.flatnonzero(fits)] for k, v in batch.items()}
    full_logits, full_grads = _logits_and_grads(model, held, banded=False)
    band_logits, band_grads = _logits_and_grads(model, held, banded=True)
    _assert_close(band_logits, full_logits, "logits")
    for a, g in zip(band_grads, full_grads):
        _assert_close(a, g, "gradient", floor=0.0)
