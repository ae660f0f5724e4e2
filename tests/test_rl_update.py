"""The jitted GRPO update on 8 fake CPU devices, with training's state layout
and shardings: one step raises the log-probability of the rewarded sample
and lowers the others', keeps every sharding, and reports the on-policy
ratio and the KL to the reference."""
import jax
import numpy as np
import pytest

from rtt_jax.batch_sharding import global_batch
from rtt_jax.configs.base import get_config
from rtt_jax.config_validation import validate
from rtt_jax.rl.grpo import group_advantages
from rtt_jax.rl.rollouts import pack_rows
from rtt_jax.rl.spec import optimizer_config, rl_spec
from rtt_jax.rl.update import completion_mask, make_logprob_fn, make_rl_update
from rtt_jax.train.init_from import state_from_params
from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import init_state, state_layout


@pytest.fixture(scope="module")
def setup():
    c = get_config("tiny")
    c.model.update(d_model=32, n_layers=1, n_heads=2, n_kv_heads=1)
    c.train.init_from = "/unused"
    c.rl.update(prompts_per_step=2, group_size=4, seq_len=15, max_new_tokens=8,
                learning_rate=3e-3, warmup_steps=0)
    spec = validate(c)
    rl = rl_spec(c)
    mesh = run_mesh(c)
    opt_cfg = optimizer_config(c, rl)
    optimizer = make_optimizer(opt_cfg)
    layout = state_layout(spec.model, optimizer, mesh, c.axis_rules, c.seed)
    params = init_state(layout, spec.model, optimizer, 0)["params"]
    update = make_rl_update(layout, optimizer, learning_rate_schedule(opt_cfg), rl)
    return rl, layout, optimizer, params, update


def _batch(layout, rewards):
    rng = np.random.default_rng(0)
    prompts = [np.array([1, 40, 41, 42])] * 8
    completions = [rng.integers(3, 200, size=5 + i % 3) for i in range(8)]
    rows = pack_rows(prompts, completions, 16, pad_id=0)
    rows["advantages"] = group_advantages(rewards, 4)
    return global_batch(rows, layout.mesh)


def _row_logp(logprob, params, batch):
    lp = np.asarray(logprob(params, batch)) * np.asarray(completion_mask(batch))
    return lp.sum(axis=1)


def test_one_update_raises_the_rewarded_samples_log_prob(setup):
    rl, layout, optimizer, params, update = setup
    assert jax.device_count() == 8
    batch = _batch(layout, [1, 0, 0, 0, 0, 0, 1, 0])  # rows 0 and 6 rewarded
    logprob = make_logprob_fn(layout, rl.temperature)
    before = _row_logp(logprob, params, batch)
    state = state_from_params(layout, optimizer, params)
    state, metrics = update(state, params, batch)
    after = _row_logp(logprob, state["params"], batch)
    delta = after - before
    assert delta[0] > 0 and delta[6] > 0
    assert np.mean(delta[[1, 2, 3, 4, 5, 7]]) < 0
    assert int(state["step"]) == 1
    m = jax.device_get(metrics)
    assert float(m["ratio"]) == pytest.approx(1.0) and float(m["clip_fraction"]) == 0.0
    assert float(m["kl"]) == pytest.approx(0.0, abs=1e-7)  # the policy was the reference
    assert float(m["grad_norm"]) > 0
    # Training's shardings, kept through the step; the reference is untouched.
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(layout.shardings)):
        assert got.sharding.is_equivalent_to(want, got.ndim)
    np.testing.assert_array_equal(_row_logp(logprob, params, batch), before)
    # A second step from the moved policy now has a KL to the reference.
    state, metrics = update(state, params, batch)
    assert float(jax.device_get(metrics)["kl"]) > 0


def test_a_group_of_equal_rewards_leaves_the_policy_where_it_is(setup):
    rl, layout, optimizer, params, update = setup
    batch = _batch(layout, [0.5] * 8)
    state = state_from_params(layout, optimizer, params)
    state, metrics = update(state, params, batch)
    assert float(jax.device_get(metrics)["grad_norm"]) == 0.0
    for a, b in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(params)):
        # AdamW's weight decay still shrinks matrices a little; nothing else moves.
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-6)
