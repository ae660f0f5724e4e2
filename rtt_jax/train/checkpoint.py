"""Orbax checkpoints that hold the whole truth of a run, and are checked.

One step directory holds ``state`` (params, optimizer state, step), ``data``
(the data iterator's state, one file per process: ``checkpoint_data.py``)
and ``checksums`` (JSON: a 64-bit checksum per state leaf and a sha256 of
each process's data state, see ``checksum.py``). Saves are asynchronous and
atomic: orbax writes ``<step>.orbax-checkpoint-tmp/`` and renames it when
complete, so a half-written step is never listed. Restore reads arrays
straight into the *current* run's shardings (a checkpoint written on data=8
restores onto one device or onto fsdp=4 x tensor=2) and then verifies them.

This module is the orbax wrapper; its concerns live beside it:

* ``checkpoint_damage.py``: what counts as a damaged step (set aside, try
  the next older one), what is a config error or a failure of the machine
  (raise, rename nothing), and the leftovers of a killed save;
* ``checkpoint_hosts.py``: the decisions every process takes together;
* ``checkpoint_data.py``: the data item through Grain's orbax handler, also
  across a change in the number of hosts;
* ``checkpoint_disk_full.py``: a save that fills the disk, as one line;
* ``checkpoint_quiet.py``: orbax's echoes of one failure, dropped;
* ``checkpoint_faults.py``: kills a save at each of its stages for the tests.

Kill-safety. Orbax's own ``cleanup_tmp_directories`` deletes a killed save's
tmp directories in a background thread that can race the first save of the
restarted run (issue 13: a restart died with ``FileNotFoundError: ...
data.orbax-checkpoint-tmp``). So the writer removes them itself,
synchronously, on process 0, before the manager starts, and orbax's cleanup
is off. (On ``gs://`` orbax uses commit files instead of renames: a step
directory without ``commit_success.txt`` is not listed, and is replaced when
that step is saved again.)

Verification. ``restore_newest_intact`` tries steps newest first. A damaged
step is reported in one log line and set aside: renamed to
``<step>.corrupt-<n>`` (never deleted; orbax does not list that name), and
the next older step is tried. A run never trains from a step it could not
verify. Readers (``read_only=True``, used by eval) verify the same way but
rename and clean nothing: they do not hold the workdir's lock.

Layer layout. ``model.scan_layers`` stacks the blocks' parameters (and so
their optimizer moments): a step saved under one setting is restored under
the other by restoring and verifying it as saved, then re-arranging it
(``layer_layout.py``; one log line says so). Any other difference in the
tree is the config error above.

``final_params`` restores the newest verified step's params alone onto a mesh
of this process's choosing: what evaluation, serving and the checkpoint
teacher start from.
"""
from __future__ import annotations

import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from rtt_jax import paths
from rtt_jax.train import checkpoint_faults
from rtt_jax.train import checkpoint_quiet as quiet
from rtt_jax.train import layer_layout
from rtt_jax.train.checkpoint_damage import (CheckpointError, Damaged, check_structure,
                                             first_line, raise_if_environmental,
                                             remove_unfinished)
from rtt_jax.train.checkpoint_data import (IteratorState, read_every_process,
                                           saved_process_count)
from rtt_jax.train.checkpoint_disk_full import DiskFullIsOneLine
from rtt_jax.train.checkpoint_hosts import all_agree, every_data_checksum, is_primary, sync
from rtt_jax.train.checksum import data_checksum, mismatches, state_checksums
from rtt_jax.train.optimizer import make_optimizer
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import state_layout

__all__ = ["CheckpointError", "Checkpointer", "final_params"]

ITEMS = ("state", "data", "checksums")
_PLAIN_ARRAY_HANDLER: list = []


def _use_plain_array_saving_on_one_host() -> None:
    """Replica-parallel saving splits each replicated array into per-replica
    slices so that many hosts share the writing; with one process it only adds
    a compiled slice per array and device. Turn it off when alone."""
    if jax.process_count() == 1 and not _PLAIN_ARRAY_HANDLER:
        _PLAIN_ARRAY_HANDLER.append(ocp.type_handlers.ArrayHandler(use_replica_parallel=False))
        ocp.type_handlers.register_type_handler(jax.Array, _PLAIN_ARRAY_HANDLER[0], override=True)


class Checkpointer:
    """One run's checkpoint directory. ``read_only`` readers never write or rename."""

    def __init__(self, directory: str, max_to_keep: int = 3, async_save: bool = True,
                 read_only: bool = False):
        _use_plain_array_saving_on_one_host()
        quiet.install_log_filter()
        quiet.install_closed_loop_filter()
        self.directory = epath.Path(directory)
        self.read_only = read_only
        if not read_only:
            checkpoint_faults.install_from_env(self.directory)
            if is_primary():
                removed = remove_unfinished(self.directory)
                if removed:
                    logging.warning("%s: removed unfinished saves of a killed run: %s",
                                    self.directory, ", ".join(removed))
            sync("rtt_jax_checkpoint_cleanup")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=not read_only,
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=False)  # done above, synchronously
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    # -- saving ------------------------------------------------------------

    def save(self, step: int, state: Any, data_state: dict, force: bool = True) -> None:
        """Save ``state`` and ``data_state`` with their checksums (async).

        The checksums are computed on device from the very arrays handed to
        orbax, before the caller may donate them; only 8 bytes per leaf come
        back to the host."""
        sums = {"state": state_checksums(state), "data": every_data_checksum(data_state)}
        with DiskFullIsOneLine(self):
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=grain.checkpoint.CheckpointSave(IteratorState(data_state)),
                checksums=ocp.args.JsonSave(sums)), force=force)

    def wait(self) -> None:
        with DiskFullIsOneLine(self):
            self.manager.wait_until_finished()

    def close(self) -> None:
        try:
            self.wait()
        except BaseException:
            try:
                self.manager.close()
            except Exception:  # noqa: BLE001 - the same failure, already being raised
                pass
            raise
        self.manager.close()

    # -- restoring -----------------------------------------------------------

    def restore(self, abstract_state: Any, step: int | None = None,
                with_data: bool = True) -> tuple[Any, dict | None, int]:
        """Restore ``step`` (default: latest) into ``abstract_state``'s shapes, dtypes
        and shardings, and verify it against its checksums. Raises CheckpointError.
        ``with_data=False`` (evaluation) leaves the data iterator state unread."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{self.directory}: no checkpoint to restore")
        where = self.directory / str(step)
        try:
            result, damage = self._restore_verified(abstract_state, step, where, with_data), None
        except Damaged as e:
            result, damage = None, e
        if not all_agree(damage is None):
            raise damage or Damaged(f"{where}: failed to verify on another process")
        return result

    def _restore_verified(self, abstract_state, step: int, where, with_data: bool = True
                          ) -> tuple[Any, dict | None, int]:
        saved_abstract = check_structure(abstract_state, where)
        if not (where / "checksums").exists():
            raise Damaged(f"{where}: no checksums item, cannot be verified")
        saved_by = saved_process_count(where / "data") if with_data else None
        holder = IteratorState()
        items = dict(state=ocp.args.StandardRestore(saved_abstract),
                     checksums=ocp.args.JsonRestore())
        if saved_by == jax.process_count():  # this host's file, through Grain's handler
            items["data"] = grain.checkpoint.CheckpointRestore(holder)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as e:  # orbax/tensorstore raise many types; one line
            quiet.quiet_aborted_io()
            raise_if_environmental(e, where)
            raise Damaged(f"{where}: cannot be read ({first_line(e)})") from e
        expected = restored["checksums"] or {}
        bad = mismatches(expected.get("state", {}), state_checksums(restored["state"]))
        if bad:
            raise Damaged(f"{where}: checksum mismatch in {len(bad)} array(s): "
                          f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
        state = restored["state"]
        if saved_abstract is not abstract_state:  # verified as saved; now re-arranged
            state = jax.device_put(layer_layout.convert(state, layer_layout.scanned(abstract_state)),
                                   jax.tree.map(lambda a: a.sharding, abstract_state))
        if not with_data:
            return state, None, step
        sums = expected.get("data")
        if not isinstance(sums, list) or len(sums) != saved_by:
            raise Damaged(f"{where}: checksum mismatch in the data item")
        if saved_by == jax.process_count():
            data = holder.state
            if not isinstance(data, dict) or sums[jax.process_index()] != data_checksum(data):
                raise Damaged(f"{where}: checksum mismatch in the data item")
            return state, data, step
        return state, read_every_process(where, saved_by, sums), step

    def restore_newest_intact(self, abstract_state: Any, with_data: bool = True
                              ) -> tuple[Any, dict | None, int]:
        """Restore the newest step that verifies. Writers set damaged steps
        aside (renamed, never deleted); readers skip them. Raises
        CheckpointError when no step is intact."""
        rejected = []
        for step in reversed(self.all_steps()):
            try:
                return self.restore(abstract_state, step, with_data)
            except Damaged as e:
                rejected.append(step)
                aside = self.set_aside(step) if not self.read_only else None
                logging.warning("checkpoint rejected: %s%s", e,
                                f"; set aside as {aside}" if aside else "; skipped")
        if rejected:
            raise CheckpointError(f"{self.directory}: no intact checkpoint (rejected steps "
                                  f"{', '.join(map(str, rejected))})")
        raise CheckpointError(f"{self.directory}: no checkpoint to restore")

    def newest_verified_step(self, abstract_state: Any) -> int | None:
        """The newest step that restores and verifies (None if there is none)."""
        try:
            _, _, step = self.restore_newest_intact(abstract_state, with_data=False)
        except CheckpointError:
            return None
        return step

    def set_aside(self, step: int) -> str:
        """Rename ``<step>`` to ``<step>.corrupt-<n>`` (process 0) so orbax stops listing it."""
        src = self.directory / str(step)
        n = 1
        while (self.directory / f"{step}.corrupt-{n}").exists():
            n += 1
        dst = self.directory / f"{step}.corrupt-{n}"
        if is_primary():
            src.rename(dst)
        sync(f"rtt_jax_set_aside_{step}_{n}")
        self.manager.reload()
        return dst.name


def final_params(spec, workdir: str, devices=None):
    """(layout, params, step) of the newest verified checkpoint in ``workdir``,
    restored onto a mesh of ``devices`` (default: all); ``spec`` is the run's
    checked config (``config_validation.RunSpec``). Raises CheckpointError when
    there is none."""
    config = spec.config
    workdir = paths.absolute(workdir)
    mesh = run_mesh(config, devices)
    layout = state_layout(spec.model, make_optimizer(config.train), mesh, config.axis_rules,
                          config.seed)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    if not paths.is_remote(ckpt_dir) and not (os.path.isdir(ckpt_dir) and any(
            d.isdigit() for d in os.listdir(ckpt_dir))):
        # Checked before orbax starts its background threads for nothing.
        raise CheckpointError(f"{ckpt_dir}: no checkpoint to restore")
    ckpt = Checkpointer(ckpt_dir, read_only=True)  # eval holds no lock: never rename/clean
    try:
        state, _, step = ckpt.restore_newest_intact(layout.abstract, with_data=False)
    finally:
        ckpt.close()
    return layout, state["params"], step
