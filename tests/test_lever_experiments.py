"""The four seed's-levers experiments, end to end at smoke size: each runs one
arm (the one with the most machinery: mastery gates; the filtered web pool;
retry traces with the misconception's probes; surface forms with the seen and
unseen-form sets) through ``rtt_jax.experiments.run --variant=smoke``, its
pools step included, and its report carries the experiment's own metrics."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from xla_flags import xla_flags

ARMS = {"curriculum": "mastery", "data_quality": "web_filtered",
        "flawed_traces": "retry_60", "diverse_traces": "surface"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARMS))
def test_lever_experiment_smoke_runs_end_to_end(tmp_path, name):
    arm = ARMS[name]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags())  # one device: fast start-up
    proc = subprocess.run(
        [sys.executable, "-m", "rtt_jax.experiments.run", f"--experiment={name}",
         "--variant=smoke", f"--out={tmp_path}", f"--arms={arm}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    entry = res["arms"][arm]
    assert entry["seeds_completed"] == 1, entry["missing"]
    metrics = entry["metrics"]
    assert set(metrics) == set(res["metric_info"])
    md = (tmp_path / "results.md").read_text()
    assert "## Experiment metrics" in md
    if name == "curriculum":
        assert metrics["auc_L8"]["n"] == 1  # periodic evaluation ran: gates could read it
    elif name == "data_quality":
        assert metrics["auc_heldout"]["n"] == 1 and metrics["train_test_gap"]["n"] == 1
        card = res["steps"]["pools"]["seed_0"]["pools"][arm]
        assert card["records"] == 8 * 8 and card["filter"]["kept"] == 64
    elif name == "flawed_traces":
        assert metrics["buggy_probability"]["n"] == 1  # read from log-probabilities
        assert res["steps"]["pools"]["seed_0"]["pools"][arm]["kinds"]["retry"] > 0
    else:
        assert {"seen", "surface"} <= set(entry["summary"])
        assert metrics["unseen_surface"]["n"] == 1
