"""--mode=compile_only: the train step lowered and compiled for a target size,
per-device memory against HBM, and one-line errors for configs that cannot run."""
import re

import jax
import pytest

from cli_fork import run_module
from conftest import REPO
from rtt_jax.config_validation import ConfigError, validate
from rtt_jax.train import compile_only

TINY = "--config=configs/base.py:tiny"
# absl's own log lines (C++ warnings from XLA too) are not part of an error.
_ABSL_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


def _cli(*args):
    return run_module("rtt_jax.main", ["--mode=compile_only", TINY, *args], cwd=REPO)


def _error_lines(proc):
    return [ln for ln in proc.stderr.splitlines() if ln.strip() and not _ABSL_LOG.match(ln)]


def test_compile_check_reports_per_device_memory(tiny_config):
    tiny_config.hardware.chip = "v5e"
    tiny_config.mesh.update(data=4, fsdp=2)
    report = compile_only.compile_check(validate(tiny_config), jax.devices()[:8], "tiny")
    assert report.mesh == {"data": 4, "fsdp": 2, "tensor": 1}
    assert report.params > 0 and report.memory["temporary"] > 0
    # Arguments are this device's shard of the state (+ its rows of the batch).
    assert report.memory["argument"] >= report.params_bytes + report.optimizer_bytes
    assert report.fits is True and report.hbm == 16 * compile_only.GiB
    text = "\n".join(report.lines())
    for word in ("argument", "output", "temporary", "generated code", "total",
                 "HBM per device: 16.00 GiB (v5e); fits: yes", "estimate of the TPU's"):
        assert word in text


def test_state_alone_over_hbm_fails_before_compiling(tiny_config):
    tiny_config.hardware.hbm_bytes = 1_000_000
    with pytest.raises(ConfigError, match="^tiny: does not fit: params \\+ optimizer state "
                                          "alone .* per device > HBM 976.56 KiB"):
        compile_only.compile_check(validate(tiny_config), jax.devices()[:8], "tiny")


def test_target_device_count_and_hbm_from_config(tiny_config):
    assert compile_only.target_device_count(tiny_config) is None  # data=-1: these devices
    tiny_config.mesh.update(data=2, fsdp=4)
    assert compile_only.target_device_count(tiny_config) == 8
    tiny_config.hardware.device_count = 16
    assert compile_only.target_device_count(tiny_config) == 16
    tiny_config.hardware.chip = "v5p"
    assert compile_only.hbm_bytes(tiny_config)[0] == 95 * compile_only.GiB
    tiny_config.hardware.hbm_bytes = 123
    assert compile_only.hbm_bytes(tiny_config)[0] == 123
    tiny_config.hardware.update(chip="v9", hbm_bytes=0)
    with pytest.raises(ConfigError, match="config.hardware.chip='v9'"):
        compile_only.hbm_bytes(tiny_config)


@pytest.mark.slow
def test_cli_compiles_for_the_target_device_count():
    # conftest's XLA_FLAGS give 8 devices; the target asks for 4 and gets them.
    proc = _cli("--config.hardware.device_count=4", "--config.hardware.chip=v5e")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "compiled for: 4 fake CPU devices" in out and "mesh data=4 fsdp=1 tensor=1" in out
    for label in ("argument", "output", "temporary", "generated code", "total"):
        assert re.search(rf"^    {label} +\d", out, re.M), out
    assert "fits: yes" in out
    assert not _error_lines(proc), proc.stderr[-2000:]


@pytest.mark.parametrize("args, expected", [
    # The compiled total (a few MiB) is over this HBM; the state alone is not.
    (["--config.hardware.device_count=8", "--config.hardware.hbm_bytes=3000000"],
     "configs/base.py:tiny --config.hardware.device_count=8 --config.hardware.hbm_bytes=3000000:"
     " does not fit: compiled total"),
    (["--config.hardware.device_count=8", "--config.mesh.fsdp=3"],
     "config.mesh: 8 devices are not divisible by the fixed axes (product 3) (target: 8 fake CPU devices)"),
    (["--config.hardware.device_count=8", "--config.data.global_batch_size=12"],
     "config.data.global_batch_size=12 is not divisible by the batch axes data x fsdp = 8 x 1"),
], ids=["over_hbm", "mesh_vs_devices", "batch_vs_mesh"])
@pytest.mark.slow
def test_cli_errors_are_one_line(args, expected):
    proc = _cli(*args)
    lines = _error_lines(proc)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    if "hbm" in args[-1]:
        assert "> HBM 2.86 MiB" in lines[0] and "total" in proc.stdout  # the table came first
