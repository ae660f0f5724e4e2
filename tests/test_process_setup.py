"""The process setup rtt_jax.main and rtt_jax.rl share (rtt_jax/process_setup.py)."""
from __future__ import annotations

import logging

import jax
import pytest

from rtt_jax import process_setup
from rtt_jax.configs.base import get_config


def _record(level: int, pathname: str) -> logging.LogRecord:
    return logging.LogRecord("absl", level, pathname, 1, "msg", (), None)


def test_quiet_libraries_drops_orbax_info_only():
    quiet = process_setup.QuietLibraries()
    orbax = "/venv/site-packages/orbax/checkpoint/checkpointer.py"
    assert not quiet.filter(_record(logging.INFO, orbax))
    assert quiet.filter(_record(logging.WARNING, orbax))
    assert quiet.filter(_record(logging.INFO, "/repo/rtt_jax/train/loop.py"))


@pytest.mark.parametrize("flag,env,initialize,want", [
    (False, None, False, False),
    (True, None, False, True),
    (False, "1", False, True),
    (False, "0", False, False),
    (False, None, True, True),
])
def test_distributed_requested_by_flag_env_or_config(monkeypatch, flag, env, initialize, want):
    if env is None:
        monkeypatch.delenv(process_setup.DISTRIBUTED_ENV, raising=False)
    else:
        monkeypatch.setenv(process_setup.DISTRIBUTED_ENV, env)
    config = get_config("tiny")
    config.distributed.initialize = initialize
    assert process_setup.distributed_requested(config, flag) is want


def test_initialize_passes_the_coordinator_only_when_configured(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.delenv(process_setup.DISTRIBUTED_ENV, raising=False)
    config = get_config("tiny")
    assert not process_setup.maybe_initialize_distributed(config)
    assert process_setup.maybe_initialize_distributed(config, flag=True)
    config.distributed.update(coordinator_address="10.0.0.1:1234", num_processes=4, process_id=2)
    assert process_setup.maybe_initialize_distributed(config, flag=True)
    assert calls == [{}, dict(coordinator_address="10.0.0.1:1234", num_processes=4,
                              process_id=2)]
