"""The data iterator's state in a checkpoint, through Grain's orbax handler.

The ``data`` item is written by ``grain.checkpoint.CheckpointHandler``: one
``process_<i>-of-<n>.json`` per process, each that host's curriculum position
beside its Grain iterator state (that host's rows). ``IteratorState`` is
what the handler saves and restores. A step saved by the same number of
processes restores each host's own file through the handler; one saved by
another number of hosts restores too: each host then reads every host's
verified state (``read_every_process``) and restore returns them all
(``{"kind": PER_PROCESS, "states": [...]}``) for the data iterator to take
the rows it now owns.
"""
from __future__ import annotations

import json

import grain
import jax
from absl import logging

from rtt_jax.train.checkpoint_damage import CheckpointError, Damaged, first_line
from rtt_jax.train.checksum import data_checksum

# The data state restore returns for a step saved by another number of
# processes: {"kind": PER_PROCESS, "states": [state of process 0, 1, ...]}.
PER_PROCESS = "per_process"


class IteratorState(grain.DatasetIterator):
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


def saved_process_count(data_dir) -> int:
    """How many processes wrote the data item (one Grain state file each).
    An item from before Grain's handler is a config error, a missing one damage."""
    saved = sorted(p.name for p in data_dir.glob("process_*-of-*.json")) if data_dir.exists() else []
    if saved:
        try:
            return int(saved[0].rsplit("-of-", 1)[1].removesuffix(".json"))
        except ValueError:
            raise Damaged(f"{data_dir}: unexpected file {saved[0]}") from None
    if (data_dir / "metadata").exists():
        raise CheckpointError(f"{data_dir}: a JSON data item from before the Grain pipeline; "
                              "this rtt_jax cannot resume it (start a new workdir)")
    raise Damaged(f"{data_dir}: no data iterator state")


def read_every_process(where, saved_by: int, sums: list[str]) -> dict:
    """A step saved by ``saved_by`` processes (another number than now): every
    process's data state, each verified against its checksum in ``sums``."""
    states = []
    for i in range(saved_by):
        path = where / "data" / f"process_{i}-of-{saved_by}.json"
        try:
            states.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            raise Damaged(f"{path}: cannot be read ({first_line(e)})") from e
        if not isinstance(states[-1], dict) or sums[i] != data_checksum(states[-1]):
            raise Damaged(f"{where}: checksum mismatch in the data item of process {i}")
    logging.info("%s: data state of %d process(es) restored on %d", where, saved_by,
                 jax.process_count())
    return {"kind": PER_PROCESS, "states": states}
