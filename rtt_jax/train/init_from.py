"""Starting a run from another run's params (``config.train.init_from``).

A run whose own workdir holds no checkpoint, and whose ``train.init_from``
names a workdir, starts from the newest *verified* params there: a fresh
optimizer state, step 0, its own schedule. Continued training
(``rtt_jax.main``) and reinforcement (``rtt_jax.rl``: the policy and its KL
reference) both start here. A run that has its own checkpoint resumes it and
never reads ``init_from`` again, so the source may change afterwards without
changing the run; ``rtt_jax.rl`` pins the step it started from for its
reference (``rl/loop.py``).

Params are restored straight into this run's layout (its mesh and shardings),
verified against their checksums like any restore; a checkpoint of another
model is one line naming both shapes (``checkpoint.Checkpointer``).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from rtt_jax import paths
from rtt_jax.train.checkpoint import Checkpointer, CheckpointError
from rtt_jax.train.state import StateLayout


def restore_params(layout: StateLayout, workdir: str, step: int | None = None):
    """(params, step) of ``workdir``'s checkpoint ``step`` (default: the newest
    that verifies), in ``layout``'s shardings. Reads only; takes no lock."""
    ckpt_dir = os.path.join(paths.absolute(workdir), "checkpoints")
    if not paths.is_remote(ckpt_dir) and not (os.path.isdir(ckpt_dir) and any(
            d.isdigit() for d in os.listdir(ckpt_dir))):
        raise CheckpointError(f"init_from={workdir}: no checkpoint in {ckpt_dir}")
    ckpt = Checkpointer(ckpt_dir, read_only=True)
    try:
        if step is None:
            state, _, step = ckpt.restore_newest_intact(layout.abstract, with_data=False)
        else:
            if step not in ckpt.all_steps():
                raise CheckpointError(f"init_from={workdir}: step {step}, which this run "
                                      f"started from, is gone (steps: {ckpt.all_steps()})")
            state, _, step = ckpt.restore(layout.abstract, step, with_data=False)
    finally:
        ckpt.close()
    return state["params"], step


def state_from_params(layout: StateLayout, optimizer, params):
    """A train state at step 0 holding a *copy* of ``params`` (the caller's
    arrays stay valid when the step donates the state) and a fresh optimizer
    state, in ``layout``'s shardings."""
    def build(p):
        p = jax.tree.map(jnp.copy, p)
        return {"params": p, "opt_state": optimizer.init(p), "step": jnp.zeros((), jnp.int32)}
    return jax.jit(build, out_shardings=layout.shardings)(params)
