"""Which failures of a checkpoint step are damage, and what a killed save leaves.

A step that cannot be restored (missing, truncated or unreadable files) or
whose restored arrays or data item do not match the checksums saved with it
is *damaged* (``Damaged``): the checkpointer sets it aside and tries the next
older step. Two other failures are not damage, and nothing is set aside for
them: a checkpoint whose *structure* does not fit this run's model/optimizer
(``check_structure``: a config change, a ``CheckpointError`` at once; a
step saved under the other ``model.scan_layers`` setting does fit, re-arranged), and a
failure of the machine or the storage service (``raise_if_environmental``:
out of memory, permission denied, an unavailable bucket), which says nothing
about the step's bytes; otherwise a run out of device memory, or a flaky
bucket, would rename every good step and start over next time.

A run killed mid-save leaves ``*.orbax-checkpoint-tmp`` directories, at the
step level and item-level ones inside step directories
(``remove_unfinished`` deletes them before the next run's manager starts).
"""
from __future__ import annotations

import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from rtt_jax.train import layer_layout

TMP_SUFFIX = ".orbax-checkpoint-tmp"


class CheckpointError(RuntimeError):
    pass


class Damaged(CheckpointError):
    """This step's files are damaged or do not verify (set it aside, try older)."""


_ENVIRONMENTAL_TYPES = (MemoryError, PermissionError, TimeoutError, ConnectionError)
_ENVIRONMENTAL_TEXT = ("RESOURCE_EXHAUSTED", "Out of memory", "UNAVAILABLE", "DEADLINE_EXCEEDED",
                       "PERMISSION_DENIED", "UNAUTHENTICATED", "CANCELLED")


def raise_if_environmental(e: BaseException, where) -> None:
    """CheckpointError ("cannot be read now ...") when anything in ``e``'s chain
    is a failure of the machine or the storage service, not of the step."""
    seen, cur = set(), e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, _ENVIRONMENTAL_TYPES) or any(t in str(cur) for t in _ENVIRONMENTAL_TEXT):
            raise CheckpointError(f"{where}: cannot be read now ({first_line(cur)}); not a "
                                  "damaged checkpoint, nothing was set aside") from e
        cur = cur.__cause__ or cur.__context__


def first_line(e: BaseException) -> str:
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


def check_structure(abstract_state, where):
    """A checkpoint of another model/optimizer is a config error, not damage.

    Compares leaf names (orbax's dotted key paths) and shapes with the
    checkpoint's metadata, which orbax writes before the arrays. Returns the
    abstract state to restore the step as: ``abstract_state`` itself, or its
    layers stacked/split when the step was saved under the other
    ``model.scan_layers`` setting (the caller converts after verifying)."""
    try:
        meta = ocp.StandardCheckpointHandler().metadata(where / "state")
        have = {m.name: tuple(m.shape) for m in jax.tree.leaves(meta)}
    except Exception as e:
        raise_if_environmental(e, where)
        raise Damaged(f"{where}: unreadable state metadata ({first_line(e)})") from e

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
