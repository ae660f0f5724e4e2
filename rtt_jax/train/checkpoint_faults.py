"""Kill a run at a chosen moment of a checkpoint save (fault-injection for tests).

``RTT_JAX_CKPT_KILL_AT=<point>@<step>`` makes the process call ``os._exit(137)``
(what ``kill -9`` leaves behind: no cleanup, no flush, no finally) when the save
of ``<step>`` reaches ``<point>``. Unset, nothing is installed: ``install_from_env``
returns after one ``os.environ`` lookup and orbax runs unpatched.

Points, in the order a save reaches them (orbax 0.12's atomic-rename layout on
a local filesystem; tests/test_checkpoint_faults.py kills at every one):

- ``step_tmp_created``: ``<step>.orbax-checkpoint-tmp/`` exists, nothing in it.
- ``item_tmp_created``: an item's ``<item>.orbax-checkpoint-tmp/`` exists.
- ``items_written``: every item's files are written, none finalized (OCDBT
  manifests not merged, item directories not renamed).
- ``item_renamed``: the first item's directory has been renamed to its final
  name; the step directory still has its tmp name.
- ``step_finalize``: all items final; the step's commit file not yet written.
- ``step_commit_written``: ``commit_success.txt`` written, rename not done.
- ``after_rename``: the step directory has its final name; the manager has not
  yet recorded it or garbage-collected older steps.
- ``gc_partial``: (``<step>`` is the *deleted* step) garbage collection of an
  old step has removed some of its files and then the process dies, leaving a
  half-deleted step directory under its final name.

The hooks wrap orbax internals (``_src.path.atomicity``, the composite handler
and the step deleter). If those move in another orbax version, installing
raises instead of silently not killing, so the tests fail loudly.
"""
from __future__ import annotations

import functools
import os

ENV = "RTT_JAX_CKPT_KILL_AT"
POINTS = ("step_tmp_created", "item_tmp_created", "items_written", "item_renamed",
          "step_finalize", "step_commit_written", "after_rename", "gc_partial")
_TMP = ".orbax-checkpoint-tmp"
_INSTALLED: list = []


def _die(point: str, path) -> None:
    os.write(2, f"{ENV}: killed at {point} ({path})\n".encode())
    os._exit(137)


def install_from_env(directory) -> None:
    """Patch orbax to die at ``$RTT_JAX_CKPT_KILL_AT`` for saves under ``directory``."""
    spec = os.environ.get(ENV)
    if not spec or _INSTALLED:
        return
    point, _, step = spec.partition("@")
    if point not in POINTS or not step.isdigit():
        raise ValueError(f"{ENV}={spec!r}: expected <point>@<step>, point one of {POINTS}")
    _install(point, int(step), str(directory).rstrip("/"))
    _INSTALLED.append(spec)


def _where(root: str, path) -> tuple[int | None, bool]:
    """(step of ``path`` under ``root``, whether ``path`` is the step directory itself)."""
    rel = os.path.relpath(str(path), root)
    if rel.startswith(".."):
        return None, False
    parts = rel.split(os.sep)
    name = parts[0].split(_TMP)[0]
    return (int(name) if name.isdigit() else None), len(parts) == 1


def _install(point: str, step: int, root: str) -> None:
    from orbax.checkpoint._src.handlers import composite_checkpoint_handler as composite
    from orbax.checkpoint._src.path import atomicity, deleter

    cls = atomicity.AtomicRenameTemporaryPath
    create, finalize = cls.create, cls.finalize
    rename = atomicity.async_path.rename
    composite_finalize = composite.CompositeCheckpointHandler.finalize
    delete = deleter.PathDeleter.delete
    seen = {"items_created": 0, "items_renamed": 0}

    def hit(name: str, path, step_level: bool | None = None) -> None:
        s, is_step = _where(root, path)
        if name == point and s == step and (step_level is None or step_level == is_step):
            _die(name, path)

    @functools.wraps(create)
    async def create_hooked(self):
        out = await create(self)
        s, is_step = _where(root, self.get())
        if is_step:
            hit("step_tmp_created", self.get(), True)
        elif s == step:
            seen["items_created"] += 1
            if seen["items_created"] == 1:
                hit("item_tmp_created", self.get(), False)
        return out

    @functools.wraps(finalize)
    async def finalize_hooked(self, *args, **kwargs):
        _, is_step = _where(root, self.get())
        if is_step:
            hit("step_finalize", self.get(), True)
        out = await finalize(self, *args, **kwargs)
        if is_step:
            hit("after_rename", self.get_final(), True)
        elif _where(root, self.get_final())[0] == step:
            seen["items_renamed"] += 1
            if seen["items_renamed"] == 1:
                hit("item_renamed", self.get_final(), False)
        return out

    @functools.wraps(rename)
    async def rename_hooked(src, dst):
        hit("step_commit_written", src, True)
        return await rename(src, dst)

    @functools.wraps(composite_finalize)
    def composite_finalize_hooked(self, directory):
        hit("items_written", directory, True)
        return composite_finalize(self, directory)

    @functools.wraps(delete)
    def delete_hooked(self, path, *args, **kwargs):
        s, is_step = _where(root, path)
        if point == "gc_partial" and s == step and is_step:
            files = sorted(os.path.join(sub, f) for sub, _, fs in os.walk(str(path)) for f in fs)
            for f in files[::2]:  # every other file, the step's metadata among them
                os.remove(f)
            _die(point, path)
        return delete(self, path, *args, **kwargs)

    cls.create, cls.finalize = create_hooked, finalize_hooked
    atomicity.async_path.rename = rename_hooked
    composite.CompositeCheckpointHandler.finalize = composite_finalize_hooked
    deleter.PathDeleter.delete = delete_hooked
