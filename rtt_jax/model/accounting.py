"""Parameter counts and training FLOPs per token, for MFU and sizing."""
from __future__ import annotations

import jax
import numpy as np

from rtt_jax.model.transformer import ModelConfig


def param_count(params) -> int:
    """Number of scalars in a parameter pytree (arrays or ShapeDtypeStructs)."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))


def matmul_param_count(cfg: ModelConfig) -> int:
    """Parameters that take part in a matmul per token (embedding lookup excluded,
    the output projection included whether or not it is tied)."""
    d, h, k, hd, f = (cfg.d_model, cfg.n_heads, cfg.kv_heads_resolved,
                      cfg.head_dim_resolved, cfg.d_ff_resolved)
    per_layer = d * h * hd * 2 + d * k * hd * 2 + 3 * d * f
    return cfg.n_layers * per_layer + d * cfg.vocab_size


def train_flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Forward + backward FLOPs per token (PaLM appendix B convention).

    6 FLOPs per matmul parameter, plus 12 * layers * heads * head_dim * seq_len
    for the attention scores and the weighted sum (causal masking not discounted).
    """
    attn = 12 * cfg.n_layers * cfg.n_heads * cfg.head_dim_resolved * seq_len
    return 6.0 * matmul_param_count(cfg) + attn
