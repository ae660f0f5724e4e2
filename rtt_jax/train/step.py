"""The jitted train step: masked cross-entropy, gradient accumulation, AdamW.

Batches are rows of ``seq_len + 1`` tokens: the model reads tokens[:, :-1] and
predicts tokens[:, 1:]. ``loss_mask[t] = 1`` marks token t as a target. The
loss is the sum of target-token losses over *all* microbatches divided by the
total number of target tokens, so accumulation equals one large batch.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from rtt_jax.batch_sharding import batch_sharding
from rtt_jax.model.positions import train_positions
from rtt_jax.train.state import StateLayout
from rtt_jax.train import sharding as shd


def token_losses(logits, targets, mask, z_loss: float = 0.0):
    """Sums over masked tokens: (objective, cross-entropy). logits float32 [B,T,V]."""
    logits = logits.astype(jnp.float32)
    lse = jax.nn.logsumexp(logits, axis=-1)
    # A select and a sum, not take_along_axis: its gradient is a scatter-add,
    # which XLA:CPU runs as a slow serial loop; this one fuses (exact: one
    # non-zero term per row).
    vocab = jnp.arange(logits.shape[-1], dtype=targets.dtype)
    target_logit = jnp.sum(jnp.where(vocab == targets[..., None], logits, 0.0), axis=-1)
    ce = (lse - target_logit) * mask
    objective = ce.sum()
    if z_loss:
        objective = objective + z_loss * (jnp.square(lse) * mask).sum()
    return objective, ce.sum()


def target_mask(batch):
    """Targets: loss_mask on token t, and t - 1 in the same (non-pad) segment."""
    seg = batch["segment_ids"]
    same = (seg[:, 1:] == seg[:, :-1]) & (seg[:, 1:] > 0)
    return batch["loss_mask"][:, 1:].astype(jnp.float32) * same


def make_loss_fn(layout: StateLayout, z_loss: float = 0.0):
    def loss_sums(params, batch, banded: bool = False):
        model = layout.merge(params)
        logits = model(batch["tokens"][:, :-1], batch["positions"][:, :-1],
                       batch["segment_ids"][:, :-1], banded=banded)
        mask = target_mask(batch)
        objective, ce = token_losses(logits, batch["tokens"][:, 1:], mask, z_loss)
        return objective, (ce, mask.sum())
    return loss_sums


def make_train_step(layout: StateLayout, optimizer: optax.GradientTransformation,
                    schedule: Callable, microbatches: int = 1, z_loss: float = 0.0,
                    inject_nan_at_step: int = -1, seed: int = 0):
    """Returns ``step(state, batch) -> (state, metrics)``, jitted once with
    explicit shardings and the state donated.

    The RoPE ids come from ``model/positions.train_positions`` (the packer's
    for ``rope``, untouched); ``seed`` keys the random ones (``random_rope``,
    ``model.position_skip``), drawn from (seed, step, row) over the whole
    global batch before it is split into microbatches."""
    loss_sums = make_loss_fn(layout, z_loss)
    value_and_grad = jax.value_and_grad(loss_sums, has_aux=True)

    def grad_fn(params, batch):
        """Gradients with the banded attention kernel when this batch's
        segments fit its band (model.attention_block), else the full one:
        both are compiled, one runs (the same maths either way, to float
        rounding: tests/test_banded_attention.py)."""
        model = layout.merge(params)  # at trace time only
        if not model.band_applies(batch["tokens"].shape[1] - 1):
            return value_and_grad(params, batch)
        return jax.lax.cond(model.band_fits(batch["segment_ids"][:, :-1]),
                            lambda p, b: value_and_grad(p, b, banded=True),
                            lambda p, b: value_and_grad(p, b), params, batch)

    def accumulate(params, batch):
        if microbatches == 1:
            (_, (ce, n)), grads = grad_fn(params, batch)
            return grads, ce, n

        def split(x):
            if x.shape[0] % microbatches:
                raise ValueError(f"batch {x.shape[0]} not divisible by {microbatches} microbatches")
            # Row i goes to microbatch i % M, so each microbatch stays spread
            # over the batch-sharded devices instead of living on one of them.
            return x.reshape(x.shape[0] // microbatches, microbatches, *x.shape[1:]).swapaxes(0, 1)

        def body(carry, mb):
            g_acc, ce_acc, n_acc = carry
            (_, (ce, n)), g = grad_fn(params, mb)
            return (jax.tree.map(jnp.add, g_acc, g), ce_acc + ce, n_acc + n), None

        zeros = jax.tree.map(jnp.zeros_like, params)
        init = (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))
        (grads, ce, n), _ = jax.lax.scan(body, init, jax.tree.map(split, batch))
        return grads, ce, n

    def step(state, batch):
        params = state["params"]
        cfg = layout.merge(params).cfg  # trace time only
        rope_ids = train_positions(cfg, batch, seed, state["step"])
        grads, ce, n = accumulate(params, dict(batch, positions=rope_ids))
        denom = jnp.maximum(n, 1.0)
        grads = jax.tree.map(lambda g: g / denom, grads)
        loss = ce / denom
        new_step = state["step"] + 1
        if inject_nan_at_step >= 0:
            poison = jnp.where(new_step == inject_nan_at_step, jnp.nan, 1.0)
            loss = loss * poison
            grads = jax.tree.map(lambda g: g * poison, grads)
        updates, opt_state = optimizer.update(grads, state["opt_state"], params)
        params = optax.apply_updates(params, updates)
        metrics = {
            "loss": loss,
            "grad_norm": optax.tree.norm(grads),
            "learning_rate": schedule(state["step"]),
            "target_tokens": n,
            # Example starts in the batch (a packed segment begins at position 0).
            "examples": jnp.sum((batch["positions"] == 0) & (batch["segment_ids"] > 0)),
        }
        return {"params": params, "opt_state": opt_state, "step": new_step}, metrics

    batch_sh = batch_sharding(layout.mesh)
    rep = shd.replicated(layout.mesh)
    return jax.jit(step,
                   in_shardings=(layout.shardings, batch_sh),
                   out_shardings=(layout.shardings, rep),
                   donate_argnums=(0,))

