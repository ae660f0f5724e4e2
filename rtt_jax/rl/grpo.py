"""GRPO's maths: group-normalised advantages and the clipped objective.

Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath, arXiv
2402.03300, eq. 3): for each prompt, G completions o_1..o_G are sampled from
the old policy and rewarded r_1..r_G. Each completion's advantage is its
reward against its group's::

    A_i = (r_i - mean(r)) / (std(r) + eps)        (std: population, ddof 0)

(``scale=False`` keeps ``r_i - mean(r)``: Dr. GRPO, Liu et al. 2025, which
argues the std division over-weights groups that are nearly all equal). A
group whose rewards are all equal has A = 0 exactly: it teaches nothing, and
its share is logged (``zero_advantage_groups``).

Every sampled token t of completion i has the ratio
rho = pi_theta(o_it | ...) / pi_old(o_it | ...) and the per-token objective::

    min(rho * A_i, clip(rho, 1 - eps, 1 + eps) * A_i) - beta * KL_it

with the k3 estimator of the KL to the reference (initial) policy,
``KL = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1`` (Schulman 2020),
which is unbiased and never negative. The loss is its negative, averaged over
each completion's sampled tokens and then over completions (``sequence``, as
in DeepSeekMath) or over all sampled tokens at once (``token``, DAPO, Yu et
al. 2025). Prompt and padding tokens carry no loss (``mask`` is 0 there).

These are pure functions of arrays (numpy on the host for advantages, jnp
inside the jitted update for the loss), tested on known inputs.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

ADVANTAGE_EPS = 1e-6


def group_advantages(rewards, group_size: int, scale: bool = True) -> np.ndarray:
    """Advantages [P * G] of rewards [P * G] laid out group by group."""
    r = np.asarray(rewards, np.float64).reshape(-1, group_size)
    centred = r - r.mean(axis=1, keepdims=True)
    if scale:
        centred = centred / (r.std(axis=1, keepdims=True) + ADVANTAGE_EPS)
    return centred.reshape(-1).astype(np.float32)


def zero_advantage_groups(rewards, group_size: int) -> float:
    """The share of groups whose rewards are all equal (no learning signal)."""
    r = np.asarray(rewards, np.float64).reshape(-1, group_size)
    return float(np.mean(np.all(r == r[:, :1], axis=1)))


def k3_kl(logp, ref_logp):
    """Per-token k3 estimate of KL(pi_theta || pi_ref) from sampled tokens."""
    d = ref_logp - logp
    return jnp.exp(d) - d - 1.0


def grpo_loss(logp, old_logp, ref_logp, advantages, mask, *, clip_eps: float,
              kl_coef: float, length_norm: str = "sequence"):
    """(loss, aux) of completions [B, T]: ``logp`` under the policy being
    trained, ``old_logp`` under the policy that sampled, ``ref_logp`` under the
    reference, ``advantages`` [B], ``mask`` [B, T] (1 on sampled tokens).
    ``aux``: masked means of the KL, the ratio and the clipped share."""
    mask = mask.astype(jnp.float32)
    a = advantages[:, None].astype(jnp.float32)
    ratio = jnp.exp(logp - old_logp)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = jnp.minimum(ratio * a, clipped_ratio * a)
    kl = k3_kl(logp, ref_logp)
    per_token = -(surrogate - kl_coef * kl)
    tokens = mask.sum()
    if length_norm == "sequence":
        per_row = mask.sum(axis=1)
        row_loss = (per_token * mask).sum(axis=1) / jnp.maximum(per_row, 1.0)
        has = (per_row > 0).astype(jnp.float32)
        loss = (row_loss * has).sum() / jnp.maximum(has.sum(), 1.0)
    elif length_norm == "token":
        loss = (per_token * mask).sum() / jnp.maximum(tokens, 1.0)
    else:
        raise ValueError(f"length_norm={length_norm!r}: expected 'sequence' or 'token'")

    def mean(x):
        return (x * mask).sum() / jnp.maximum(tokens, 1.0)

    # Clipped: the clipped term is the smaller one, so this token has no gradient.
    is_clipped = ratio * a > clipped_ratio * a
    aux = {"kl": mean(kl), "ratio": mean(ratio), "clip_fraction": mean(is_clipped)}
    return loss, aux
