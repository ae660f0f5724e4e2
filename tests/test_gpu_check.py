"""bench/gpu_check.py, the one script for a lent GPU, checked on a CPU.

No GPU is needed: ``--dry_run`` runs the sections at toy sizes (the cuDNN
comparison becomes ``dot_product_attention`` against the XLA kernel), which
is what proves the script will run when a device is lent. Its figures are
not asserted beyond being there and finite: tests never time anything.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from bench import gpu_check

SCRIPT = gpu_check.__file__


def test_golden_values_are_the_training_tests():
    import test_training
    assert gpu_check.golden_values() == test_training.GOLDEN


def test_summary_line_reads_every_section():
    result = {
        "env": {"backend": "gpu"},
        "golden": {"scan_layers=True": {"ok": True}, "scan_layers=False": {"ok": True}},
        "attention": {"fwd_max_abs_err": 0.0078125},
        "throughput": {"attention=auto": {"tok_s": 123456.0, "mfu": 0.4512},
                       "attention=xla": {"error": "XlaRuntimeError: RESOURCE_EXHAUSTED"}},
        "deterministic_cost": {"slowdown": 1.08},
        "resume": {"default": {"resumed_equal": False}, "deterministic_ops": {"resumed_equal": True},
                   "exclude_nondeterministic_plus_autotune_cache": {"skipped": "time budget spent"}},
        "scan_off": {"skipped": "time budget spent (400 s > 330 s)"},
    }
    assert gpu_check.summary(result) == (
        "gpu_check golden_ok=True attention_fwd_err=0.007812 tok_s=1.235e+05 mfu=0.4512 "
        "mfu_xla_attention=na deterministic_slowdown=1.08 resume_equal_default=False "
        "resume_equal_deterministic_ops=True "
        "resume_equal_exclude_nondeterministic_plus_autotune_cache=na mfu_scan_off=na "
        "failed=throughput")
    result["golden"]["scan_layers=False"]["ok"] = False
    assert "golden_ok=False" in gpu_check.summary(result)
    assert gpu_check.summary({}).endswith("mfu_scan_off=na failed=none")


@pytest.mark.slow
def test_unknown_section_is_one_error_line():
    p = subprocess.run([sys.executable, SCRIPT, "--sections", "golden,speed"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "error: --sections: unknown ['speed']; known: " + ",".join(gpu_check.SECTIONS)]


@pytest.mark.slow
def test_dry_run_writes_figures_and_summary(tmp_path):
    """The attention and throughput sections end to end at toy sizes on CPU
    (the resume and deterministic-cost sections spawn fresh processes that
    train: ``--dry_run`` with every section checks those by hand, see
    docs/benchmarks.md)."""
    p = subprocess.run([sys.executable, SCRIPT, "--dry_run", "--quick", "--steps", "1",
                        "--sections", "attention,throughput", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads((tmp_path / "gpu_check.json").read_text())
    assert out["env"]["dry_run"] and out["env"]["backend"] == "cpu"
    assert "error" not in out["attention"] and "error" not in out["throughput"], out
    assert out["attention"]["fwd_max_abs_err"] < 0.05  # bf16, toy shapes
    auto = out["throughput"]["attention=auto"]
    assert auto["tok_s"] > 0 and 0 < auto["mfu"] < 1 and math.isfinite(auto["compile_and_first_step_s"])
    assert out["throughput"]["model"]["params_M"] > 0
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("gpu_check golden_ok=na attention_fwd_err=")
    assert f"mfu={auto['mfu']:.4g}" in last and last.endswith("failed=none")
