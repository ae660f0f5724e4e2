"""End to end through absl: the CLI contract, overrides and SIGTERM.

The end-to-end properties are each proven once, at the cheapest level that
shows them: one device equals eight and a resumed run equals an uninterrupted
one in test_training.py (in-process); a SIGKILL at any moment resumes the same
losses in test_grain_training.py (the CLI, across worker counts) and at every
stage of a save in test_checkpoint_faults.py; a bad config is one line in
test_cli_bad_input.py (the table of every CLI's bad input)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cli_fork import run_module
from conftest import REPO
from hang_guard import hang_guard
from xla_flags import xla_flags

# Subprocesses, several processes or real training runs: `make test` only.
# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("main")]

STEPS = 12
BASE_ARGS = ["--config=configs/base.py:tiny", f"--config.train.steps={STEPS}",
             "--config.checkpoint.every_steps=4"]


def _cmd(workdir, *extra):
    return [sys.executable, "-m", "rtt_jax.main", *BASE_ARGS, f"--workdir={workdir}", *extra]


def _env(devices=8):
    env = dict(os.environ)
    env["XLA_FLAGS"] = xla_flags(devices)
    return env


def _run(workdir, *extra, devices=8):
    return run_module("rtt_jax.main", [*BASE_ARGS, f"--workdir={workdir}", *extra], cwd=REPO,
                      env=_env(devices))


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


def test_config_overrides_apply(straight_run):
    """--config.train.steps=12 and --config.checkpoint.every_steps=4 over tiny's
    defaults: 12 steps ran (tiny's own is longer) and saved at 4, 8 and 12."""
    from rtt_jax.configs.base import get_config
    tiny = get_config("tiny")
    assert (tiny.train.steps, tiny.checkpoint.every_steps) != (STEPS, 4)
    wd, _ = straight_run
    assert max(_losses(wd)[0]) == STEPS
    assert sorted(int(d) for d in os.listdir(os.path.join(wd, "checkpoints"))
                  if d.isdigit()) == [4, 8, 12]


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
    # train_eval: a preempted run must not evaluate, or its report.json would tell
    # the experiment runner that the run is complete.
    proc = subprocess.Popen(_cmd(tmp_path, "--config.checkpoint.every_steps=100",
                                 "--mode=train_eval"), cwd=REPO,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(tmp_path, "metrics.jsonl")
    with hang_guard(300, "step 3 never came"):
        while proc.poll() is None:
            if os.path.exists(metrics) and len(open(metrics).readlines()) >= 3:
                break
            time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    steps = [int(d) for d in os.listdir(os.path.join(tmp_path, "checkpoints")) if d.isdigit()]
    assert steps and max(steps) < STEPS  # saved where it stopped, not at the end
    assert not os.path.exists(os.path.join(tmp_path, "report.json"))
    assert "stopped early at step" in out and "not evaluating" in out
