"""Test set-up: 8 fake CPU devices, set before jax is imported anywhere."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many tests compile the same tiny programs; a persistent cache shared by the
# test processes (and subprocesses) turns repeat compiles into cache hits.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", "/tmp/rtt_jax_test_jax_cache")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]  # the checkout: subprocess cwd, fixtures


@pytest.fixture
def tiny_config():
    from rtt_jax.configs.base import get_config
    c = get_config("tiny")
    c.checkpoint.async_save = False
    return c
