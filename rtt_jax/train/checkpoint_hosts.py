"""Checkpoint decisions that every process must take together.

Checksums of the state are global sums computed by one SPMD program, so every
process reads the same value. What differs per process is checked locally
(its own data state, its own reads) and all-gathered before anyone acts:
``all_agree`` makes every process fall back to the same older step, and only
process 0 (``is_primary``) removes leftovers and renames damaged steps,
behind a barrier (``sync``). On one process these are plain values.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils

from rtt_jax.train.checksum import data_checksum


def is_primary() -> bool:
    return jax.process_index() == 0


def sync(name: str) -> None:
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def all_agree(ok: bool) -> bool:
    """True only if every process's check passed (so all fall back together)."""
    if jax.process_count() == 1:
        return ok
    return bool(np.min(multihost_utils.process_allgather(np.int32(ok))) == 1)


def every_data_checksum(data_state: dict) -> list[str]:
    """Every process's data-state sha256, in process order (all-gathered)."""
    mine = data_checksum(data_state)
    if jax.process_count() == 1:
        return [mine]
    words = np.frombuffer(bytes.fromhex(mine), np.uint8)
    every = np.asarray(multihost_utils.process_allgather(words)).reshape(-1, words.size)
    return [bytes(row).hex() for row in every]
