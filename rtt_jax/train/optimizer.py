"""AdamW with a warmup-then-decay schedule, global-norm clipping and a decay mask.

Schedules (``train.schedule``):

* ``cosine``: linear warmup, then cosine decay to ``min_lr_ratio`` x peak at
  the last step (the recipe's default).
* ``constant_cooldown``: linear warmup, the peak held constant, then a linear
  cooldown to ``min_lr_ratio`` x peak over the last ``cooldown_steps``
  (warmup-stable-decay). An ablation whose arms differ in *when* they see
  what (a curriculum puts its hardest data last) uses it, so that the decay is
  not part of the treatment: under cosine the last stage trains at a fraction
  of the rate the first one had.
"""
from __future__ import annotations

import jax
import optax

SCHEDULES = ("cosine", "constant_cooldown")


def learning_rate_schedule(train_cfg) -> optax.Schedule:
    steps = int(train_cfg.steps)
    warmup = min(int(train_cfg.warmup_steps), max(steps - 1, 0))
    peak = float(train_cfg.learning_rate)
    end = peak * float(train_cfg.min_lr_ratio)
    kind = train_cfg.get("schedule", "cosine")
    if kind == "constant_cooldown":
        cooldown = min(int(train_cfg.get("cooldown_steps", 0)), max(steps - warmup, 0))
        stable = steps - warmup - cooldown
        parts = [optax.linear_schedule(0.0, peak, warmup), optax.constant_schedule(peak),
                 optax.linear_schedule(peak, end, max(cooldown, 1))]
        return optax.join_schedules(parts, [warmup, warmup + stable])
    if kind != "cosine":
        raise ValueError(f"train.schedule={kind!r}: expected one of {SCHEDULES}")
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=peak, warmup_steps=warmup,
        decay_steps=max(steps, warmup + 1), end_value=end)


def weight_decay_mask(params):
    """Decay matrices (embeddings and projections), not norm scales or vectors."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(train_cfg) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(float(train_cfg.grad_clip_norm)),
        optax.adamw(
            learning_rate_schedule(train_cfg),
            b1=float(train_cfg.b1), b2=float(train_cfg.b2), eps=float(train_cfg.eps),
            weight_decay=float(train_cfg.weight_decay), mask=weight_decay_mask,
        ),
    )
