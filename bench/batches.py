"""Batches for the benchmarks, from the real curriculum pipeline.

``curriculum_batches(batch, seq_len, n)``: the first ``n`` global batches
(numpy rows) of a ``configs/base.py`` variant's curriculum (default: the
``tiny`` one) at that shape, one process. The step's speed depends on the
shape only, so any batches of it time the same; these are the ones a run
trains on.
"""
from __future__ import annotations


def curriculum_batches(batch: int, seq_len: int, n: int, variant: str = "tiny") -> list[dict]:
    from rtt_jax.configs.base import get_config
    from rtt_jax.config_validation import validate
    from rtt_jax.data.pipeline import first_global_batches
    cfg = get_config(variant)
    cfg.data.update(global_batch_size=batch, seq_len=seq_len, prefetch=0)
    spec = validate(cfg)
    return first_global_batches(spec.data, spec.tokenizer, n)
