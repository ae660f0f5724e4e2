"""Process setup the training entry points share: quiet library logs, jax.distributed.

``rtt_jax.main`` and ``rtt_jax.rl`` both start a process that trains on a
mesh, so both keep orbax's per-save INFO lines out of the console and both
join a multi-host job when asked. This module defines no absl flags (the
entry points define theirs at import, so one cannot import the other): the
``--distributed`` flag's value is passed in.

Multi-host: ``jax.distributed.initialize()`` runs when the flag is set, or
``RTT_JAX_DISTRIBUTED=1`` (what ``launch/tpu.py`` exports on every worker),
or ``config.distributed.initialize``; with ``config.distributed.
coordinator_address`` set it is given the coordinator, process count and
id, else JAX finds them (as on a Cloud TPU VM).
"""
from __future__ import annotations

import os

from absl import logging

DISTRIBUTED_ENV = "RTT_JAX_DISTRIBUTED"


class QuietLibraries:
    """An absl handler filter: orbax's INFO chatter out, its warnings kept."""

    def filter(self, record) -> bool:
        return record.levelno >= 30 or "/orbax/" not in record.pathname


def quiet_libraries() -> None:
    """Filter the absl handler's records (called once, first thing in ``main``)."""
    logging.get_absl_handler().addFilter(QuietLibraries())


def distributed_requested(config, flag: bool = False) -> bool:
    """Whether this process is one of a multi-host job: the entry point's
    ``--distributed`` flag, the environment, or the config says so."""
    return (flag or os.environ.get(DISTRIBUTED_ENV) == "1"
            or bool(config.distributed.initialize))


def maybe_initialize_distributed(config, flag: bool = False) -> bool:
    """Call ``jax.distributed.initialize`` if requested; whether it was.

    Call it before anything starts a JAX backend (initialize must come first).
    """
    if not distributed_requested(config, flag):
        return False
    import jax  # here, not at import: the entry points parse flags without JAX
    d = config.distributed
    kwargs = {}
    if d.coordinator_address:
        kwargs = dict(coordinator_address=d.coordinator_address,
                      num_processes=d.num_processes, process_id=d.process_id)
    jax.distributed.initialize(**kwargs)
    return True
