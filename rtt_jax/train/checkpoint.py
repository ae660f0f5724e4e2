"""Orbax checkpoints that hold the whole truth of a run, and are checked.

One step directory holds ``state`` (params, optimizer state, step), ``data``
(the data iterator's state, written by Grain's orbax handler
``grain.checkpoint.CheckpointHandler``: one ``process_<i>-of-<n>.json`` per
process, each the curriculum position beside that host's Grain iterator
state) and ``checksums`` (JSON: a 64-bit checksum per state leaf and a
sha256 of each process's data state, see ``checksum.py``). Saves are asynchronous and atomic: orbax
writes ``<step>.orbax-checkpoint-tmp/`` and renames it when complete, so a
half-written step is never listed. Restore reads arrays straight into the
*current* run's shardings (a checkpoint written on data=8 restores onto one
device or onto fsdp=4 x tensor=2) and then verifies them.

Kill-safety. A run killed mid-save leaves ``*.orbax-checkpoint-tmp``
directories (at the step level, and item-level ones inside them). Orbax's own
``cleanup_tmp_directories`` deletes them in a background thread that can race
the first save of the restarted run (issue 13: a restart died with
``FileNotFoundError: ... data.orbax-checkpoint-tmp``). So the writer removes
them itself, synchronously, on process 0, before the manager starts, and orbax's
cleanup is off. (On ``gs://`` orbax uses commit files instead of renames: a step
directory without ``commit_success.txt`` is not listed, and is replaced when
that step is saved again.) ``checkpoint_faults.py`` can kill a save at each of
its stages for the tests.

Verification. ``restore_newest_intact`` tries steps newest first. A step that
cannot be restored (missing, truncated or unreadable files) or whose restored
arrays or data item do not match the checksums saved with them is reported in
one log line and set aside: renamed to ``<step>.corrupt-<n>`` (never deleted;
orbax does not list that name), and the next older step is tried. A run never
trains from a step it could not verify. A checkpoint whose *structure* does
not fit this run's model/optimizer (a config change) is a config error, not
damage: it raises at once and nothing is renamed; so does a failure of the
machine or the storage service (out of memory, permission denied, an
unavailable bucket), which says nothing about the step's bytes. Readers (``read_only=True``,
used by eval) verify the same way but rename and clean nothing: they do not
hold the workdir's lock.

Disk full. A save that fails with ENOSPC (in the foreground or in orbax's
background thread) raises ``CheckpointError`` naming the path, "no space left
on device" and the last good step, which stays intact; the echoes of the same
failure from orbax's threads are dropped (``checkpoint_quiet.py``), so the
error is that one line. The partial step directory is left to the next start's
cleanup: orbax's writer threads may still be writing into it when the first
error surfaces.

Multi-host. Checksums are global sums computed by one SPMD program, so every
process reads the same value and verification is the same on any number of
hosts and any mesh. Each process's verdict is all-gathered before anyone falls
back, so all processes try the same older step; process 0 removes leftovers and
renames damaged steps, behind a barrier. The data item holds one Grain state
per host (that host's rows). A step saved by another number of hosts restores
too: each host then reads every host's verified state and restore returns
them all (``{"kind": PER_PROCESS, "states": [...]}``) for the data iterator to
take the rows it now owns.

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

import json
import os
from typing import Any

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from rtt_jax import paths
from rtt_jax.train import checkpoint_faults
from rtt_jax.train import checkpoint_quiet as quiet
from rtt_jax.train import layer_layout
from rtt_jax.train.checksum import data_checksum, mismatches, state_checksums
from rtt_jax.train.optimizer import make_optimizer
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import state_layout

TMP_SUFFIX = ".orbax-checkpoint-tmp"
# The data state restore returns for a step saved by another number of
# processes: {"kind": PER_PROCESS, "states": [state of process 0, 1, ...]}.
PER_PROCESS = "per_process"
ITEMS = ("state", "data", "checksums")
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


class _IteratorState(grain.DatasetIterator):
    """What Grain's checkpoint handler saves and restores: a data iterator's
    state, captured at save time (the live iterator moves on while orbax
    writes in the background) and handed back as a dict on restore."""

    def __init__(self, state: dict | None = None):
        super().__init__()
        self.state = state

    def __next__(self):
        raise StopIteration

    def get_state(self) -> dict:
        return self.state

    def set_state(self, state: dict) -> None:
        self.state = state


def _process_data_checksums(data_state: dict) -> list[str]:
    """Every process's data-state sha256, in process order (all-gathered)."""
    mine = data_checksum(data_state)
    if jax.process_count() == 1:
        return [mine]
    words = np.frombuffer(bytes.fromhex(mine), np.uint8)
    every = np.asarray(multihost_utils.process_allgather(words)).reshape(-1, words.size)
    return [bytes(row).hex() for row in every]


class _Damaged(CheckpointError):
    """This step's files are damaged or do not verify (set it aside, try older)."""


# Failures of the machine or the storage service, not of the step's bytes: a
# step is never set aside for these (a run out of device memory, or a flaky
# bucket, would otherwise rename every good step and start over next time).
_ENVIRONMENTAL_TYPES = (MemoryError, PermissionError, TimeoutError, ConnectionError)
_ENVIRONMENTAL_TEXT = ("RESOURCE_EXHAUSTED", "Out of memory", "UNAVAILABLE", "DEADLINE_EXCEEDED",
                       "PERMISSION_DENIED", "UNAUTHENTICATED", "CANCELLED")


def _raise_if_environmental(e: BaseException, where) -> None:
    seen, cur = set(), e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, _ENVIRONMENTAL_TYPES) or any(t in str(cur) for t in _ENVIRONMENTAL_TEXT):
            raise CheckpointError(f"{where}: cannot be read now ({_first_line(cur)}); not a "
                                  "damaged checkpoint, nothing was set aside") from e
        cur = cur.__cause__ or cur.__context__


def _first_line(e: BaseException) -> str:
    """The innermost cause's first line: tensorstore's own message ("DATA_LOSS:
    ... Truncated Zstd-compressed stream"), not orbax's wrapper around it."""
    seen = set()
    while e.__cause__ is not None and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}" if text else type(e).__name__


def _dotted(path) -> str:
    """A key path as orbax names the leaf on disk ("opt_state.1.0.mu.blocks.0.attn.wk")."""
    return ".".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                    for k in path)


def _is_primary() -> bool:
    return jax.process_index() == 0


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def _all_agree(ok: bool) -> bool:
    """True only if every process's check passed (so all fall back together)."""
    if jax.process_count() == 1:
        return ok
    return bool(np.min(multihost_utils.process_allgather(np.int32(ok))) == 1)


def remove_unfinished(directory: epath.Path) -> list[str]:
    """Delete ``*.orbax-checkpoint-tmp`` left by a killed save: step-level ones,
    and item-level ones inside step directories. Returns what was removed."""
    removed = []
    if not directory.exists():
        return removed
    for child in sorted(directory.iterdir()):
        if TMP_SUFFIX in child.name:
            child.rmtree(missing_ok=True)
            removed.append(child.name)
        elif child.name.isdigit() and child.is_dir():
            for item in child.iterdir():
                if TMP_SUFFIX in item.name:
                    item.rmtree(missing_ok=True)
                    removed.append(f"{child.name}/{item.name}")
    return removed


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
            if _is_primary():
                removed = remove_unfinished(self.directory)
                if removed:
                    logging.warning("%s: removed unfinished saves of a killed run: %s",
                                    self.directory, ", ".join(removed))
            _sync("rtt_jax_checkpoint_cleanup")
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
        sums = {"state": state_checksums(state), "data": _process_data_checksums(data_state)}
        with _SaveErrors(self):
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=grain.checkpoint.CheckpointSave(_IteratorState(data_state)),
                checksums=ocp.args.JsonSave(sums)), force=force)

    def wait(self) -> None:
        with _SaveErrors(self):
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
        except _Damaged as e:
            result, damage = None, e
        if not _all_agree(damage is None):
            raise damage or _Damaged(f"{where}: failed to verify on another process")
        return result

    def _restore_verified(self, abstract_state, step: int, where, with_data: bool = True
                          ) -> tuple[Any, dict | None, int]:
        saved_abstract = self._check_structure(abstract_state, where)
        if not (where / "checksums").exists():
            raise _Damaged(f"{where}: no checksums item, cannot be verified")
        saved_by = _data_process_count(where / "data") if with_data else None
        holder = _IteratorState()
        items = dict(state=ocp.args.StandardRestore(saved_abstract),
                     checksums=ocp.args.JsonRestore())
        if saved_by == jax.process_count():  # this host's file, through Grain's handler
            items["data"] = grain.checkpoint.CheckpointRestore(holder)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as e:  # orbax/tensorstore raise many types; one line
            quiet.quiet_aborted_io()
            _raise_if_environmental(e, where)
            raise _Damaged(f"{where}: cannot be read ({_first_line(e)})") from e
        expected = restored["checksums"] or {}
        bad = mismatches(expected.get("state", {}), state_checksums(restored["state"]))
        if bad:
            raise _Damaged(f"{where}: checksum mismatch in {len(bad)} array(s): "
                           f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
        state = restored["state"]
        if saved_abstract is not abstract_state:  # verified as saved; now re-arranged
            state = jax.device_put(layer_layout.convert(state, layer_layout.scanned(abstract_state)),
                                   jax.tree.map(lambda a: a.sharding, abstract_state))
        if not with_data:
            return state, None, step
        sums = expected.get("data")
        if not isinstance(sums, list) or len(sums) != saved_by:
            raise _Damaged(f"{where}: checksum mismatch in the data item")
        if saved_by == jax.process_count():
            data = holder.state
            if not isinstance(data, dict) or sums[jax.process_index()] != data_checksum(data):
                raise _Damaged(f"{where}: checksum mismatch in the data item")
            return state, data, step
        # Saved by another number of hosts: every host reads every host's state
        # (verified), and the data iterator takes the rows it now owns.
        states = []
        for i in range(saved_by):
            path = where / "data" / f"process_{i}-of-{saved_by}.json"
            try:
                states.append(json.loads(path.read_text()))
            except (OSError, ValueError) as e:
                raise _Damaged(f"{path}: cannot be read ({_first_line(e)})") from e
            if not isinstance(states[-1], dict) or sums[i] != data_checksum(states[-1]):
                raise _Damaged(f"{where}: checksum mismatch in the data item of process {i}")
        logging.info("%s: data state of %d process(es) restored on %d", where, saved_by,
                     jax.process_count())
        return state, {"kind": PER_PROCESS, "states": states}, step

    def _check_structure(self, abstract_state, where) -> Any:
        """A checkpoint of another model/optimizer is a config error, not damage.

        Compares leaf names (orbax's dotted key paths) and shapes with the
        checkpoint's metadata, which orbax writes before the arrays. Returns
        the abstract state to restore the step as: ``abstract_state`` itself,
        or its layers stacked/split when the step was saved under the other
        ``model.scan_layers`` setting (converted after verifying)."""
        try:
            meta = ocp.StandardCheckpointHandler().metadata(where / "state")
            have = {m.name: tuple(m.shape) for m in jax.tree.leaves(meta)}
        except Exception as e:
            _raise_if_environmental(e, where)
            raise _Damaged(f"{where}: unreadable state metadata ({_first_line(e)})") from e

        def shapes(tree):
            return {_dotted(p): tuple(a.shape) for p, a in jax.tree_util.tree_flatten_with_path(tree)[0]}
        want = shapes(abstract_state)
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        stacked = layer_layout.scanned(abstract_state)
        if diff and stacked is not None:
            other = layer_layout.convert(abstract_state, not stacked)
            if shapes(other) == have:
                logging.info("%s: saved with %s, restored as %s", where,
                             layer_layout.setting(not stacked), layer_layout.setting(stacked))
                return other
        if diff:
            k = diff[0]
            raise CheckpointError(
                f"{where}: cannot restore checkpoint into this run's model/optimizer "
                f"({len(diff)} leaves differ; first {k}: checkpoint "
                f"{have.get(k, 'absent')}, run {want.get(k, 'absent')})")
        return abstract_state

    def restore_newest_intact(self, abstract_state: Any, with_data: bool = True
                              ) -> tuple[Any, dict | None, int]:
        """Restore the newest step that verifies. Writers set damaged steps
        aside (renamed, never deleted); readers skip them. Raises
        CheckpointError when no step is intact."""
        rejected = []
        for step in reversed(self.all_steps()):
            try:
                return self.restore(abstract_state, step, with_data)
            except _Damaged as e:
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
        if _is_primary():
            src.rename(dst)
        _sync(f"rtt_jax_set_aside_{step}_{n}")
        self.manager.reload()
        return dst.name


def _data_process_count(data_dir) -> int:
    """How many processes wrote the data item (one Grain state file each).
    An item from before Grain's handler is a config error, a missing one damage."""
    saved = sorted(p.name for p in data_dir.glob("process_*-of-*.json")) if data_dir.exists() else []
    if saved:
        try:
            return int(saved[0].rsplit("-of-", 1)[1].removesuffix(".json"))
        except ValueError:
            raise _Damaged(f"{data_dir}: unexpected file {saved[0]}") from None
    if (data_dir / "metadata").exists():
        raise CheckpointError(f"{data_dir}: a JSON data item from before the Grain pipeline; "
                              "this rtt_jax cannot resume it (start a new workdir)")
    raise _Damaged(f"{data_dir}: no data iterator state")


class _SaveErrors:
    """Turn a failed save into one line: ENOSPC -> CheckpointError (path, 'no
    space left', last good step); anything else propagates unchanged."""

    def __init__(self, ckpt: Checkpointer):
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
