"""model.scan_layers: the scanned model computes what the unrolled one does,
and every path that reads parameters works with both settings."""
import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rtt_jax.model import ModelConfig, Transformer, param_count
from rtt_jax.train import layer_layout

CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2, scan_layers=True)


def _loss_and_grads(cfg):
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=0)))
    params = nnx.to_pure_dict(state)
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.integers(0, 64, (2, 16)), jnp.int32)
    segments = jnp.asarray([[1] * 6 + [2] * 10, [1] * 16], jnp.int32)
    positions = jnp.asarray([list(range(6)) + list(range(10)), list(range(16))], jnp.int32)
    w = jnp.asarray(rng.normal(size=(2, 16, 64)), jnp.float32)

    def loss(p):
        return jnp.sum(nnx.merge(graphdef, p)(tokens, positions, segments) * w)
    value, grads = jax.jit(jax.value_and_grad(loss))(params)
    return params, value, grads


@pytest.mark.parametrize("remat", [False, True], ids=["plain", "remat"])
def test_scanned_model_equals_unrolled(remat):
    """Same initial parameters (stacked), loss and gradients within the
    attention-kernel tests' tolerance (rtol 1e-5, atol 1e-5); here they are
    bit-equal, but a fusion choice may differ between a loop body and an
    unrolled block."""
    p0, v0, g0 = _loss_and_grads(dataclasses.replace(CFG, scan_layers=False, remat=remat))
    p1, v1, g1 = _loss_and_grads(dataclasses.replace(CFG, scan_layers=True, remat=remat))
    assert layer_layout.scanned(p1) and not layer_layout.scanned(p0)
    for a, b in zip(jax.tree.leaves(p0), jax.tree.leaves(layer_layout.convert(p1, False))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(v1, v0, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(layer_layout.convert(g1, False))):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_stacked_params_carry_a_layers_axis_and_count_the_same():
    abstract = nnx.eval_shape(lambda: Transformer(CFG, nnx.Rngs(params=0)))
    _, state = nnx.split(abstract)
    specs = nnx.to_pure_dict(nnx.get_partition_spec(state))
    assert tuple(specs["blocks"]["attn"]["wq"]) == ("layers", "embed", "heads", "kv")
    assert nnx.to_pure_dict(state)["blocks"]["attn"]["wq"].shape == (3, 32, 4, 8)
    unrolled = nnx.eval_shape(lambda: Transformer(dataclasses.replace(CFG, scan_layers=False),
                                                  nnx.Rngs(params=0)))
    assert (param_count(nnx.to_pure_dict(state))
            == param_count(nnx.to_pure_dict(nnx.split(unrolled)[1])))


def test_layer_layout_round_trip_on_a_train_state():
    import optax
    p = nnx.to_pure_dict(nnx.split(Transformer(CFG, nnx.Rngs(params=0)))[1])
    state = {"params": p, "opt_state": optax.adamw(1e-3).init(p), "step": jnp.zeros((), jnp.int32)}
    split = layer_layout.convert(state, False)
    assert sorted(split["params"]["blocks"]) == [0, 1, 2]
    assert sorted(split["opt_state"][0].mu["blocks"]) == [0, 1, 2]
    back = layer_layout.convert(split, True)
    assert jax.tree.structure(back) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_golden_losses_and_resume_across_settings(tiny_config, tmp_path):
    """The golden losses with scan_layers on (and, to step 2, off: the default
    setting's golden test is tests/test_training.py's), and a workdir trained
    unrolled resumes scanned: the checkpoint is converted, and step 3 is the
    uninterrupted scanned run's."""
    from in_process import train_config as train
    from test_training import GOLDEN
    cfg = tiny_config
    cfg.train.steps = 3
    cfg.checkpoint.every_steps = 2

    def losses(wd):
        with open(os.path.join(wd, "metrics.jsonl")) as f:
            return [r["loss"] for r in map(json.loads, f)]
    cfg.model.scan_layers = True
    train(cfg, tmp_path / "scanned", jax.devices()[:1])
    cfg.model.scan_layers = False
    train(cfg, tmp_path / "mixed", jax.devices()[:1], stop_at_step=2)
    scanned, unrolled = losses(tmp_path / "scanned"), losses(tmp_path / "mixed")
    np.testing.assert_allclose(scanned, GOLDEN, rtol=2e-4)
    np.testing.assert_allclose(unrolled, GOLDEN[:2], rtol=2e-4)
    np.testing.assert_allclose(unrolled, scanned[:2], rtol=1e-5)
    cfg.model.scan_layers = True
    train(cfg, tmp_path / "mixed", jax.devices()[:1])  # resumes step 2, converted
    mixed = losses(tmp_path / "mixed")
    assert len(mixed) == 3
    np.testing.assert_allclose(mixed[2], scanned[2], rtol=1e-5)

    # A reader (evaluation, serving, the checkpoint teacher) under the other
    # setting: the scanned workdir's params, split per layer.
    from rtt_jax.config_validation import validate
    from rtt_jax.train.checkpoint import final_params
    cfg.model.scan_layers = False
    _, params, step = final_params(validate(cfg), str(tmp_path / "scanned"), jax.devices()[:1])
    _, stacked, _ = final_params(validate(tiny_scanned(cfg)), str(tmp_path / "scanned"),
                                 jax.devices()[:1])
    assert step == 3 and sorted(params["blocks"]) == [0, 1]
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(layer_layout.convert(stacked, False))):
        np.testing.assert_array_equal(a, b)


def test_workdir_config_lets_a_resume_change_the_layer_layout():
    """W/config.json binds a checkpoint to its model, less how the step computes:
    scan_layers (converted on restore) and the attention band (the same maths)."""
    from rtt_jax.workdir_config import bound
    diffs = [("model.attention_block", 64, 0), ("model.d_model", 128, 256),
             ("model.scan_layers", False, True)]
    assert bound(diffs) == [("model.d_model", 128, 256)]


def tiny_scanned(cfg):
    cfg = cfg.copy_and_resolve_references()
    cfg.model.scan_layers = True
    return cfg


def test_sampler_emits_the_same_tokens_with_both_settings():
    from rtt_jax.data.tokenizer import ByteTokenizer
    from rtt_jax.model.sampler import Sampler
    cfg = ModelConfig(vocab_size=259, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, init_std=0.3)
    out = []
    for scan in (False, True):
        c = dataclasses.replace(cfg, scan_layers=scan)
        graphdef, state = nnx.split(Transformer(c, nnx.Rngs(params=0)))
        s = Sampler(graphdef, nnx.to_pure_dict(state), ByteTokenizer(), c, max_len=48)
        out.append(s.generate_tokens([s.encode_prompt(t) for t in ("12+5=", "7")], 16,
                                     stop_on_eos=False))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_stacked_params_shard_over_a_mesh_with_layers_replicated():
    """The `layers` axis maps to None even under rules that predate it; the
    other axes shard as the rules say (8 CPU devices, fsdp=2 x tensor=2)."""
    import optax
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.state import init_state, state_layout
    rules = [("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"),
             ("heads", "tensor"), ("kv_heads", "tensor"), ("kv", None), ("mlp", "tensor"),
             ("norm", None)]  # no "layers" rule
    mesh = shd.make_mesh(dict(data=2, fsdp=2, tensor=2))
    layout = state_layout(CFG, optax.sgd(0.1), mesh, rules)
    spec = layout.shardings["params"]["blocks"]["attn"]["wq"].spec
    assert tuple(spec) == (None, "fsdp", "tensor", None)  # layers, embed, heads, kv
    params = init_state(layout, CFG, optax.sgd(0.1), 0)["params"]
    assert params["blocks"]["mlp"]["w_up"].sharding.spec == layout.shardings["params"]["blocks"]["mlp"]["w_up"].spec
