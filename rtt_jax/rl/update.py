"""The jitted GRPO update, on the mesh and shardings training uses.

The state is training's (``train.state``: ``{"params", "opt_state",
"step"}`` in ``StateLayout.shardings``), so an RL workdir's checkpoints are
read by everything that reads a training run's (evaluation, serving, the
checkpoint teacher). The reference params (the initial policy, for the KL)
come in beside it with the params' shardings, never donated. A batch is rows
split over the mesh's batch axes (``batch_sharding``), as in training.

Log-probabilities are those of the *sampling* distribution, softmax(logits /
temperature), so that the ratio compares the policy with the one that
sampled; the model reads ``tokens[:, :-1]`` and token t + 1 is scored where
``completion[t + 1]`` is 1 (a sampled token). RoPE ids are decoding's
(``model.positions.decode_positions``), not training's: under ``coupled``
the completion's ids follow its lines from where the completion starts, as
the sampler fed them; ``random_rope`` and ``model.position_skip`` draw ids
in supervised training only, and the sampler counts 0, 1, 2, ... there, so
the update does too (the policy it scores is the one that sampled).

With one minibatch per rollout batch the update is on-policy: the old
log-probabilities are the current ones, held constant (``stop_gradient``),
so the ratio is exactly 1 and no extra forward pass is paid. With several,
the loop computes them once before the first update (``make_logprob_fn``)
and passes them in as ``old_logp``.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from rtt_jax.batch_sharding import batch_sharding
from rtt_jax.model.positions import decode_positions
from rtt_jax.rl.grpo import grpo_loss
from rtt_jax.rl.spec import RLSpec
from rtt_jax.train import sharding as shd
from rtt_jax.train.state import StateLayout


def sampled_logprobs(layout: StateLayout, params, batch, temperature: float):
    """log pi(token t + 1 | tokens <= t) at temperature, float32 [B, T], with
    the RoPE ids the sampler gave the row (``decode_positions``)."""
    model = layout.merge(params)
    ids = decode_positions(model.cfg, batch["tokens"], batch["positions"], batch["completion"])
    logits = model(batch["tokens"][:, :-1], ids[:, :-1],
                   batch["segment_ids"][:, :-1]).astype(jnp.float32) / temperature
    targets = batch["tokens"][:, 1:]
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return target_logit - jax.nn.logsumexp(logits, axis=-1)


def completion_mask(batch):
    """1 where the predicted token (t + 1) was sampled, [B, T]."""
    return batch["completion"][:, 1:].astype(jnp.float32)


def make_logprob_fn(layout: StateLayout, temperature: float):
    """jit((params, batch) -> log-probs [B, T]) over the mesh (old policy)."""
    batch_sh = batch_sharding(layout.mesh)
    return jax.jit(lambda p, b: sampled_logprobs(layout, p, b, temperature),
                   in_shardings=(layout.shardings["params"], batch_sh),
                   out_shardings=batch_sh)


def make_rl_update(layout: StateLayout, optimizer: optax.GradientTransformation,
                   schedule: Callable, rl: RLSpec):
    """``update(state, ref_params, batch) -> (state, metrics)``, jitted once
    with explicit shardings, the state donated. ``batch``: the rows of
    ``rollouts.pack_rows`` plus ``advantages`` [B] (and ``old_logp`` [B, T]
    when off-policy)."""

    def loss_fn(params, ref_params, batch):
        logp = sampled_logprobs(layout, params, batch, rl.temperature)
        ref = jax.lax.stop_gradient(sampled_logprobs(layout, ref_params, batch, rl.temperature))
        old = batch["old_logp"] if "old_logp" in batch else jax.lax.stop_gradient(logp)
        return grpo_loss(logp, old, ref, batch["advantages"], completion_mask(batch),
                         clip_eps=rl.clip_eps, kl_coef=rl.kl_coef, length_norm=rl.length_norm)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def update(state, ref_params, batch):
        params = state["params"]
        (loss, aux), grads = grad_fn(params, ref_params, batch)
        updates, opt_state = optimizer.update(grads, state["opt_state"], params)
        metrics = {"pg_loss": loss, "grad_norm": optax.tree.norm(grads),
                   "learning_rate": schedule(state["step"]), **aux}
        return {"params": optax.apply_updates(params, updates), "opt_state": opt_state,
                "step": state["step"] + 1}, metrics

    batch_sh = batch_sharding(layout.mesh)
    return jax.jit(update,
                   in_shardings=(layout.shardings, layout.shardings["params"], batch_sh),
                   out_shardings=(layout.shardings, shd.replicated(layout.mesh)),
                   donate_argnums=(0,))
