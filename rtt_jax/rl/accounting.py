"""FLOPs of an RL run, so that it can be compared with training at equal compute.

An iteration pays for three things (``iteration_flops``):

* sampling: a forward pass per token of every row, prompt and completion;
  counted as if every row used its whole ``seq_len + 1`` tokens (the
  sampler's fixed-shape programs prefill a padded bucket and decode until
  the last row of a batch stops, and ``max_new_tokens`` bounds that), with
  attention over the whole KV cache of ``seq_len + 1`` slots;
* the update: forward and backward over every row of ``seq_len`` positions
  (``model.train_flops_per_token``, PaLM's convention);
* the reference policy's forward over the same rows (the KL, always
  computed and logged), and the old policy's when ``rl.minibatches > 1``.

This is an upper bound on the work done, decided before the run from the
config alone, so an experiment can give a supervised arm the same budget up
front (``configs/experiments/rl_after_sft.py``); it errs in the supervised
arm's favour (RL's completions usually stop well before ``max_new_tokens``).
The loop also logs the tokens actually sampled.
"""
from __future__ import annotations

from rtt_jax.model import train_flops_per_token
from rtt_jax.model.accounting import matmul_param_count


def forward_flops_per_token(model_cfg, context: int) -> float:
    """One forward token: 2 FLOPs per matmul parameter, plus the attention
    scores and weighted sum over ``context`` positions (a third of
    ``train_flops_per_token``'s terms)."""
    attn = 4 * model_cfg.n_layers * model_cfg.n_heads * model_cfg.head_dim_resolved * context
    return 2.0 * matmul_param_count(model_cfg) + attn


def iteration_flops(model_cfg, rows: int, seq_len: int, minibatches: int = 1) -> float:
    """Planned FLOPs of one rollout-and-update iteration (module doc)."""
    sampling = rows * (seq_len + 1) * forward_flops_per_token(model_cfg, seq_len + 1)
    update = rows * seq_len * train_flops_per_token(model_cfg, seq_len)
    forwards = 1 + (minibatches > 1)  # the reference, and the old policy when off-policy
    return sampling + update + forwards * rows * seq_len * forward_flops_per_token(
        model_cfg, seq_len)


def rl_run_flops(config) -> float:
    """Planned FLOPs of a whole ``python -m rtt_jax.rl`` run of ``config``."""
    from rtt_jax.config_validation import model_config
    r = config.rl
    seq_len = r.seq_len or config.data.seq_len
    return r.steps * iteration_flops(model_config(config), r.prompts_per_step * r.group_size,
                                     seq_len, r.minibatches)


def train_run_flops(config) -> float:
    """FLOPs of a ``python -m rtt_jax.main`` training run of ``config``."""
    from rtt_jax.config_validation import model_config
    d = config.data
    return (config.train.steps * d.global_batch_size * d.seq_len
            * train_flops_per_token(model_config(config), d.seq_len))
