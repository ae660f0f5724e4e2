"""A checkpoint save that fills the disk, as one line.

A save that fails with ENOSPC (in the foreground or in orbax's background
thread) raises ``CheckpointError`` naming the path, "no space left on device"
and the last good step, which stays intact; the echoes of the same failure
from orbax's threads are dropped (``checkpoint_quiet``). The partial step
directory is left to the next start's cleanup
(``checkpoint_damage.remove_unfinished``): orbax's writer threads may still be
writing into it when the first error surfaces.
"""
from __future__ import annotations

from rtt_jax.train import checkpoint_quiet as quiet
from rtt_jax.train.checkpoint_damage import TMP_SUFFIX, CheckpointError


class DiskFullIsOneLine:
    """Around a save or a wait of ``ckpt`` (a ``Checkpointer``): ENOSPC ->
    CheckpointError (path, 'no space left', last good step); any other failure
    propagates unchanged."""

    def __init__(self, ckpt):
        self.ckpt = ckpt

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if e is None or not isinstance(e, Exception) or not quiet.no_space(e):
            return False
        quiet.join_orbax_writers(timeout_s=60.0)
        quiet.quiet_aborted_io()
        ckpt = self.ckpt
        partial = [p for p in (ckpt.directory.iterdir() if ckpt.directory.exists() else [])
                   if TMP_SUFFIX in p.name]
        ckpt.manager.reload()
        last = ckpt.latest_step()
        where = ", ".join(str(p) for p in partial) or str(ckpt.directory)
        raise CheckpointError(
            f"{where}: no space left on device while saving a checkpoint (the partial save "
            f"is removed at the next start); the last good checkpoint "
            f"({'step ' + str(last) if last is not None else 'none'}) in "
            f"{ckpt.directory} is intact") from None
