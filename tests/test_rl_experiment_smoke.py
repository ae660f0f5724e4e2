"""rl_after_sft at smoke size, end to end through the runner: the sft arm,
then an RL arm that starts from its workdir; results.json holds both and
the flops budget."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from xla_flags import xla_flags

pytestmark = pytest.mark.slow


def test_rl_after_sft_smoke_runs_an_rl_arm_after_the_sft_arm(tmp_path):
    out = tmp_path / "rl"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = xla_flags()  # one device per subprocess: faster start-up
    proc = subprocess.run(
        [sys.executable, "-m", "rtt_jax.experiments.run", "--experiment=rl_after_sft",
         "--variant=smoke", f"--out={out}", "--arms=grpo_process"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "results.json") as f:
        res = json.load(f)
    assert set(res["arms"]) == {"sft", "grpo_process"}
    assert all(a["seeds_completed"] == 1 for a in res["arms"].values()), \
        {arm: a["missing"] for arm, a in res["arms"].items()}
    assert res["budget"]["kind"] == "flops" and res["budget"]["flops_per_run"]["grpo_process"] > 0
    rl_run = out / "runs" / "grpo_process" / "seed_0"
    rows = [json.loads(line) for line in open(rl_run / "metrics.jsonl")]
    assert [r["step"] for r in rows if "reward" in r] == list(range(1, 11))
    with open(rl_run / "config.json") as f:
        config = json.load(f)
    assert config["rl"]["reward"] == "process"
    assert config["train"]["init_from"] == str(out / "runs" / "sft" / "seed_0")
