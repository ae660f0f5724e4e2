"""End to end through absl: the CLI contract, config errors, kill/resume, SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from hang_guard import hang_guard

# Subprocesses, several processes or real training runs: `make test` only.
pytestmark = pytest.mark.slow

STEPS = 12
BASE_ARGS = ["--config=configs/base.py:tiny", f"--config.train.steps={STEPS}",
             "--config.checkpoint.every_steps=4"]


def _cmd(workdir, *extra):
    return [sys.executable, "-m", "rtt_jax.main", *BASE_ARGS, f"--workdir={workdir}", *extra]


def _env(devices=8):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def _run(workdir, *extra, devices=8):
    return subprocess.run(_cmd(workdir, *extra), cwd=REPO, env=_env(devices),
                          capture_output=True, text=True, timeout=600)


def _losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return {r["step"]: r["loss"] for r in rows}, rows


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("straight")
    r = _run(wd)
    assert r.returncode == 0, r.stderr[-2000:]
    return wd, r


def test_main_contract_metrics_rows(straight_run):
    wd, r = straight_run
    losses, rows = _losses(wd)
    assert sorted(losses) == list(range(1, STEPS + 1))  # tiny logs every step
    for row in rows:
        for key in ("step", "loss", "learning_rate", "grad_norm", "tokens_per_sec", "mfu"):
            assert key in row
    assert losses[STEPS] < losses[1]
    assert "mesh {'data': 8, 'fsdp': 1, 'tensor': 1}" in r.stderr
    assert os.listdir(os.path.join(wd, "tensorboard"))
    assert f"done: step {STEPS}" in r.stdout


def test_one_device_matches_eight(straight_run, tmp_path):
    r = _run(tmp_path, devices=1)
    assert r.returncode == 0, r.stderr[-2000:]
    ref, _ = _losses(straight_run[0])
    got, _ = _losses(tmp_path)
    for s in ref:
        assert got[s] == pytest.approx(ref[s], rel=1e-4)


def test_sigkill_at_any_moment_then_resume(straight_run, tmp_path):
    proc = subprocess.Popen(_cmd(tmp_path), cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = os.path.join(tmp_path, "metrics.jsonl")
    finalized = os.path.join(tmp_path, "checkpoints", "4")  # renamed from tmp when complete
    with hang_guard(300, "step 6 never came"):
        while proc.poll() is None:
            if os.path.isdir(finalized) and len(open(metrics).readlines()) >= 6:
                break
            time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-run, possibly mid-save of step 8
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed from" in r.stderr
    ref, _ = _losses(straight_run[0])
    got, rows = _losses(tmp_path)
    assert [row["step"] for row in rows] == list(range(1, STEPS + 1))  # no duplicate rows
    assert got[STEPS] == pytest.approx(ref[STEPS], rel=1e-6)


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
    proc = subprocess.Popen(_cmd(tmp_path, "--config.checkpoint.every_steps=100"), cwd=REPO,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(tmp_path, "metrics.jsonl")
    while proc.poll() is None:
        if os.path.exists(metrics) and len(open(metrics).readlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    steps = [int(d) for d in os.listdir(os.path.join(tmp_path, "checkpoints")) if d.isdigit()]
    assert steps and max(steps) < STEPS  # saved where it stopped, not at the end


@pytest.mark.parametrize("arg,expected", [
    ("--config.train.stpes=3", "stpes"),
    ("--config.train.steps=abc", "steps"),
    ("--config.train.microbatches=3", "config.train.microbatches=3: expected a divisor"),
    ("--config.model.n_kv_heads=3", "n_kv_heads=3 must divide"),
    ("--config.mesh.tensor=3", "mesh"),
])
def test_bad_config_is_one_clear_line(tmp_path, arg, expected):
    r = _run(tmp_path, arg)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if expected in line]
    assert lines, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_config_override_applies(tmp_path):
    r = _run(tmp_path, "--config.train.steps=2", "--config.train.log_every_steps=2")
    assert r.returncode == 0, r.stderr[-2000:]
    _, rows = _losses(tmp_path)
    assert [row["step"] for row in rows] == [2]
