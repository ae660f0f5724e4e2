"""``config.rl``, checked once, as the typed piece the RL parts take.

``rl_spec(config, data)`` raises ``ConfigError`` on the first unusable field,
one line naming it (``config.rl.group_size=1: expected ...``), before any
work: no file written, no device touched. It also checks what RL needs of the
rest of the config: a ``train.init_from`` to start from, and prompts that
come from synthetic sources (a family to check the answers) in stages that
end by steps (a mastery gate needs evaluation between stages, which RL does
not run to decide anything).

``rl_spec`` does not know the mesh; ``check_mesh`` (called once the mesh
exists) checks that a minibatch of rows splits over the batch shards.
"""
from __future__ import annotations

import dataclasses

import ml_collections

from rtt_jax.config_error import ConfigError, require

REWARDS = ("outcome", "process", "mix")
LENGTH_NORMS = ("sequence", "token")


@dataclasses.dataclass(frozen=True)
class RLSpec:
    steps: int
    prompts_per_step: int
    group_size: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seq_len: int  # resolved: an update row holds seq_len + 1 tokens
    reward: str
    steps_weight: float  # the weight of the valid-step share (resolved from reward)
    format_penalty: float
    clip_eps: float
    kl_coef: float
    length_norm: str
    scale_advantages: bool
    minibatches: int
    learning_rate: float
    warmup_steps: int
    min_lr_ratio: float
    init_from: str

    @property
    def rows(self) -> int:
        """Completions per iteration."""
        return self.prompts_per_step * self.group_size

    @property
    def rows_per_minibatch(self) -> int:
        return self.rows // self.minibatches

    @property
    def optimizer_steps(self) -> int:
        return self.steps * self.minibatches


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def rl_spec(config) -> RLSpec:
    """``config.rl`` (and what RL needs of ``data`` and ``train``) checked."""
    if "rl" not in config:
        raise ConfigError("config.rl: missing; the base config defines it (configs/base.py)")
    r = config.rl
    f = "rl."
    require(_int(r.steps) and r.steps >= 1, f + "steps", r.steps, "a positive number of iterations")
    require(_int(r.prompts_per_step) and r.prompts_per_step >= 1, f + "prompts_per_step",
            r.prompts_per_step, "a positive integer")
    require(_int(r.group_size) and r.group_size >= 2, f + "group_size", r.group_size,
            "an integer >= 2 (advantages compare samples of one prompt)")
    require(_number(r.temperature) and r.temperature > 0, f + "temperature", r.temperature,
            "> 0 (greedy samples of one prompt are all the same)")
    require(_number(r.top_p) and 0 < r.top_p <= 1, f + "top_p", r.top_p, "in (0, 1]")
    require(_int(r.max_new_tokens) and r.max_new_tokens >= 1, f + "max_new_tokens",
            r.max_new_tokens, "a positive integer")
    seq_len = r.seq_len or config.data.seq_len
    require(_int(r.seq_len) and r.seq_len >= 0, f + "seq_len", r.seq_len,
            "an integer >= 0 (0: data.seq_len)")
    require(seq_len > r.max_new_tokens, f + "seq_len", seq_len,
            f"> rl.max_new_tokens={r.max_new_tokens} (a row holds the prompt too)")
    require(r.reward in REWARDS, f + "reward", r.reward, f"one of {REWARDS}")
    require(_number(r.steps_weight) and r.steps_weight >= 0, f + "steps_weight",
            r.steps_weight, "a number >= 0")
    require(_number(r.format_penalty) and r.format_penalty >= 0, f + "format_penalty",
            r.format_penalty, "a number >= 0")
    require(_number(r.clip_eps) and 0 < r.clip_eps < 1, f + "clip_eps", r.clip_eps, "in (0, 1)")
    require(_number(r.kl_coef) and r.kl_coef >= 0, f + "kl_coef", r.kl_coef, "a number >= 0")
    require(r.length_norm in LENGTH_NORMS, f + "length_norm", r.length_norm,
            f"one of {LENGTH_NORMS}")
    require(isinstance(r.scale_advantages, bool), f + "scale_advantages", r.scale_advantages,
            "True or False")
    require(_int(r.minibatches) and r.minibatches >= 1, f + "minibatches", r.minibatches,
            ">= 1")
    rows = r.prompts_per_step * r.group_size
    require(rows % r.minibatches == 0, f + "minibatches", r.minibatches,
            f"a divisor of rl.prompts_per_step x rl.group_size = {rows}")
    require(_number(r.learning_rate) and r.learning_rate > 0, f + "learning_rate",
            r.learning_rate, "a positive float")
    require(_int(r.warmup_steps) and r.warmup_steps >= 0, f + "warmup_steps", r.warmup_steps,
            ">= 0")
    require(_number(r.min_lr_ratio) and 0 <= r.min_lr_ratio <= 1, f + "min_lr_ratio",
            r.min_lr_ratio, "a ratio in [0, 1]")
    init_from = config.train.get("init_from", "")
    require(bool(init_from), "train.init_from", init_from,
            "the workdir of the run to start from (--init_from=SFT_WORKDIR)")
    _check_prompt_sources(config.data)
    weight = {"outcome": 0.0, "process": 1.0, "mix": float(r.steps_weight)}[r.reward]
    return RLSpec(steps=r.steps, prompts_per_step=r.prompts_per_step, group_size=r.group_size,
                  temperature=float(r.temperature), top_p=float(r.top_p),
                  max_new_tokens=r.max_new_tokens, seq_len=seq_len, reward=r.reward,
                  steps_weight=weight, format_penalty=float(r.format_penalty),
                  clip_eps=float(r.clip_eps), kl_coef=float(r.kl_coef),
                  length_norm=r.length_norm, scale_advantages=r.scale_advantages,
                  minibatches=r.minibatches, learning_rate=float(r.learning_rate),
                  warmup_steps=r.warmup_steps, min_lr_ratio=float(r.min_lr_ratio),
                  init_from=str(init_from))


def _check_prompt_sources(d) -> None:
    for k, stage in enumerate(d.stages):
        where = f"data.stages[{k}]"
        require(not stage.get("until"), where + ".until", stage.get("until"),
                "no mastery gate in an RL run (its stages end by steps: rl iterations)")
        for name, weight in dict(stage["mixture"]).items():
            if weight <= 0:
                continue
            src = d.sources.get(name) if hasattr(d.sources, "get") else None
            kind = src.get("kind") if src is not None else None
            require(kind == "synthetic", f"data.sources.{name}.kind", kind,
                    "'synthetic' in an RL run (prompts need a task family whose checkers "
                    "score the completions)")


def check_mesh(rl: RLSpec, batch_shards: int, processes: int) -> None:
    """A minibatch's rows must split over the mesh's batch shards, and the
    prompts over the processes (each samples its own groups)."""
    require(rl.rows_per_minibatch % batch_shards == 0, "rl.prompts_per_step",
            rl.prompts_per_step, f"prompts_per_step x group_size / minibatches = "
            f"{rl.rows_per_minibatch} rows divisible by the mesh's {batch_shards} batch shards")
    require(rl.prompts_per_step % processes == 0, "rl.prompts_per_step", rl.prompts_per_step,
            f"divisible by the {processes} processes (each samples its own prompts)")


def optimizer_config(config, rl: RLSpec) -> ml_collections.ConfigDict:
    """``config.train`` with RL's schedule: what ``train.optimizer`` builds
    AdamW from (betas, weight decay and clipping stay train's)."""
    t = ml_collections.ConfigDict(config.train.to_dict())
    t.update(steps=rl.optimizer_steps, learning_rate=rl.learning_rate,
             warmup_steps=rl.warmup_steps, min_lr_ratio=rl.min_lr_ratio)
    return t
