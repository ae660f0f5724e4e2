"""The train step's fast paths compute what the plain maths computes.

* Attention kernels (rtt_jax/model/attention.py) agree with each other on
  packed rows with GQA: forward values and gradients to 1e-5.
* ``dense`` (a custom VJP for XLA:CPU's matmul layouts) has autodiff's gradients.
* The optimised train step's losses equal the plain step's (autodiff matmuls,
  the library attention) to 1e-5 relative over 20 steps.
* remat policies change memory, not values; a bad policy or kernel name is one
  clear error.
* MFU's peak on CPU is a measured, cached number or None, never a guess.
"""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rtt_jax.model import ModelConfig, attention as attn
from rtt_jax.model import transformer as tr
from rtt_jax.model.dense import dense


def _packed_inputs(b=2, t=24, h=4, kv=2, d=8, seed=0):
    rng = np.random.default_rng(seed)
    q = jnp.asarray(rng.normal(size=(b, t, h, d)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(b, t, kv, d)), jnp.float32)
    v = jnp.asarray(rng.normal(size=(b, t, kv, d)), jnp.float32)
    # Row 0: three segments then padding; row 1: one long segment and a short one.
    seg = np.zeros((b, t), np.int32)
    seg[0, :7], seg[0, 7:15], seg[0, 15:20] = 1, 2, 3
    seg[1, :18], seg[1, 18:] = 1, 2
    return q, k, v, tr.attention_mask(jnp.asarray(seg))


@pytest.mark.slow  # the fast tier stays under 2 minutes
@pytest.mark.parametrize("kv", [4, 2, 1])  # multi-head, grouped-query, multi-query
def test_attention_kernels_agree_forward_and_gradients(kv):
    q, k, v, mask = _packed_inputs(kv=kv)
    w = jnp.asarray(np.random.default_rng(1).normal(size=q.shape), jnp.float32)

    def loss(impl):
        return lambda q, k, v: jnp.sum(attn.attend(q, k, v, mask, impl) * w)

    ref = attn.attend(q, k, v, mask, "xla")
    out = attn.attend(q, k, v, mask, "dot_product_attention")
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    g_ref = jax.grad(loss("xla"), argnums=(0, 1, 2))(q, k, v)
    g_lib = jax.grad(loss("dot_product_attention"), argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(g_lib, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # A query never sees another segment or the future: perturbing segment 2
    # of row 0 leaves segment 1's outputs unchanged in every kernel.
    v2 = v.at[0, 7:15].add(100.0)
    for impl in ("xla", "dot_product_attention"):
        np.testing.assert_allclose(attn.attend(q, k, v2, mask, impl)[0, :7],
                                   attn.attend(q, k, v, mask, impl)[0, :7], rtol=1e-6)


@pytest.mark.skipif(jax.default_backend() != "gpu", reason="cuDNN attention needs an NVIDIA GPU; "
                    "bench/gpu_check.py runs this comparison on a lent GPU")
def test_cudnn_attention_matches_xla_on_gpu():
    q, k, v, mask = _packed_inputs(t=128, d=64)
    q, k, v = (x.astype(jnp.bfloat16) for x in (q, k, v))
    ref = attn.attend(q.astype(jnp.float32), k.astype(jnp.float32), v.astype(jnp.float32), mask, "xla")
    out = attn.attend(q, k, v, mask, "cudnn").astype(jnp.float32)
    valid = np.asarray(mask.any(-1))[..., None, None]  # padding rows are undefined
    np.testing.assert_allclose(np.where(valid, out, 0), np.where(valid, ref, 0), atol=3e-2)


def test_resolve_picks_xla_on_cpu_and_rejects_unknown_names():
    assert attn.resolve("auto", jnp.bfloat16) == ("cudnn" if jax.default_backend() == "gpu" else "xla")
    assert attn.resolve("auto", jnp.float32) == "xla"
    with pytest.raises(ValueError, match="model.attention='flash'"):
        attn.resolve("flash", jnp.float32)
    with pytest.raises(ValueError, match="model.attention"):
        ModelConfig(attention="flash")
    with pytest.raises(ValueError, match="model.remat_policy='everything'"):
        ModelConfig(remat_policy="everything")


def test_dense_has_autodiffs_gradients():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 5, 16)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(16, 24)), jnp.float32)
    c = jnp.asarray(rng.normal(size=(3, 5, 24)), jnp.float32)
    got = jax.grad(lambda x, w: jnp.sum(jnp.tanh(dense(x, w)) * c), argnums=(0, 1))(x, w)
    want = jax.grad(lambda x, w: jnp.sum(jnp.tanh(x @ w) * c), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(dense(x, w), x @ w, rtol=1e-6)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _batches(n: int) -> list[dict]:
    """The tiny curriculum's first ``n`` batches of 4 rows x 48 positions."""
    from rtt_jax.configs.base import get_config
    from in_process import pipeline_batches
    cfg = get_config("tiny")
    cfg.data.update(global_batch_size=4, seq_len=48)
    return pipeline_batches(cfg, n)


def _losses(model_cfg, steps=20):
    from rtt_jax.batch_sharding import global_batch
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.state import init_state, state_layout
    from rtt_jax.train.step import make_train_step
    rules = [("batch", ("data", "fsdp")), ("vocab", None), ("embed", None), ("heads", None),
             ("kv_heads", None), ("kv", None), ("mlp", None), ("norm", None)]
    mesh = shd.make_mesh({"data": -1}, jax.devices()[:1])
    opt = optax.adamw(3e-3, b1=0.9, b2=0.95, weight_decay=0.1)
    layout = state_layout(model_cfg, opt, mesh, rules)
    state = init_state(layout, model_cfg, opt, 0)
    step = make_train_step(layout, opt, lambda s: 3e-3)
    out = []
    for batch in _batches(steps):
        state, m = step(state, global_batch(batch, mesh))
        out.append(float(m["loss"]))
    return np.array(out)


@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_optimised_step_equals_plain_step_over_20_steps(monkeypatch):
    cfg = ModelConfig(vocab_size=384, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2)
    fast = _losses(cfg)
    # The plain maths: autodiff's matmuls and the library's attention.
    monkeypatch.setattr(tr, "dense", lambda x, w: x @ w)
    plain = _losses(ModelConfig(**{**cfg.__dict__, "attention": "dot_product_attention"}))
    assert fast[-1] < fast[0] - 0.5  # it trains: the comparison is not of constants
    np.testing.assert_allclose(fast, plain, rtol=1e-5)


@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_remat_policies_keep_the_values():
    cfg = ModelConfig(vocab_size=384, d_model=32, n_layers=2, n_heads=4)
    base = _losses(cfg, steps=3)
    for policy in ("nothing_saveable", "dots_with_no_batch_dims_saveable"):
        remat = _losses(ModelConfig(**{**cfg.__dict__, "remat": True, "remat_policy": policy}), steps=3)
        np.testing.assert_allclose(remat, base, rtol=1e-5)


def test_cpu_peak_is_measured_or_none(tmp_path, monkeypatch):
    from rtt_jax.configs.base import get_config
    from rtt_jax.train import peak_flops as pf
    monkeypatch.setenv("RTT_JAX_CACHE", str(tmp_path))
    cfg = get_config("tiny")
    assert pf.peak_flops(cfg, "cpu") is None  # never measured: MFU n/a
    assert pf.peak_flops(cfg, "gpu") == 989e12
    path = pf.save_cpu_peak(2.5e11)
    assert pf.peak_flops(cfg, "cpu") == 2.5e11
    assert json.load(open(path)) == {pf.cpu_fingerprint(): 2.5e11}
    open(path, "w").write("{not json")
    assert pf.peak_flops(cfg, "cpu") is None  # a damaged cache is ignored, not trusted
    cfg.hardware.peak_flops = 1e12
    assert pf.peak_flops(cfg, "cpu") == 1e12
