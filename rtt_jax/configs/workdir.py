"""The config a run saved in its workdir (``W/config.json``), as a config file.

Every reader of a workdir takes ``--workdir`` alone; this file is for when
some of the saved fields should change, since ``--config.*`` overrides need
a ``--config``::

    python -m rtt_jax.main --mode=eval --workdir=W \
        --config=configs/workdir.py:W --config.eval.n_per_level=500

The argument is the workdir (a local path or ``gs://``). The model and the
tokenizer cannot be overridden for a checkpoint trained with others (one
error line, ``rtt_jax.workdir_config.resolve``).
"""
from __future__ import annotations

import errno

from rtt_jax import workdir_config


def get_config(workdir: str | None = None):
    if not workdir:
        raise ValueError("configs/workdir.py needs the workdir: --config=configs/workdir.py:W")
    config = workdir_config.load(workdir)
    if config is None:
        raise FileNotFoundError(errno.ENOENT, "no such file (the run saved no config)",
                                workdir_config.config_path(workdir))
    return config
