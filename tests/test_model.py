"""Model: segment-aware causal masking, packing equivalence, dtypes, annotations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rtt_jax.model import (ModelConfig, Transformer, attention_mask, matmul_param_count,
                           param_count, train_flops_per_token)

CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2)


def _model(cfg=CFG, seed=0):
    return Transformer(cfg, nnx.Rngs(params=seed))


def _jitted(cfg=CFG, seed=0):
    """The model as a jitted pure function, as the train step uses it (eager
    NNX dispatches op by op and is slow)."""
    graphdef, state = nnx.split(_model(cfg, seed))
    params = nnx.to_pure_dict(state)
    f = jax.jit(lambda p, t, pos, s: nnx.merge(graphdef, p)(t, pos, s))
    return lambda t, pos, s: f(params, t, pos, s)


def _row(tokens, segs):
    tokens = jnp.asarray([tokens], jnp.int32)
    segs = jnp.asarray([segs], jnp.int32)
    pos = np.zeros_like(np.asarray(segs))
    for s in np.unique(segs):
        idx = np.where(np.asarray(segs)[0] == s)[0]
        pos[0, idx] = np.arange(len(idx))
    return tokens, jnp.asarray(pos), segs


def test_changing_future_token_leaves_earlier_logits():
    m = _jitted()
    toks = list(np.random.default_rng(0).integers(3, 64, 12))
    t, p, s = _row(toks, [1] * 12)
    base = m(t, p, s)
    toks2 = list(toks)
    toks2[8] = (toks2[8] + 7) % 64
    out = m(*_row(toks2, [1] * 12))
    np.testing.assert_allclose(out[0, :8], base[0, :8], atol=1e-6)
    assert not np.allclose(out[0, 8:], base[0, 8:], atol=1e-4)


def test_segment_two_does_not_affect_segment_one():
    m = _jitted()
    toks = list(np.random.default_rng(1).integers(3, 64, 12))
    segs = [1] * 5 + [2] * 7
    base = m(*_row(toks, segs))
    toks2 = list(toks)
    toks2[6] = (toks2[6] + 5) % 64  # inside segment 2
    out = m(*_row(toks2, segs))
    np.testing.assert_allclose(out[0, :5], base[0, :5], atol=1e-6)
    # And segment 2 cannot see segment 1: change a segment-1 token.
    toks3 = list(toks)
    toks3[2] = (toks3[2] + 5) % 64
    out3 = m(*_row(toks3, segs))
    np.testing.assert_allclose(out3[0, 5:], base[0, 5:], atol=1e-6)


def test_packed_row_equals_segments_alone():
    m = _jitted()
    rng = np.random.default_rng(2)
    a, b, c = (list(rng.integers(3, 64, n)) for n in (5, 4, 6))
    packed = m(*_row(a + b + c, [1] * 5 + [2] * 4 + [3] * 6))[0]
    for start, toks in [(0, a), (5, b), (9, c)]:
        alone = m(*_row(toks, [1] * len(toks)))[0]
        np.testing.assert_allclose(packed[start:start + len(toks)], alone, atol=1e-5, rtol=1e-5)


def test_attention_mask_shape_and_values():
    segs = jnp.asarray([[1, 1, 2, 2, 0]])
    m = np.asarray(attention_mask(segs))[0]
    assert m.shape == (5, 5)
    assert m[1, 0] and not m[0, 1]  # causal
    assert not m[2, 1] and m[3, 2]  # block-diagonal
    # Queries as a suffix of the keys (cached decoding) see the same keys.
    sub = np.asarray(attention_mask(segs, segs[:, 3:4], jnp.asarray([3])))[0]
    np.testing.assert_array_equal(sub[0], m[3])


@pytest.mark.parametrize("tie", [True, False])
def test_logits_float32_with_bf16_compute_and_tying(tie):
    cfg = ModelConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, dtype="bfloat16",
                      tie_embeddings=tie)
    m = _jitted(cfg)
    out = m(*_row([3, 4, 5], [1, 1, 1]))
    assert out.dtype == jnp.float32 and out.shape == (1, 3, 64)
    assert hasattr(_model(cfg), "lm_head") != tie


def test_every_param_has_logical_axes_matching_rank():
    m = nnx.eval_shape(lambda: _model())
    _, state = nnx.split(m)
    specs = nnx.to_pure_dict(nnx.get_partition_spec(state))
    shapes = nnx.to_pure_dict(state)
    for spec, leaf in zip(jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec)),
                          jax.tree.leaves(shapes)):
        assert len(spec) == len(leaf.shape) and all(n is not None for n in spec), (spec, leaf.shape)


def test_gqa_kv_projection_is_smaller():
    _, state = nnx.split(_model())
    p = nnx.to_pure_dict(state)
    assert p["blocks"][0]["attn"]["wq"].shape == (32, 4, 8)
    assert p["blocks"][0]["attn"]["wk"].shape == (32, 2, 8)


def test_param_count_and_flops():
    m = _model()
    _, state = nnx.split(m)
    n = param_count(nnx.to_pure_dict(state))
    norms = CFG.d_model * (2 * CFG.n_layers + 1)
    # Tied: every parameter except norms is a matmul parameter, embedding counted once.
    assert n == matmul_param_count(CFG) + norms
    f = train_flops_per_token(CFG, 128)
    assert f == 6 * matmul_param_count(CFG) + 12 * 2 * 4 * 8 * 128


def test_bad_model_config_is_clear():
    with pytest.raises(ValueError, match="n_kv_heads=3 must divide"):
        ModelConfig(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="model.dtype"):
        ModelConfig(dtype="float8")
