"""``W/config.json``: the resolved config of an RL run, written at its start.

A workdir describes itself (DESIGN.md, third build): eval, serving and
teachers should need only ``--workdir``. Interim: branch i25 adds the
project-wide writer/reader of ``config.json`` for ``rtt_jax.main``; until it
lands, the RL loop writes the file with this one function (same name, same
JSON: ``ConfigDict.to_json_best_effort``), to be replaced by i25's.
"""
from __future__ import annotations

import os

from rtt_jax import paths

CONFIG_JSON = "config.json"


def write_config_json(workdir: str, config) -> str:
    """Write ``config`` (an ml_collections ConfigDict) as ``workdir/config.json``
    atomically; returns the path."""
    path = os.path.join(workdir, CONFIG_JSON)
    paths.replace_text(path, config.to_json_best_effort(indent=1, sort_keys=True) + "\n")
    return path
