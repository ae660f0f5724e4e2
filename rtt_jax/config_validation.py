"""The config, checked once at the entry point, cut into the pieces the parts take.

``validate(config) -> RunSpec`` raises ``ConfigError`` on the first unusable
field, one line naming it, before any work (no file is written, no device
touched). Each part's section is checked by the part's own parser, which
returns a typed piece:

* ``model`` -> ``model.ModelConfig``;
* ``data``  -> ``data.spec.DataSpec`` (``data_spec``: sources, stages, packing);
* ``eval``  -> ``evaluation.eval_sets.EvalSpec`` (``eval_spec``: levels resolved);
* the tokenizer ``data.tokenizer`` names is built here, once per run.

The sections only the trainer reads (``train``, ``checkpoint``, ``mesh``,
``axis_rules``, ``hardware``, ``debug``) are checked here and stay in
``RunSpec.config``. Nothing downstream checks a field again.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from rtt_jax.config_error import ConfigError, require
from rtt_jax.data.spec import DataSpec, data_spec, trained_with_traces
from rtt_jax.data.tokenizer import Tokenizer, make_tokenizer
from rtt_jax.evaluation.eval_sets import EvalSpec, eval_spec
from rtt_jax.model import ModelConfig
from rtt_jax.train.optimizer import SCHEDULES

__all__ = ["ConfigError", "RunSpec", "model_config", "validate"]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A checked config: the typed pieces, the run's tokenizer, and the
    config itself for the trainer's own sections."""

    config: Any  # the ml_collections ConfigDict, checked
    model: ModelConfig
    data: DataSpec
    eval: EvalSpec
    tokenizer: Tokenizer


def model_config(config) -> ModelConfig:
    try:
        return ModelConfig(**config.model.to_dict())
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config.model: {e}") from None


def validate(config) -> RunSpec:
    """Check every field of ``config`` once; return its RunSpec."""
    t, c = config.train, config.checkpoint
    require(isinstance(config.seed, int), "seed", config.seed, "an integer")
    require(t.steps >= 1, "train.steps", t.steps, "a positive number of steps")
    require(t.learning_rate > 0, "train.learning_rate", t.learning_rate, "a positive float")
    require(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, ">= 0")
    require(0 <= t.min_lr_ratio <= 1, "train.min_lr_ratio", t.min_lr_ratio, "a ratio in [0, 1]")
    require(t.get("schedule", "cosine") in SCHEDULES, "train.schedule", t.get("schedule"),
            f"one of {SCHEDULES}")
    cooldown = t.get("cooldown_steps", 0)
    require(isinstance(cooldown, int) and 0 <= cooldown <= t.steps, "train.cooldown_steps",
            cooldown, f"an integer in [0, train.steps={t.steps}]")
    require(t.grad_clip_norm > 0, "train.grad_clip_norm", t.grad_clip_norm, "a positive float")
    require(t.microbatches >= 1, "train.microbatches", t.microbatches, ">= 1")
    require(t.log_every_steps >= 1, "train.log_every_steps", t.log_every_steps, ">= 1")
    require(t.z_loss >= 0, "train.z_loss", t.z_loss, ">= 0")
    require(isinstance(t.get("init_from", ""), str), "train.init_from", t.get("init_from"),
            "a workdir path (text) or ''")
    require(c.every_steps >= 1, "checkpoint.every_steps", c.every_steps, ">= 1")
    require(c.max_to_keep >= 1, "checkpoint.max_to_keep", c.max_to_keep, ">= 1")
    data = data_spec(config.data, config.seed)
    require(data.global_batch_size % t.microbatches == 0, "train.microbatches", t.microbatches,
            f"a divisor of data.global_batch_size={data.global_batch_size}")
    try:
        tokenizer = make_tokenizer(data.tokenizer)
    except ValueError as e:
        raise ConfigError(f"config.data.tokenizer={data.tokenizer!r}: {e}") from None
    model = model_config(config)
    require(model.vocab_size >= tokenizer.vocab_size, "model.vocab_size", model.vocab_size,
            f">= the tokenizer's {tokenizer.vocab_size}")
    evals = eval_spec(config.eval, config.seed, trace_metrics=trained_with_traces(data))
    if model.positions == "coupled":  # ids follow completion lines: the tokenizer's newline
        newline = list(tokenizer.encode("\n"))
        require(len(newline) == 1, "model.positions", model.positions,
                f"a tokenizer whose newline is one token (data.tokenizer={data.tokenizer!r})")
        model = dataclasses.replace(model, newline_id=int(newline[0]))
    if model.positions == "random_rope" or model.position_skip:  # every id met was drawn
        # Coupled decoding never counts past what the row and its lines hold.
        longest = data.seq_len + 1 if model.positions == "coupled" else \
            max(data.seq_len + 1, evals.max_len)
        what = "random_rope" if model.positions == "random_rope" else "position_skip"
        require(model.max_position >= longest, "model.max_position", model.max_position,
                f">= {longest} (data.seq_len + 1{'' if model.positions == 'coupled' else ' and eval.max_len'}) with {what}")
    gated = [k for k, st in enumerate(data.stages) if st.until is not None]
    require(not gated or evals.every_steps > 0, "eval.every_steps", evals.every_steps,
            f"> 0: data.stages[{gated[0] if gated else 0}] ends on an eval metric (until), "
            "so the run must evaluate")
    return RunSpec(config=config, model=model, data=data, eval=evals, tokenizer=tokenizer)
