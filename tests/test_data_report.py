"""The data report: one entry per stage, with mixture, tokens, quality, duplicates, diversity."""
import json

import pytest

from cli_fork import run_module
from conftest import REPO
from rtt_jax.data.report import write_data_report


@pytest.mark.slow
def test_cli_writes_one_entry_per_stage(tmp_path):
    r = run_module("rtt_jax.data.report",
                   ["--config=configs/base.py:tiny", f"--out={tmp_path}", "--n=200"], cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.load(open(tmp_path / "data_report.json"))
    assert [st["name"] for st in report["stages"]] == ["warmup", "main"]
    warm, main = report["stages"]
    assert set(warm["sources"]) == {"addition", "multiplication"}
    assert "subtraction" in main["sources"]
    assert sum(s["examples"] for s in warm["sources"].values()) == 200
    assert abs(warm["sources"]["addition"]["share_drawn"] - 0.7) < 0.1
    assert set(warm["sources"]["addition"]["levels"]) <= {"1", "2"}
    assert warm["examples"] and (tmp_path / "data_report.md").exists()
    assert (tmp_path / "tokens_per_source.png").exists()


def test_textbook_stage_gets_quality_scores(tiny_config, tmp_path):
    cfg = tiny_config
    cfg.data.stages = [dict(name="with_textbook", steps=10,
                            mixture=dict(addition=0.5, textbook=0.5),
                            levels=dict(addition="1-2", textbook="1-2"))]
    report = write_data_report(cfg, str(tmp_path), n=60)
    st = report["stages"][0]
    assert st["quality"]["scored"] == st["sources"]["textbook"]["examples"] > 0
    assert st["quality"]["share_passing_all_rules"] >= 0.8  # the generator writes clean prose
    tb = st["sources"]["textbook"]
    assert tb["target_tokens"] == tb["tokens"] - tb["examples"]  # all but each BOS


def test_report_runs_on_the_demo_config(tmp_path):
    from rtt_jax.configs.base import get_config
    report = write_data_report(get_config("cpu"), str(tmp_path), n=50)
    assert len(report["stages"]) == 2 and (tmp_path / "data_report.json").exists()
