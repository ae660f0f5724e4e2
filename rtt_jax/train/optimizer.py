"""AdamW with linear warmup + cosine decay, global-norm clipping and a decay mask."""
from __future__ import annotations

import jax
import optax


def learning_rate_schedule(train_cfg) -> optax.Schedule:
    warmup = min(int(train_cfg.warmup_steps), max(int(train_cfg.steps) - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=float(train_cfg.learning_rate),
        warmup_steps=warmup,
        decay_steps=max(int(train_cfg.steps), warmup + 1),
        end_value=float(train_cfg.learning_rate) * float(train_cfg.min_lr_ratio),
    )


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
