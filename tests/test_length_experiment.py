"""The length_generalization experiment: its self-improvement rounds are wired
to sample the frontier from round to round, and its smoke variant runs end to
end."""
import json
import os
import subprocess
import sys

import pytest

from rtt_jax.experiments import plan
from xla_flags import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _flags(run) -> dict:
    return dict(a[2:].split("=", 1) for a in run.argv if a.startswith("--") and "=" in a)


def test_star_rounds_sample_the_frontier_of_the_previous_round(tmp_path):
    path = plan.experiment_path("length_generalization")
    exp = plan.load_experiment(path).EXPERIMENT
    runs = plan.plan(path, exp, "cpu", str(tmp_path), seeds=[0], arms=["traces_star2"])
    order = [r.key for r in runs]
    assert order == ["traces/seed_0", "traces_sample1/seed_0", "traces_star1/seed_0",
                     "traces_sample2/seed_0", "traces_star2/seed_0"]
    first, second = (_flags(r) for r in runs if r.kind == "step")
    assert "level" not in first and "level" not in second
    assert (first["frontier_from"], first["max_level"]) == ("9", "24")
    assert first["frontier_from"] == second["frontier_from"]
    assert first["previous"] == "" and second["previous"].endswith("traces_sample1/seed_0/traces")
    assert first["workdir"].endswith("runs/traces/seed_0")
    assert second["config"].endswith(":cpu/traces_star1")
    star1 = _flags(runs[2])
    assert star1["config.data.sources.star.path"].endswith("traces_sample1/seed_0/traces")
    # The rounds sample in the style their base arm trains on.
    base = plan.load_experiment(path).get_config("cpu/traces")
    assert first["style"] == base.data.sources.task.styles


@pytest.mark.slow
def test_smoke_variant_runs_the_recommended_arm(tmp_path):
    out = tmp_path / "lg"
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags())
    proc = subprocess.run(
        [sys.executable, "-m", "rtt_jax.experiments.run", "--experiment=length_generalization",
         "--variant=smoke", f"--out={out}", "--arms=traces"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    sets = res["arms"]["traces"]["sets"]
    assert {"modular/L1", "modular/L2", "modular/L4"} <= set(sets)
    assert all(0.0 <= s["answer_accuracy"]["mean"] <= 1.0 for s in sets.values())
