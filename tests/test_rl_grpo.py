"""GRPO's maths on known inputs: advantages (a group of equal rewards
included), the clipped objective, the k3 KL, both length normalisations, and
the gradient's sign."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtt_jax.rl.grpo import (ADVANTAGE_EPS, group_advantages, grpo_loss, k3_kl,
                             zero_advantage_groups)


def test_advantages_normalise_within_each_group():
    # Group 1: rewards 1, 0, 0, 1 -> mean 0.5, std 0.5 -> +-1. Group 2: all 0.7.
    a = group_advantages([1, 0, 0, 1, 0.7, 0.7, 0.7, 0.7], group_size=4)
    scale = 0.5 / (0.5 + ADVANTAGE_EPS)
    np.testing.assert_allclose(a[:4], [scale, -scale, -scale, scale], rtol=1e-6)
    assert np.all(a[4:] == 0.0)  # equal rewards teach nothing, exactly
    assert a.dtype == np.float32
    # Unscaled (Dr. GRPO): centred only.
    np.testing.assert_allclose(group_advantages([2, 0, 1, 1], 2, scale=False), [1, -1, 0, 0])
    # Three in a group: 3, 0, 0 -> mean 1, std sqrt(2).
    np.testing.assert_allclose(group_advantages([3, 0, 0], 3),
                               np.array([2, -1, -1]) / (math.sqrt(2) + ADVANTAGE_EPS), rtol=1e-6)


def test_zero_advantage_groups_counts_groups_of_equal_rewards():
    assert zero_advantage_groups([1, 1, 0, 1, 0, 0, 2, 2], 2) == 0.75


def test_k3_kl_known_values():
    assert float(k3_kl(jnp.float32(-1.0), jnp.float32(-1.0))) == 0.0
    # pi_ref / pi = 2: 2 - log 2 - 1; and it is never negative.
    got = float(k3_kl(jnp.float32(math.log(0.25)), jnp.float32(math.log(0.5))))
    assert got == pytest.approx(1.0 - math.log(2.0), rel=1e-6)
    assert float(k3_kl(jnp.float32(0.0), jnp.float32(-3.0))) > 0


def _loss(logp, old, adv, mask, **kw):
    ref = kw.pop("ref", logp)
    return grpo_loss(jnp.asarray(logp, jnp.float32), jnp.asarray(old, jnp.float32),
                     jnp.asarray(ref, jnp.float32), jnp.asarray(adv, jnp.float32),
                     jnp.asarray(mask, jnp.float32), **({"clip_eps": 0.2, "kl_coef": 0.0} | kw))


def test_clipped_objective_on_known_ratios():
    # Row 0, A = +1: ratios 1.5 (clipped to 1.2) and 1.1 (kept); row 1, A = -1:
    # ratio 0.5 (clipped to 0.8: the min takes -0.8) and 1.0; a padding token
    # with a huge ratio that the mask drops.
    lr = np.log
    logp = [[lr(1.5), lr(1.1), 50.0], [lr(0.5), 0.0, 0.0]]
    old = np.zeros((2, 3))
    mask = [[1, 1, 0], [1, 1, 0]]
    loss, aux = _loss(logp, old, [1.0, -1.0], mask)
    row0 = -(1.2 + 1.1) / 2
    row1 = -(-0.8 + -1.0) / 2
    assert float(loss) == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert float(aux["clip_fraction"]) == pytest.approx(2 / 4)
    # Token normalisation: one mean over the 4 sampled tokens.
    loss_t, _ = _loss(logp, old, [1.0, -1.0], mask, length_norm="token")
    assert float(loss_t) == pytest.approx(-(1.2 + 1.1 - 0.8 - 1.0) / 4, rel=1e-6)
    # Sequence normalisation weighs rows equally whatever their length.
    loss_s, _ = _loss([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], old, [1.0, -1.0],
                      [[1, 1, 1], [1, 0, 0]])
    assert float(loss_s) == pytest.approx(0.0, abs=1e-7)
    loss_t2, _ = _loss([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], old, [1.0, -1.0],
                       [[1, 1, 1], [1, 0, 0]], length_norm="token")
    assert float(loss_t2) == pytest.approx(-(3 - 1) / 4, rel=1e-6)


def test_equal_rewards_give_no_loss_and_no_gradient_but_the_kl():
    adv = group_advantages([0.3, 0.3, 0.3, 0.3], 4)
    logp = jnp.full((4, 5), -1.2)
    mask = jnp.ones((4, 5))
    grad = jax.grad(lambda lp: _loss(lp, jax.lax.stop_gradient(lp), adv, mask)[0])(logp)
    assert float(jnp.abs(grad).max()) == 0.0
    # With a KL term the gradient pulls towards the reference only.
    ref = jnp.full((4, 5), -1.0)
    loss, aux = _loss(logp, logp, adv, mask, ref=ref, kl_coef=0.1)
    kl = float(k3_kl(jnp.float32(-1.2), jnp.float32(-1.0)))
    assert float(aux["kl"]) == pytest.approx(kl, rel=1e-5)
    assert float(loss) == pytest.approx(0.1 * kl, rel=1e-5)


def test_raising_a_rewarded_samples_log_prob_lowers_the_loss():
    adv = jnp.asarray(group_advantages([1.0, 0.0], 2))  # row 0 rewarded
    mask = jnp.ones((2, 3))

    def loss_at(logp):
        return _loss(logp, jax.lax.stop_gradient(logp), adv, mask)[0]

    logp = jnp.full((2, 3), -2.0)
    g = jax.grad(loss_at)(logp)
    assert bool(jnp.all(g[0] < 0)) and bool(jnp.all(g[1] > 0))
    # And as a difference: the loss against the sampling policy falls when the
    # rewarded row's tokens get likelier (inside the clip range).
    old = logp
    before = float(_loss(logp, old, adv, mask)[0])
    after = float(_loss(logp.at[0].add(0.1), old, adv, mask)[0])
    assert after < before
    # Past the clip range there is no more gain (and no gradient).
    far = logp.at[0].add(1.0)
    assert float(jnp.abs(jax.grad(lambda lp: _loss(lp, old, adv, mask)[0])(far)[0]).max()) == 0
