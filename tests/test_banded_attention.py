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
