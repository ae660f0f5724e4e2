"""Orbax checkpoints that hold the whole truth of a run.

One step directory holds ``state`` (params, optimizer state, step) and
``data`` (the data iterator's JSON state: curriculum position, Grain iterator
state, ...). Saves are asynchronous; a half-written step (killed mid-save) is
never listed, so restore always finds a complete one. Restore reads arrays
straight into the *current* run's shardings, so a checkpoint written on
data=8 restores onto 1 device or onto fsdp=4 x tensor=2.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath


_PLAIN_ARRAY_HANDLER: list = []


def _use_plain_array_saving_on_one_host() -> None:
    """Replica-parallel saving splits each replicated array into per-replica
    slices so that many hosts share the writing; with one process it only adds
    a compiled slice per array and device. Turn it off when alone."""
    if jax.process_count() == 1 and not _PLAIN_ARRAY_HANDLER:
        _PLAIN_ARRAY_HANDLER.append(ocp.type_handlers.ArrayHandler(use_replica_parallel=False))
        ocp.type_handlers.register_type_handler(jax.Array, _PLAIN_ARRAY_HANDLER[0], override=True)


class CheckpointError(RuntimeError):
    pass


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 3, async_save: bool = True):
        _use_plain_array_saving_on_one_host()
        self.directory = epath.Path(directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True,
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options,
                                             item_names=("state", "data"))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, data_state: dict, force: bool = True) -> None:
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state)), force=force)

    def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict, int]:
        """Restore into ``abstract_state``'s shapes, dtypes and shardings."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{self.directory}: no checkpoint to restore")
        where = os.path.join(str(self.directory), str(step))
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state),
                data=ocp.args.JsonRestore()))
        except Exception as e:  # orbax raises many types; give one clear line
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(
                f"{where}: cannot restore checkpoint into this run's model/optimizer "
                f"({type(e).__name__}: {first[:300]})") from e
        return restored["state"], dict(restored["data"] or {}), step

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
