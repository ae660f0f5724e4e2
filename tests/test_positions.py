"""Position modes (``model.positions``): rope, random_rope, none.

For each mode: a segment's ids restart in packed rows, cached decoding equals
the full forward pass, and ``rope`` (the default) leaves the train step's
computation as it was (the golden first losses, tests/test_training.py, run
with it). Random ids are a pure function of (seed, step, row)."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rtt_jax.config_validation import ConfigError, validate
from rtt_jax.data.packing import pack_rows
from rtt_jax.data.formatting import Example
from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.model import ModelConfig, Transformer
from rtt_jax.model.positions import random_positions, step_keys, train_positions
from rtt_jax.model.sampler import Sampler, full_recompute_generate
from rtt_jax.train import sharding as shd
from rtt_jax.train.state import init_state, state_layout
from rtt_jax.train.step import make_train_step

MAX_POSITION = 96
BASE = ModelConfig(vocab_size=259, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, init_std=0.3)
MODES = {"rope": BASE, "random_rope": dataclasses.replace(BASE, positions="random_rope",
                                                          max_position=MAX_POSITION),
         "none": dataclasses.replace(BASE, positions="none")}


def _packed(lengths=(7, 12, 5, 9), seq_len=40):
    """One packed row (rows of seq_len + 1) of examples of the given lengths."""
    rng = np.random.default_rng(0)
    exs = [Example(rng.integers(3, 250, n).astype(np.int32), (np.arange(n) > 0).astype(np.int32))
           for n in lengths]
    rows, _ = pack_rows(exs, seq_len, algorithm="first_fit")
    assert rows["tokens"].shape[0] == 1
    return rows


def _segments(row_ids, segment_ids):
    return [row_ids[segment_ids == s] for s in np.unique(segment_ids) if s > 0]


def test_random_ids_are_a_sorted_subset_per_segment_and_restart():
    rows = _packed()
    pos, seg = jnp.asarray(rows["positions"]), rows["segment_ids"][0]
    firsts, lasts = [], []
    draws = jax.jit(lambda step: random_positions(step_keys(0, step, 1), pos, MAX_POSITION))
    for draw in range(40):
        ids = np.asarray(draws(draw))[0]
        for segment in _segments(ids, seg):
            assert np.all(np.diff(segment) > 0)  # strictly increasing: a sorted subset
            assert segment.min() >= 0 and segment.max() < MAX_POSITION
            firsts.append(segment[0])
            lasts.append(segment[-1])
    # Every segment starts afresh (its first id is not after the previous
    # segment's), and the draws spread over the whole range.
    assert min(firsts) < 10 and max(lasts) > MAX_POSITION - 10
    per_segment = np.asarray(firsts).reshape(40, -1)
    assert (per_segment[:, 1:] < 40).any()  # later segments also start low


def test_rope_and_none_ids_are_the_packers_own():
    pos = jnp.asarray(_packed()["positions"])
    for mode in ("rope", "none"):
        assert train_positions(mode, 0, pos, seed=0, step=3) is pos


def test_random_ids_are_a_function_of_seed_step_and_row():
    ids = jax.jit(lambda pos, seed, step: train_positions("random_rope", MAX_POSITION, pos,
                                                          seed, step))
    pos = jnp.asarray(np.tile(_packed()["positions"], (3, 1)))
    a = np.asarray(ids(pos, 1, 5))
    np.testing.assert_array_equal(a, ids(pos, 1, 5))
    assert not np.array_equal(a, ids(pos, 1, 6))
    assert not np.array_equal(a, ids(pos, 2, 5))
    assert not np.array_equal(a[0], a[1])  # rows draw their own ids
    # A row's ids do not depend on how many rows the batch has.
    np.testing.assert_array_equal(a[:2], ids(pos[:2], 1, 5))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_packed_row_equals_its_segments_alone(mode):
    cfg = MODES[mode]
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=0)))
    forward = jax.jit(lambda p, t, pos, s: nnx.merge(graphdef, p)(t, pos, s))
    params = nnx.to_pure_dict(state)
    rows = _packed()
    pos = jnp.asarray(rows["positions"])
    if mode == "random_rope":
        pos = random_positions(step_keys(0, 0, 1), pos, MAX_POSITION)
    tok, seg = jnp.asarray(rows["tokens"]), jnp.asarray(rows["segment_ids"])
    packed = np.asarray(forward(params, tok, pos, seg))[0]
    for s in range(1, int(seg.max()) + 1):
        idx = np.flatnonzero(np.asarray(seg)[0] == s)
        alone = forward(params, tok[:, idx], pos[:, idx], jnp.ones((1, len(idx)), jnp.int32))
        np.testing.assert_allclose(packed[idx], np.asarray(alone)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_cached_decoding_equals_the_full_forward_pass(mode):
    cfg = MODES[mode]
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=1)))
    sampler = Sampler(graphdef, nnx.to_pure_dict(state), ByteTokenizer(), cfg, max_len=64)
    prompts = [sampler.encode_prompt(t) for t in ("3+4-1 mod 10\n", "9", "a longer prompt")]
    kw = dict(stop_on_eos=False, stop_after_answer_line=False)
    cached = sampler.generate_tokens(prompts, 30, **kw)
    full = full_recompute_generate(sampler, prompts, 30, **kw)
    for a, b in zip(cached, full):
        np.testing.assert_array_equal(a, b)


def test_none_ignores_position_ids():
    cfg = MODES["none"]
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=0)))
    forward = jax.jit(lambda p, pos: nnx.merge(graphdef, p)(tok, pos, jnp.ones_like(tok)))
    params = nnx.to_pure_dict(state)
    tok = jnp.asarray([[5, 9, 31, 7, 100]], jnp.int32)
    a = forward(params, jnp.arange(5)[None])
    b = forward(params, jnp.asarray([[3, 17, 18, 40, 41]]))
    np.testing.assert_allclose(a, b, atol=1e-6)


RULES = [("batch", ("data", "fsdp")), ("vocab", None), ("embed", None), ("heads", None),
         ("kv_heads", None), ("kv", None), ("mlp", None), ("norm", None)]


def _train_loss(cfg, seed: int, repeats: int = 1):
    """The first step's loss of a fresh state, ``repeats`` times from scratch."""
    mesh = shd.make_mesh({"data": -1}, jax.devices()[:1])
    opt = optax.adamw(1e-3)
    layout = state_layout(cfg, opt, mesh, RULES, 0)
    step = make_train_step(layout, opt, lambda s: 1e-3, seed=seed)
    batch = {k: jnp.asarray(np.tile(v, (2, 1))) for k, v in _packed().items()}
    return [float(step(init_state(layout, cfg, opt, 0), batch)[1]["loss"])
            for _ in range(repeats)]


@pytest.mark.slow  # compiles four train steps
def test_random_rope_training_is_deterministic_and_differs_from_rope():
    first, again = _train_loss(MODES["random_rope"], seed=0, repeats=2)
    assert first == again
    assert first != _train_loss(MODES["random_rope"], seed=1)[0]
    rope = _train_loss(BASE, seed=0)[0]
    assert first != rope
    # rope ignores the seed: its step is today's computation.
    assert rope == _train_loss(BASE, seed=7)[0]


def test_bad_position_fields_are_one_line(tiny_config):
    with pytest.raises(ValueError, match="model.positions='alibi'"):
        dataclasses.replace(BASE, positions="alibi")
    with pytest.raises(ValueError, match="model.max_position=0"):
        dataclasses.replace(BASE, positions="random_rope")
    tiny_config.model.update(positions="random_rope", max_position=16)
    with pytest.raises(ConfigError, match="model.max_position"):
        validate(tiny_config)
