"""Semantic checks on a loaded config: one clear line naming the field."""
from __future__ import annotations

from rtt_jax.model import ModelConfig


class ConfigError(ValueError):
    pass


def _require(ok: bool, field: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config.{field}={value!r}: expected {expected}")


def model_config(config) -> ModelConfig:
    try:
        return ModelConfig(**config.model.to_dict())
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config.model: {e}") from None


def validate(config) -> ModelConfig:
    """Raise ConfigError on the first unusable field; return the ModelConfig."""
    t, d, c = config.train, config.data, config.checkpoint
    _require(isinstance(config.seed, int), "seed", config.seed, "an integer")
    _require(t.steps >= 1, "train.steps", t.steps, "a positive number of steps")
    _require(t.learning_rate > 0, "train.learning_rate", t.learning_rate, "a positive float")
    _require(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, ">= 0")
    _require(0 <= t.min_lr_ratio <= 1, "train.min_lr_ratio", t.min_lr_ratio, "a ratio in [0, 1]")
    _require(t.grad_clip_norm > 0, "train.grad_clip_norm", t.grad_clip_norm, "a positive float")
    _require(t.microbatches >= 1, "train.microbatches", t.microbatches, ">= 1")
    _require(t.log_every_steps >= 1, "train.log_every_steps", t.log_every_steps, ">= 1")
    _require(t.z_loss >= 0, "train.z_loss", t.z_loss, ">= 0")
    _require(d.seq_len >= 8, "data.seq_len", d.seq_len, ">= 8")
    _require(d.global_batch_size >= 1, "data.global_batch_size", d.global_batch_size, ">= 1")
    _require(d.global_batch_size % t.microbatches == 0, "train.microbatches", t.microbatches,
             f"a divisor of data.global_batch_size={d.global_batch_size}")
    _require(c.every_steps >= 1, "checkpoint.every_steps", c.every_steps, ">= 1")
    _require(c.max_to_keep >= 1, "checkpoint.max_to_keep", c.max_to_keep, ">= 1")
    _require(d.kind == "builtin_addition", "data.kind", d.kind, "'builtin_addition'")
    _require(1 <= d.min_digits <= d.max_digits <= 20, "data.max_digits", d.max_digits,
             f"min_digits <= max_digits <= 20 (min_digits={d.min_digits})")
    from rtt_jax.data.tokenizer import ByteTokenizer
    mc = model_config(config)
    _require(mc.vocab_size >= ByteTokenizer.vocab_size, "model.vocab_size", mc.vocab_size,
             f">= the tokenizer's {ByteTokenizer.vocab_size}")
    return mc
