"""Evaluation wired into training and into `main --mode=eval`."""
import json
import shutil

import jax
import pytest

from cli_fork import run_module
from conftest import REPO
from in_process import train_config as train

# Subprocesses, several processes or real training runs: `make test` only.
pytestmark = pytest.mark.slow


def test_periodic_eval_writes_metrics_and_samples(tiny_config, tmp_path):
    cfg = tiny_config
    cfg.train.steps = 4
    cfg.eval.update(every_steps=2, n_per_level=2, levels=[1, 2], max_new_tokens=12)
    train(cfg, str(tmp_path), jax.devices()[:1])
    rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    eval_rows = [r for r in rows if any(k.startswith("eval/") for k in r)]
    assert [r["step"] for r in eval_rows] == [2, 4]
    assert 0.0 <= eval_rows[-1]["eval/all/answer_accuracy"] <= 1.0
    samples = [json.loads(line) for line in open(tmp_path / "samples.jsonl")]
    assert samples and {"step", "completion", "steps", "outcome"} <= set(samples[0])
    # Training rows are untouched by eval rows (one train row per step).
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]


def test_main_mode_eval_writes_report(trained_run, tmp_path):
    """The contract: W/config.json holds the resolved config the run trained
    with, and ``--mode=eval --workdir=W`` with no --config writes W/report.json,
    the same report as an evaluation with the config given. On a copy of the
    suite's trained run (conftest.trained_run: tiny, 6 steps) whose saved eval
    settings are made small (config.json is the record a reader trusts)."""
    from rtt_jax import workdir_config
    shutil.copytree(trained_run.workdir, tmp_path, dirs_exist_ok=True)
    saved = workdir_config.load(str(tmp_path))
    assert saved is not None and saved.train.steps == 6
    saved.eval.update(n_per_level=3, max_new_tokens=12, samples_per_set=2)
    workdir_config.save(saved, str(tmp_path))
    # On this process's 8 devices, as the in-process evaluation below.
    r = run_module("rtt_jax.main", ["--mode=eval", f"--workdir={tmp_path}"], cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.load(open(tmp_path / "report.json"))
    assert report["sets"]
    for name, entry in report["sets"].items():
        for key in ("answer_accuracy", "step_validity", "consistency", "n", "level", "family"):
            assert key in entry, (name, key)
        assert entry["n"] == 3
    assert any(e["trained"] is False for e in report["sets"].values())  # harder levels too
    samples = [json.loads(line) for line in open(tmp_path / "samples.jsonl")]
    per_set = {name: sum(s["set"] == name for s in samples) for name in report["sets"]}
    assert set(per_set.values()) == {2}, per_set  # eval.samples_per_set, not the default 3
    assert (tmp_path / "report.md").exists() and (tmp_path / "accuracy_by_level.png").exists()
    assert "eval step 6" in r.stdout
    # The same evaluation with the config given (in this process) scores the same.
    from rtt_jax.configs.base import get_config
    from rtt_jax.config_validation import validate
    from rtt_jax.evaluation.standalone import evaluate_workdir
    cfg = get_config("tiny")
    cfg.train.steps = 6
    cfg.checkpoint.update(every_steps=3, async_save=False)
    cfg.eval.update(n_per_level=3, max_new_tokens=12, samples_per_set=2)
    evaluate_workdir(validate(cfg), str(tmp_path))  # rewrites report.json

    def scores(sets):  # all but the scoring time
        return {name: {k: v for k, v in e.items() if k != "max_score_seconds"}
                for name, e in sets.items()}
    assert scores(json.load(open(tmp_path / "report.json"))["sets"]) == scores(report["sets"])


def test_print_config_prints_the_resolved_config(tmp_path):
    """--mode=print_config: --config with its overrides, as config.json holds
    it; from a workdir alone, the saved one; a bad field is a line after it."""
    from rtt_jax import workdir_config
    from rtt_jax.configs.experiments.lee2023 import get_config

    def main(*args):
        return run_module("rtt_jax.main", ["--mode=print_config", *args], cwd=REPO)
    r = main("--config=configs/experiments/lee2023.py:cpu/reversed_10k",
             "--config.train.steps=7")
    assert r.returncode == 0, r.stderr[-2000:]
    expected = get_config("cpu/reversed_10k")
    expected.train.steps = 7
    assert r.stdout == workdir_config.to_json(expected)  # callables and overrides resolved
    workdir_config.save(expected, str(tmp_path))
    r = main(f"--workdir={tmp_path}")
    assert r.returncode == 0 and r.stdout == workdir_config.to_json(expected)
    # Its fields overridden through configs/workdir.py.
    r = main(f"--config=configs/workdir.py:{tmp_path}", "--config.eval.n_per_level=9")
    assert r.returncode == 0, r.stderr[-2000:]
    expected.eval.n_per_level = 9
    assert r.stdout == workdir_config.to_json(expected)
    r = main("--config=configs/base.py:tiny", "--config.train.steps=0")
    assert r.returncode == 1 and json.loads(r.stdout)["train"]["steps"] == 0
    assert r.stderr.strip().splitlines()[-1].startswith("error: config.train.steps=0")
    r = main(f"--workdir={tmp_path / 'empty'}")
    assert r.returncode == 1 and r.stderr.strip().startswith("error: --config is required")


def test_eval_without_checkpoint_is_one_line(tmp_path):
    r = run_module("rtt_jax.main", ["--mode=eval", "--config=configs/base.py:tiny",
                                    f"--workdir={tmp_path}"], cwd=REPO)
    assert r.returncode == 1
    assert "no checkpoint to restore" in r.stderr and "Traceback" not in r.stderr


def test_external_sets_from_config(tiny_config):
    from rtt_jax.config_validation import validate
    from rtt_jax.evaluation.eval_sets import eval_sets_from_spec
    cfg = tiny_config
    cfg.eval.update(n_per_level=2, levels=[1], gsm8k_path=str(REPO / "tests/fixtures/gsm8k_test_head50.jsonl"),
                    gsm8k_n=5, rg_datasets=("gcd",))
    sets = eval_sets_from_spec(validate(cfg).eval)
    names = [s.name for s in sets]
    assert "gsm8k/test" in names and any(n.startswith("rg/gcd") for n in names)
    assert len(next(s for s in sets if s.name == "gsm8k/test").problems) == 5
