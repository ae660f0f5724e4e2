"""``W/config.json``: the resolved config a run trained with, kept in its workdir.

A workdir describes itself (t5x and big_vision write the config at start
too): every reader of a workdir (``--mode=eval``, ``rtt_jax.serve``, the
checkpoint teacher, ``star_round``, an RL trainer starting from a checkpoint)
needs only ``--workdir``.

* ``record_start`` is called by a trainer at start, under the workdir's lock:
  process 0 writes the config (through ``rtt_jax.paths``, so ``gs://``
  works). On a resume whose config differs from the saved one, the
  differing fields are logged in one line; a change of model or tokenizer
  with a checkpoint to resume is an error (the checkpoint could not be read
  with it).
* ``resolve`` gives a reader its config: ``--config`` when given (it wins),
  else the saved one. A ``--config`` whose model or tokenizer differs from the
  saved one is one ``ConfigError`` line naming the fields: the checkpoint was
  trained with the saved ones.
* ``differences`` compares two configs field by field (dotted names).
* ``configs/workdir.py:W`` is the saved config as a config file, so that
  ``--config.*`` overrides apply to it.

The file is the config's ``to_dict()`` as JSON, keys sorted: tuples come
back as lists, which every consumer accepts (``tests/test_workdir_config.py``
checks that an evaluation from the saved config equals one from the file).
A leaf module: it imports only ``paths`` and ``config_error``, so any part
(train, evaluation, serve, experiments) may use it.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

import ml_collections

from rtt_jax import paths
from rtt_jax.config_error import ConfigError

CONFIG_JSON = "config.json"
# Fields a checkpoint is bound to: a reader cannot change them.
BOUND = ("model.", "data.tokenizer")
# Model fields a checkpoint follows: how the step computes, not its parameters
# (the checkpointer stacks or splits the layers when scan_layers changes:
# train/layer_layout.py; the attention band is the same maths).
FOLLOWED = ("model.scan_layers", "model.attention_block", "model.attention_window_blocks")
_SHOWN = 8  # differing fields named in one line; the rest are counted


def config_path(workdir: str) -> str:
    return os.path.join(paths.absolute(workdir), CONFIG_JSON)


def to_json(config: Any) -> str:
    """The config as the JSON ``config.json`` holds."""
    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    try:
        return json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n"
    except TypeError as e:  # a value JSON cannot hold would make the workdir unreadable
        raise ConfigError(f"config: a field holds a value JSON cannot write ({e}); "
                          "fields must be numbers, strings, lists or dicts") from None


def from_json(text: str, where: str) -> ml_collections.ConfigDict:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{where}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return ml_collections.ConfigDict(data)


def load(workdir: str) -> ml_collections.ConfigDict | None:
    """The saved config of ``workdir``; None when it has none."""
    path = config_path(workdir)
    if not paths.exists(path):
        return None
    return from_json(paths.read_text(path), path)


def save(config: Any, workdir: str) -> str:
    """Write ``W/config.json`` (whole or not at all); returns its path."""
    path = config_path(workdir)
    paths.replace_text(path, to_json(config))
    return path


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": leaf}``; lists are leaves, compared as JSON (tuples == lists)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) or hasattr(value, "to_dict"):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def differences(saved: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """``(field, saved value, new value)`` for every field that differs, sorted;
    a field only one side has shows ``"<absent>"`` on the other."""
    a = _flat(json.loads(to_json(saved)))
    b = _flat(json.loads(to_json(new)))
    out = []
    for field in sorted(set(a) | set(b)):
        va, vb = a.get(field, "<absent>"), b.get(field, "<absent>")
        if va != vb:
            out.append((field, va, vb))
    return out


def bound(diffs: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """The differences a checkpoint cannot follow: model and tokenizer
    (less ``FOLLOWED``)."""
    return [d for d in diffs if d[0].startswith(BOUND) and d[0] not in FOLLOWED]


def describe(diffs: list[tuple[str, Any, Any]]) -> str:
    """``a.b: 1 -> 2, c: 'x' -> 'y'`` (the first few, then how many more)."""
    shown = ", ".join(f"{f}: {a!r} -> {b!r}" for f, a, b in diffs[:_SHOWN])
    more = len(diffs) - _SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


def resolve(config: Any | None, workdir: str | None, *, check_bound: bool = True,
            flag: str = "--config") -> ml_collections.ConfigDict:
    """The config a reader of ``workdir`` uses: ``config`` when given, else
    ``W/config.json``. ConfigError (one line) when neither is there, or when
    ``check_bound`` and ``config`` changes the saved model or tokenizer."""
    saved = load(workdir) if workdir else None
    if config is None:
        if saved is None:
            where = (f"{config_path(workdir)} does not exist (a workdir written before "
                     "config.json was kept has none)" if workdir else "no --workdir given")
            raise ConfigError(f"{flag} is required: {where}; pass the config file[:variant] "
                              "and overrides the run trained with")
        saved.lock()
        return saved
    if saved is not None and check_bound:
        changed = bound(differences(saved, config))
        if changed:
            raise ConfigError(f"{flag} differs from {config_path(workdir)} in what the "
                              f"checkpoint was trained with: {describe(changed)}")
    return config


def record_start(config: Any, workdir: str, *, writer: bool, resuming: bool,
                 log: Callable[[str], None], barrier: Callable[[], None] = lambda: None
                 ) -> list[tuple[str, Any, Any]]:
    """At a trainer's start: compare with the saved config, then (``writer``:
    process 0) save this one. ``resuming``: a checkpoint will be restored, so
    a changed model or tokenizer is a ConfigError instead of a log line.
    ``barrier`` runs between every process's read and the write (multi-host).
    Returns the differences."""
    saved = load(workdir)
    diffs = differences(saved, config) if saved is not None else []
    if resuming and bound(diffs):
        raise ConfigError(f"{config_path(workdir)}: the checkpoint to resume was trained "
                          f"with another model or tokenizer: {describe(bound(diffs))}")
    if diffs:
        log(f"config differs from the saved {config_path(workdir)} in {len(diffs)} "
            f"field{'s' if len(diffs) != 1 else ''}: {describe(diffs)}")
    barrier()
    if writer:
        save(config, workdir)
    return diffs
