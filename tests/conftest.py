"""Test set-up: 8 fake CPU devices, set before jax is imported anywhere."""
import dataclasses
import fcntl
import os
import pathlib
import shutil
from typing import Any

import pytest

from xla_flags import CHEAP_COMPILE  # nothing above imports JAX: the flags below come first


# Cheap compiles (tests/xla_flags.py) unless the caller set an optimisation level.
_cheap = "" if "xla_backend_optimization_level" in os.environ.get("XLA_FLAGS", "") else CHEAP_COMPILE
os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8", _cheap]).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many tests compile the same tiny programs; a persistent cache shared by the
# test processes (and subprocesses) turns repeat compiles into cache hits. Every
# program is cached, however fast it compiled: which ones hit must not depend
# on how loaded the machine was when they first compiled.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", "/tmp/rtt_jax_test_jax_cache")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

REPO = pathlib.Path(__file__).resolve().parents[1]  # the checkout: subprocess cwd, fixtures


def pytest_collection_modifyitems(config, items):
    """Modules with slow tests first, each module's tests together and in their
    order (a stable sort; module fixtures are still built once). With one
    worker per core, the long tests then start early and the many short ones
    fill in around them, instead of a long test running alone at the end while
    the other core idles."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow)


@pytest.fixture
def tiny_config():
    from rtt_jax.configs.base import get_config
    c = get_config("tiny")
    c.checkpoint.async_save = False
    return c


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """The suite's one trained workdir (``trained_run``)."""

    workdir: pathlib.Path  # read it only; copy it (``shutil.copytree``) to write into it
    losses: dict  # step -> loss, from its metrics.jsonl
    _config: Any

    def config(self):
        """``tiny`` as it was trained (a fresh copy each call: change it freely)."""
        return self._config.copy_and_resolve_references()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, request) -> TrainedRun:
    """``tiny``: 6 steps on one device, synchronous checkpoints at steps 3 and 6.

    Trained once per test session and shared by every test that needs a
    trained checkpoint or an uninterrupted reference: resume, restore onto
    other meshes and host counts compare with it; evaluation, serving and the
    checkpoint teacher read it. The first pytest-xdist worker to ask trains it
    into the session's shared temporary directory; the others wait for it
    (a file lock) and read it. Read-only: a test that writes into a workdir
    copies it first."""
    from rtt_jax.configs.base import get_config
    config = get_config("tiny")
    config.train.steps = 6
    config.checkpoint.update(every_steps=3, async_save=False)
    if not hasattr(request.config, "workerinput"):  # one process: no one to share with
        workdir = tmp_path_factory.mktemp("trained_run")
        return TrainedRun(workdir, _train_once(config, workdir), config)
    shared = tmp_path_factory.getbasetemp().parent  # this session's, common to its workers
    with open(shared / "trained_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the holder ends, even if it dies
        workdir = shared / "trained_run"
        if not (workdir / "trained.ok").exists():
            shutil.rmtree(workdir, ignore_errors=True)  # a holder that died part-way
            workdir.mkdir()
            _train_once(config, workdir)
            (workdir / "trained.ok").write_text("")
    from run_outputs import losses
    return TrainedRun(workdir, losses(workdir), config)


def _train_once(config, workdir) -> dict:
    import jax

    from in_process import train_config
    from run_outputs import losses
    train_config(config, str(workdir), jax.devices()[:1])
    return losses(workdir)
