"""The model: a Flax NNX decoder-only transformer and its accounting helpers."""
from rtt_jax.model.accounting import matmul_param_count, param_count, train_flops_per_token
from rtt_jax.model.transformer import ModelConfig, Transformer, attention_mask, log_probs

__all__ = ["ModelConfig", "Transformer", "attention_mask", "log_probs", "matmul_param_count",
           "param_count", "train_flops_per_token"]
