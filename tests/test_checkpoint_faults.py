"""Checkpoint faults: kills at every stage of a save, one run per workdir,
damaged steps set aside, disk full, NaN naming a verified step (issue 13).

The kill test runs this file as a driver (``python tests/test_checkpoint_faults.py
kill ...``): the driver imports JAX once without starting a backend and forks
one child per run, so 20+ killed runs cost their training time, not 20+
interpreter and library start-ups. Each child dies by ``os._exit(137)`` at a
named point of a save (rtt_jax/train/checkpoint_faults.py), not by timing luck.
"""
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import pytest

from conftest import REPO
from hang_guard import hang_guard
from run_outputs import losses as run_losses
from xla_flags import xla_flags

# Subprocesses, several processes or real training runs: `make test` only.
# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("checkpoint_faults")]

KILL_ENV = "RTT_JAX_CKPT_KILL_AT"


def _assert_same_losses(got, ref, context=""):
    for s, loss in got.items():
        assert loss == pytest.approx(ref[s], rel=1e-6, abs=0), (context, s)


def _cfg(steps, every, async_save):
    from rtt_jax.configs.base import get_config
    cfg = get_config("tiny")
    cfg.train.steps = steps
    cfg.checkpoint.update(every_steps=every, max_to_keep=3, async_save=async_save)
    return cfg


# -- 1. kill-safe restarts ------------------------------------------------------------

KILL_STEPS, KILL_EVERY = 12, 2
_BEFORE_COMMIT = ("step_tmp_created", "item_tmp_created", "items_written", "item_renamed",
                  "step_finalize", "step_commit_written")


def _kill_schedule():
    """(point@step, expected newest complete step afterwards). Saves every 2
    steps, keep 3: each killed restart resumes from the previous kill's leftovers."""
    plan = [("after_rename@2", 2)]
    plan += [(f"{p}@4", 2) for p in _BEFORE_COMMIT]      # every stage before the commit
    plan += [("after_rename@4", 4)]
    plan += [(f"{p}@6", 4) for p in _BEFORE_COMMIT[::-1]]
    plan += [("gc_partial@2", 8)]                         # dies half-way deleting step 2 after saving 8
    plan += [(f"{p}@10", 8) for p in ("step_tmp_created", "items_written", "step_commit_written")]
    plan += [("after_rename@10", 10), ("step_finalize@12", 10)]
    return plan


def _driver_kill(root):
    """Forked children: a reference run, then the schedule, then a clean finish."""
    import importlib
    import traceback

    importlib.import_module("tensorboardX")  # once here, not in every child (MetricWriter)
    from in_process import train_config as train  # imports JAX; no backend until a child runs
    cfg = _cfg(KILL_STEPS, KILL_EVERY, async_save=True)

    def child(workdir, spec):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if spec:
                    os.environ[KILL_ENV] = spec
                train(cfg, workdir, jax.devices()[:1])
            except BaseException:  # noqa: BLE001 - reported through the exit code
                traceback.print_exc()
                code = 1
            os._exit(code)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    ref, wd = os.path.join(root, "reference"), os.path.join(root, "killed")
    out = [{"spec": None, "rc": child(ref, None), "losses": run_losses(ref)}]
    for spec, _ in _kill_schedule() + [(None, KILL_STEPS)]:
        rc = child(wd, spec)
        print(f"{spec}: rc {rc}", file=sys.stderr, flush=True)
        ckpts = sorted(os.listdir(os.path.join(wd, "checkpoints")))
        out.append({"spec": spec, "rc": rc, "losses": run_losses(wd), "dir": ckpts})
    print("RESULT " + json.dumps(out), flush=True)


def test_kill_at_every_stage_of_saving_then_resume(tmp_path):
    """>= 20 kills, each at a named point of an async save, each followed by a
    restart from what it left: every restart continues the uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(KILL_ENV, None)
    r = subprocess.run([sys.executable, __file__, "kill", str(tmp_path)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for run in runs:
        run["losses"] = {int(s): v for s, v in run["losses"].items()}  # JSON keys are text
    ref = runs[0]
    assert ref["rc"] == 0 and sorted(ref["losses"]) == list(range(1, KILL_STEPS + 1))
    killed = runs[1:-1]
    assert len(killed) >= 20
    for run, (spec, newest) in zip(killed, _kill_schedule()):
        assert run["rc"] == 137, (spec, run["rc"], r.stderr[-3000:])  # died where asked
        _assert_same_losses(run["losses"], ref["losses"], spec)
        steps = [int(d) for d in run["dir"] if d.isdigit()]
        assert max(steps) == newest, (spec, run["dir"])
        assert not any(".corrupt" in d for d in run["dir"]), (spec, run["dir"])
    # The kills left what they should: tmp directories and a half-deleted step.
    assert any(d.endswith(".orbax-checkpoint-tmp") for d in killed[1]["dir"])
    final = runs[-1]
    assert final["rc"] == 0, r.stderr[-3000:]
    assert sorted(final["losses"]) == list(range(1, KILL_STEPS + 1))
    _assert_same_losses(final["losses"], ref["losses"], "final")
    assert not any("orbax-checkpoint-tmp" in d or ".corrupt" in d for d in final["dir"])


def test_leftover_tmp_directories_are_removed_before_the_manager_starts(tmp_path):
    """The layout of the issue-13 report: steps 27, 30, 33 intact plus a killed
    36.orbax-checkpoint-tmp/ holding data.orbax-checkpoint-tmp/."""
    from rtt_jax.train.checkpoint import Checkpointer
    d = tmp_path / "checkpoints"
    for step in (27, 30, 33):
        (d / str(step)).mkdir(parents=True)
    (d / "36.orbax-checkpoint-tmp" / "data.orbax-checkpoint-tmp").mkdir(parents=True)
    (d / "36.orbax-checkpoint-tmp" / "data.orbax-checkpoint-tmp" / "x").write_text("x")
    (d / "33" / "state.orbax-checkpoint-tmp").mkdir()
    ckpt = Checkpointer(str(d))
    try:
        assert sorted(os.listdir(d)) == ["27", "30", "33"]
        assert os.listdir(d / "33") == []
        assert ckpt.manager._options.cleanup_tmp_directories is False  # no racing thread
    finally:
        ckpt.close()
    reader = Checkpointer(str(d / "other"), read_only=True)  # readers touch nothing
    reader.close()
    assert not (d / "other").exists()


# -- 2. one run per workdir -------------------------------------------------------------

def _main_cmd(workdir, *extra):
    return [sys.executable, "-m", "rtt_jax.main", "--config=configs/base.py:tiny",
            f"--workdir={workdir}", *extra]


def test_second_run_on_a_workdir_stops_at_once(tmp_path):
    env = {**os.environ, "XLA_FLAGS": xla_flags(1)}
    steps = 6
    run1 = subprocess.Popen(_main_cmd(tmp_path, f"--config.train.steps={steps}",
                                      "--config.checkpoint.every_steps=3"),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lock = tmp_path / "run.lock"
    try:
        with hang_guard(300, "the first run never took the lock"):
            while run1.poll() is None:
                if lock.exists() and f" {run1.pid} " in lock.read_text():
                    break
                time.sleep(0.05)
        assert run1.poll() is None, run1.communicate()[1][-3000:]
        run1.send_signal(signal.SIGSTOP)  # a stopped holder still holds: no race with its end
        before = sorted(p.name for p in tmp_path.iterdir())
        # The holder is stopped, so a second run that waited for the lock would
        # never return; it must refuse at once, and touch nothing first.
        run2 = subprocess.run(_main_cmd(tmp_path), cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=600)
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    finally:
        run1.send_signal(signal.SIGCONT)
    assert run2.returncode != 0
    errors = [line for line in run2.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run2.stderr[-3000:]
    assert f"host {socket.gethostname()} pid {run1.pid}" in errors[0]
    assert "Traceback" not in run2.stderr
    out, err = run1.communicate(timeout=600)
    assert run1.returncode == 0, err[-3000:]
    assert sorted(run_losses(tmp_path)) == list(range(1, steps + 1))
    assert lock.read_text() == ""  # released on a clean exit


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    from rtt_jax.train import workdir_lock
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "run.lock").write_text(f"{socket.gethostname()} {dead.pid} 2026-01-01T00:00:00\n")
    with workdir_lock.hold(str(tmp_path)):
        assert (tmp_path / "run.lock").read_text().split()[:2] == [socket.gethostname(),
                                                                  str(os.getpid())]
        with pytest.raises(workdir_lock.WorkdirLockedError,
                           match=rf"in use by another run \(host {socket.gethostname()} "
                                 rf"pid {os.getpid()}"):
            workdir_lock.WorkdirLock(str(tmp_path)).acquire()  # a live holder is never taken
    stale = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
    assert len(stale) == 1 and f"pid {dead.pid}" in stale[0] and "no longer running" in stale[0]
    assert (tmp_path / "run.lock").read_text() == ""


def test_gs_workdir_is_not_locked_and_says_so(caplog):
    from rtt_jax.train import workdir_lock
    with workdir_lock.hold("gs://bucket/run") as lock:
        assert lock is None
    assert any("not locked" in r.getMessage() for r in caplog.records)


# -- 3. checked checkpoints ------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Eight uninterrupted steps on one device, synchronous saves every 2."""
    from in_process import train_config as train
    wd = tmp_path_factory.mktemp("reference")
    train(_cfg(8, 2, async_save=False), str(wd), jax.devices()[:1])
    return run_losses(wd)


def _array_file(step_dir):
    """The largest array data file of a step (OCDBT data under state/)."""
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(step_dir, "state"))
             for f in fs if os.sep + "d" + os.sep in os.path.join(d, f) + os.sep]
    return max(files, key=os.path.getsize)


def _damage(path, kind):
    size = os.path.getsize(path)
    if kind == "flipped_bytes":
        with open(path, "r+b") as f:
            for at in (size // 4, size // 2, 3 * size // 4):
                f.seek(at)
                b = f.read(1)
                f.seek(at)
                f.write(bytes([b[0] ^ 0xFF]))
    elif kind == "truncated":
        os.truncate(path, size // 2)
    else:
        os.remove(path)


@pytest.mark.parametrize("kind", ["flipped_bytes", "truncated", "missing"])
def test_damaged_newest_step_is_set_aside_and_the_previous_used(reference, tmp_path, kind,
                                                                 caplog):
    from in_process import train_config as train
    cfg = _cfg(8, 2, async_save=False)
    train(cfg, str(tmp_path), jax.devices()[:1], stop_at_step=6)
    ckdir = tmp_path / "checkpoints"
    victim = _array_file(str(ckdir / "6"))
    _damage(victim, kind)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="absl")
    train(cfg, str(tmp_path), jax.devices()[:1])
    rejected = [r.getMessage() for r in caplog.records if "checkpoint rejected" in r.getMessage()]
    assert len(rejected) == 1 and f"{ckdir}/6:" in rejected[0], rejected
    assert "set aside as 6.corrupt-1" in rejected[0]
    aside = ckdir / "6.corrupt-1"
    moved = os.path.join(aside, os.path.relpath(victim, ckdir / "6"))
    assert os.path.exists(moved) == (kind != "missing")  # renamed with its damage, not deleted
    assert any("resumed from" in r.getMessage() and "at step 4" in r.getMessage()
               for r in caplog.records)
    losses = run_losses(tmp_path)
    assert sorted(losses) == list(range(1, 9))
    _assert_same_losses(losses, reference, kind)
    from rtt_jax.train.checkpoint import Checkpointer
    assert Checkpointer(str(ckdir), read_only=True).all_steps() == [4, 6, 8]  # 6 saved anew


def test_checkpoint_of_another_model_is_a_config_error_not_damage(reference, tmp_path):
    from rtt_jax.train.checkpoint import CheckpointError
    from in_process import train_config as train
    cfg = _cfg(4, 2, async_save=False)
    train(cfg, str(tmp_path), jax.devices()[:1])
    cfg.model.d_model = 96  # every weight changes shape
    cfg.train.steps = 6
    from rtt_jax.config_error import ConfigError
    # The workdir's config.json names the change before any restore is tried.
    with pytest.raises(ConfigError, match="trained with another model.*model.d_model: 64 -> 96"):
        train(cfg, str(tmp_path), jax.devices()[:1])
    # Without config.json (a workdir from before it existed), the restore itself says so.
    os.remove(tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="cannot restore checkpoint into this run's model"):
        train(cfg, str(tmp_path), jax.devices()[:1])
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]  # nothing set aside


def test_out_of_memory_on_restore_is_not_damage(tmp_path, monkeypatch):
    """A restore that fails for want of memory (or a flaky bucket) says nothing
    about the step's bytes: one clear error, nothing renamed."""
    from rtt_jax.train.checkpoint import CheckpointError, Checkpointer
    from in_process import train_config as train
    cfg = _cfg(2, 2, async_save=False)
    train(cfg, str(tmp_path), jax.devices()[:1])
    import orbax.checkpoint as ocp

    def oom(*args, **kwargs):
        raise ValueError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2TiB")

    monkeypatch.setattr(ocp.CheckpointManager, "restore", oom)
    with pytest.raises(CheckpointError, match="cannot be read now.*nothing was set aside"):
        train(_cfg(4, 2, async_save=False), str(tmp_path), jax.devices()[:1])
    assert os.listdir(tmp_path / "checkpoints") == ["2"]
    assert Checkpointer(str(tmp_path / "checkpoints"), read_only=True).all_steps() == [2]


def test_nan_names_only_a_verified_step(tmp_path, monkeypatch, caplog):
    """Step 4 is saved with a wrong checksum (a write that went bad): the NaN at
    step 5 stops the run and names step 2, the newest step that verifies, sets 4
    aside, and step 2 is what the workdir restores: finite params."""
    from rtt_jax.train import checkpoint
    from rtt_jax.train.loop import NonFiniteLossError
    from in_process import train_config as train
    real = checkpoint.state_checksums
    calls = []

    def bad_at_step_4(state):
        sums = real(state)
        calls.append(1)
        if len(calls) == 2:  # the second save is step 4
            key = sorted(sums)[0]
            sums[key] = "0" * 16
        return sums

    monkeypatch.setattr(checkpoint, "state_checksums", bad_at_step_4)
    cfg = _cfg(8, 2, async_save=False)
    cfg.debug.inject_nan_at_step = 5
    with pytest.raises(NonFiniteLossError, match=r"step 5: loss is nan.*step 2, verified"):
        train(cfg, str(tmp_path), jax.devices()[:1])
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4.corrupt-1"]
    import numpy as np
    from rtt_jax.config_validation import validate
    from rtt_jax.train.checkpoint import final_params
    _, params, step = final_params(validate(cfg), str(tmp_path), jax.devices()[:1])
    assert step == 2
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_disk_full_during_save_is_one_line_and_keeps_the_last_good_step(
        reference, tmp_path, monkeypatch, capfd):
    from orbax.checkpoint._src.handlers import json_checkpoint_handler
    from rtt_jax.train.checkpoint import CheckpointError, Checkpointer
    from in_process import train_config as train
    write = json_checkpoint_handler.JsonCheckpointHandler._save_fn

    async def full_at_step_6(self, x, directory):
        if f"{os.sep}6.orbax-checkpoint-tmp" in str(directory):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))
        return await write(self, x, directory)

    monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, "_save_fn",
                        full_at_step_6)
    cfg = _cfg(8, 2, async_save=True)  # the background-thread case
    capfd.readouterr()
    with pytest.raises(CheckpointError) as err:
        train(cfg, str(tmp_path), jax.devices()[:1])
    msg = str(err.value)
    assert "\n" not in msg and "no space left on device" in msg
    assert f"{tmp_path}/checkpoints/6.orbax-checkpoint-tmp" in msg and "(step 4)" in msg
    assert "Traceback" not in capfd.readouterr().err
    monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, "_save_fn", write)
    from rtt_jax.config_validation import validate
    from rtt_jax.train.checkpoint import final_params
    _, _, step = final_params(validate(cfg), str(tmp_path), jax.devices()[:1])  # restores and verifies
    assert step == 4
    train(cfg, str(tmp_path), jax.devices()[:1])  # space is back: continues from 4
    _assert_same_losses(run_losses(tmp_path), reference, "after disk full")
    assert Checkpointer(str(tmp_path / "checkpoints"), read_only=True).all_steps() == [4, 6, 8]


def test_checksums_do_not_depend_on_sharding_and_see_one_bit():
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from rtt_jax.train.checksum import state_checksums
    x = np.random.RandomState(0).randn(16, 24).astype(np.float32)
    mesh = jax.make_mesh((4, 2), ("a", "b"))
    tree = {"w": x, "h": x.astype(jax.numpy.bfloat16), "n": np.int32(7)}
    one = state_checksums(jax.device_put(tree, jax.devices()[0]))
    sharded = state_checksums({"w": jax.device_put(x, NamedSharding(mesh, P("a", "b"))),
                               "h": jax.device_put(tree["h"], NamedSharding(mesh, P(None, "a"))),
                               "n": tree["n"]})
    assert one == sharded
    y = x.copy()
    y.view(np.uint32)[3, 5] ^= 1
    assert state_checksums({**tree, "w": y})["['w']"] != one["['w']"]
    swapped = x.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    assert state_checksums({**tree, "w": swapped})["['w']"] != one["['w']"]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "kill":
    # conftest (imported above) set pytest's XLA flags and compilation cache in
    # os.environ, but after `import jax` read them: pass the cache on explicitly.
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
    _driver_kill(sys.argv[2])
