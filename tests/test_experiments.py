"""The experiment runner: statistics on known inputs, overrides and budgets,
and a miniature experiment (2 arms x 2 seeds + a broken arm) end to end."""
from __future__ import annotations

import json
import math
import os

import pytest

from cli_fork import run_module
from rtt_jax.experiments import seed_stats
from rtt_jax.experiments.definition import (Arm, Experiment, ExperimentError, apply_overrides,
                                      check_budget)

# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = pytest.mark.xdist_group("experiments")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINI = os.path.join(ROOT, "tests", "fixtures", "experiments", "mini.py")


# --- statistics on known inputs ---------------------------------------------------------

def test_mean_std_known_values_and_missing_values_are_dropped_not_zero():
    ms = seed_stats.mean_std([0.5, 0.7, None, float("nan")])
    assert ms["n"] == 2 and ms["mean"] == pytest.approx(0.6)
    assert ms["std"] == pytest.approx(math.sqrt(0.02))  # ddof=1
    assert seed_stats.mean_std([0.3]) == {"mean": 0.3, "std": 0.0, "n": 1, "values": [0.3]}
    assert seed_stats.mean_std([None])["mean"] is None


def test_paired_t_interval_matches_hand_computation():
    d = seed_stats.difference({0: 0.8, 1: 0.6}, {0: 0.5, 1: 0.4})
    assert d["method"] == "paired-t" and d["n_pairs"] == 2
    assert d["diff"] == pytest.approx(0.25)
    half = 12.7062047 * math.sqrt(0.005) / math.sqrt(2)  # t_{1, .975} * sd / sqrt(n)
    assert d["ci"] == pytest.approx([0.25 - half, 0.25 + half], rel=1e-6)
    assert seed_stats.significant(d) is False  # two seeds: wide
    three = seed_stats.difference({0: 0.9, 1: 0.91, 2: 0.92}, {0: 0.1, 1: 0.12, 2: 0.11})
    assert three["ci"][0] > 0 and seed_stats.significant(three)


def test_single_seed_falls_back_to_binomial_and_unpaired_seeds_are_not_paired():
    d = seed_stats.difference({0: 0.8}, {0: 0.5}, n_problems=100)
    pa, pb = 81 / 102, 51 / 102  # Agresti-Caffo: one success and one failure added
    half = 1.959964 * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 102)
    assert d["method"] == "binomial" and d["diff"] == pytest.approx(0.3)
    assert d["ci"] == pytest.approx([pa - pb - half, pa - pb + half], rel=1e-5)
    zero = seed_stats.difference({0: 0.0}, {0: 0.0}, n_problems=100)["ci"]
    assert zero[0] < 0 < zero[1]  # no degenerate [0, 0] interval at rates of 0
    unpaired = seed_stats.difference({0: 0.8}, {1: 0.5}, n_problems=100)
    assert unpaired["diff"] == pytest.approx(0.3) and unpaired["ci"] is None
    assert seed_stats.difference({}, {0: 0.5})["diff"] is None


def test_mean_curve_uses_common_steps():
    c = seed_stats.mean_curve([{1: 2.0, 2: 1.0}, {1: 4.0, 2: 3.0, 3: 0.5}])
    assert sorted(c) == [1, 2] and c[1]["mean"] == 3.0 and c[2]["std"] == pytest.approx(math.sqrt(2))


# --- specs: overrides and budgets -------------------------------------------------------

def _config():
    from rtt_jax.configs.base import get_config
    return get_config("tiny")


def test_overrides_set_nested_fields_and_list_items_and_reject_unknown_paths():
    c = apply_overrides(_config(), {"train.steps": 7, "data.stages.1.levels.addition": "1-4"})
    assert c.train.steps == 7 and c.data.stages[1]["levels"]["addition"] == "1-4"
    with pytest.raises(ExperimentError, match="no field 'stepz'"):
        apply_overrides(_config(), {"train.stepz": 1}, where="arm x")
    with pytest.raises(ExperimentError, match="not an index"):
        apply_overrides(_config(), {"data.stages.9.name": "x"})


def test_token_budget_must_be_equal_across_arms():
    exp = Experiment("e", "c", (Arm("a"), Arm("b")), baseline="a")
    a, b = _config(), _config()
    assert check_budget(exp, {"a": a, "b": b})["tokens_per_run"]["a"] == 40 * 16 * 64
    b.train.steps = 41
    with pytest.raises(ExperimentError, match="different token positions"):
        check_budget(exp, {"a": a, "b": b})


def test_experiment_definition_errors_name_the_problem():
    with pytest.raises(ExperimentError, match="baseline 'z' is not an arm"):
        Experiment("e", "c", (Arm("a"),), baseline="z")
    with pytest.raises(ExperimentError, match="duplicate arm"):
        Experiment("e", "c", (Arm("a"), Arm("a")), baseline="a")
    with pytest.raises(ExperimentError, match="budget"):
        Experiment("e", "c", (Arm("a"),), baseline="a", budget="seconds")  # not a budget ("flops" is one)


# --- the shipped experiments ------------------------------------------------------------

SHIPPED = ["traces_vs_answer", "logic_traces_vs_answer", "curriculum", "data_quality",
           "flawed_traces", "diverse_traces", "lee2023", "word_problems",
           "counting_traces_vs_answer", "expressions_traces_vs_answer", "length_generalization"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_experiment_arms_build_valid_configs_on_equal_budget(name):
    from rtt_jax import config_validation
    from rtt_jax.experiments import plan
    module = plan.load_experiment(plan.experiment_path(name))
    exp = module.EXPERIMENT
    assert {"cpu", "tpu"} <= set(exp.seeds)
    for variant in exp.seeds:  # every variant the experiment has seeds for
        configs = {arm: module.get_config(f"{variant}/{arm}") for arm in exp.arm_names}
        for c in configs.values():
            config_validation.validate(c)
        check_budget(exp, configs)
    # several seeds for error bars (the CPU reproduction of Lee et al. runs one, for time)
    assert len(exp.seeds_for("tpu")) >= 3
    assert len(exp.seeds_for("cpu")) >= (1 if name == "lee2023" else 3)
    # the arms really differ (in their configs, or in what their runs set on top:
    # self-improvement rounds differ only in the dataset a step wrote)
    cpu = [module.get_config(f"cpu/{arm}").to_json() + repr(sorted(exp.arm(arm).run_sets.items()))
           for arm in exp.arm_names]
    assert len(set(cpu)) == len(cpu)


# --- the miniature experiment, end to end ------------------------------------------------

def _run(out, *extra):
    return run_module("rtt_jax.experiments.run",
                      [f"--experiment={MINI}", "--variant=cpu", f"--out={out}", *extra], cwd=ROOT)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    out = tmp_path_factory.mktemp("mini")
    proc = _run(out)
    # The broken arm's runs fail: the runner says so and exits 1 (not 2: no bad input).
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_mini_experiment_writes_results_with_the_contract_schema(mini):
    out, proc = mini
    path = out / "results.json"
    assert proc.stdout.strip().splitlines()[-1] == f"results: {path}"
    res = json.loads(path.read_text())
    assert res["budget"]["kind"] == "tokens" and res["baseline"] == "answer_only"
    assert set(res["arms"]) == {"traces", "answer_only", "broken"}
    for arm in ("traces", "answer_only"):
        entry = res["arms"][arm]
        assert entry["seeds_completed"] == 2 and entry["seeds"] == [0, 1] and not entry["missing"]
        for name in ("addition/L1", "addition/L2", "addition/L3"):
            acc = entry["sets"][name]["answer_accuracy"]
            assert acc["n"] == 2 and len(acc["values"]) == 2
            assert 0.0 <= acc["mean"] <= 1.0 and acc["std"] >= 0.0
            assert "step_validity" in entry["sets"][name]
    # the per-seed values are exactly the runs' own report.json values
    for seed in (0, 1):
        report = json.loads((out / "runs" / "traces" / f"seed_{seed}" / "report.json").read_text())
        got = res["arms"]["traces"]["sets"]["addition/L1"]["answer_accuracy"]["values"][seed]
        assert got == report["sets"]["addition/L1"]["answer_accuracy"]
    diff = res["arms"]["traces"]["diff_vs_baseline"]["addition/L1"]["answer_accuracy"]
    assert diff["method"] == "paired-t" and diff["n_pairs"] == 2
    assert res["curves"]["traces"]["step"][-1] == 6
    assert (out / "results.md").exists() and (out / "accuracy_vs_level.png").exists()
    assert (out / "learning_curves.png").exists()


@pytest.mark.slow
def test_failed_runs_are_reported_missing_never_as_zero(mini):
    out, proc = mini
    res = json.loads((out / "results.json").read_text())
    broken = res["arms"]["broken"]
    assert broken["seeds_completed"] == 0
    assert [m["seed"] for m in broken["missing"]] == [0, 1]
    assert all("no_such_family" in m["reason"] for m in broken["missing"]), broken["missing"]
    assert broken["sets"]["addition/L1"]["answer_accuracy"]["mean"] is None
    md = (out / "results.md").read_text()
    assert "Missing runs" in md and "`broken` seed 0" in md
    assert "FAILED" in proc.stdout


@pytest.mark.slow
def test_a_failed_run_exits_non_zero_after_the_table_with_its_error_line(mini):
    """After the table, one error line per run that did not complete; exit 1.
    --allow_missing prints the same lines and exits 0."""
    out, proc = mini
    assert "results: " in proc.stdout  # the table and results were still written
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert [ln.split(":")[1].strip() for ln in errors] == [
        "mini broken/seed_0", "mini broken/seed_1"], proc.stderr[-2000:]
    assert all("no_such_family" in ln for ln in errors), errors
    again = _run(out, "--collect_only", "--allow_missing")
    assert again.returncode == 0, again.stderr[-2000:]
    assert [ln for ln in again.stderr.splitlines() if ln.startswith("error:")] == errors


@pytest.mark.slow
def test_rerun_skips_complete_runs_and_a_lost_report_becomes_missing(mini, tmp_path):
    out, _ = mini
    proc = _run(out, "--arms=traces,answer_only", "--collect_only")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # copy one run's workdir elsewhere and drop its report: collect must say missing
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".jax_cache"))
    (copy / "runs" / "traces" / "seed_1" / "report.json").unlink()
    proc = _run(copy, "--arms=traces,answer_only", "--collect_only")
    res = json.loads((copy / "results.json").read_text())
    assert res["arms"]["traces"]["seeds_completed"] == 1
    assert res["arms"]["traces"]["missing"][0]["seed"] == 1
    acc = res["arms"]["traces"]["sets"]["addition/L1"]["answer_accuracy"]
    assert acc["n"] == 1  # averaged over the one completed seed only
    proc = _run(out, "--arms=traces", "--seeds=0")
    assert "complete, skipped" in proc.stdout


@pytest.mark.slow
def test_tpu_launch_prints_one_command_per_run(tmp_path):
    proc = _run(tmp_path, "--launch=tpu", "--workdir_root=gs://bucket/mini")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [x for x in proc.stdout.splitlines()
             if x.startswith("python3 launch/tpu.py run --wait -- ")]
    assert len(lines) == 3 * 2
    assert "--config=tests/fixtures/experiments/mini.py:cpu/traces" in lines[0]
    assert "--workdir=gs://bucket/mini/traces/seed_0" in lines[0]
    assert "--mode=train_eval" in lines[0] and "--config.seed=1" in lines[1]


@pytest.mark.slow
def test_unknown_experiment_is_one_error_line(tmp_path):
    proc = run_module("rtt_jax.experiments.run",
                      ["--experiment=no_such_experiment", f"--out={tmp_path}"], cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --experiment=no_such_experiment: no such")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_set_overrides_are_typed_like_the_field():
    from rtt_jax.experiments.definition import typed_sets
    typed = typed_sets(["train.steps=20", "train.learning_rate=0.01", "model.tie_embeddings=false",
                         "data.tokenizer=bytes"], _config())
    assert typed == {"train.steps": 20, "train.learning_rate": 0.01,
                     "model.tie_embeddings": False, "data.tokenizer": "bytes"}
    assert isinstance(typed["train.steps"], int)


def test_paired_interval_is_clipped_to_possible_differences():
    d = seed_stats.difference({0: 0.9, 1: 0.1}, {0: 0.1, 1: 0.5})
    assert d["ci"][0] >= -1.0 and d["ci"][1] <= 1.0 and d["ci"][0] < d["diff"] < d["ci"][1]


def test_difference_is_over_the_seeds_both_arms_completed():
    d = seed_stats.difference({0: 0.3, 1: 0.9}, {0: 0.1}, n_problems=100)  # seed 1 missing in baseline
    assert d["n_pairs"] == 1 and d["diff"] == pytest.approx(0.2)
    assert d["ci"][0] < d["diff"] < d["ci"][1]


def test_runs_that_evaluate_during_training_give_accuracy_against_tokens(tmp_path):
    """eval_curves: the trained sets' accuracy (weighted by their problems) at
    each eval step and at the end, mean over seeds, against token positions."""
    from rtt_jax.experiments import plots, results
    from rtt_jax.experiments.plan import Run
    exp = Experiment("e", "c", (Arm("traces"), Arm("answer_only")), "answer_only")
    runs = []
    for arm, scale in (("traces", 1.0), ("answer_only", 0.5)):
        for seed in (0, 1):
            wd = tmp_path / arm / str(seed)
            wd.mkdir(parents=True)
            rows = [{"step": 1, "loss": 2.0}]
            for step, acc in ((10, 0.2), (20, 0.6)):
                rows.append({"step": step, "eval/t/L1/answer_accuracy": scale * acc,
                             "eval/t/L2/answer_accuracy": scale * (acc + 0.3 * seed),
                             "eval/t/L9/answer_accuracy": 0.0})  # untrained: left out
            (wd / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            sets = {f"t/L{lv}": {"family": "t", "level": lv, "trained": lv < 9, "n": n,
                                 "answer_accuracy": 0.0} for lv, n in ((1, 10), (2, 30), (9, 10))}
            report = {"step": 30, "sets": sets,
                      "summary": {"trained": {"answer_accuracy": scale * 0.9}}}
            (wd / "report.json").write_text(json.dumps(report))
            runs.append(Run(arm, seed, str(wd), ()))
    budget = {"kind": "tokens", "tokens_per_run": {"traces": 3000, "answer_only": 3000},
              "steps": {"traces": 30, "answer_only": 30}}
    res = results.collect(exp, "cpu", runs, budget)
    c = res["eval_curves"]["traces"]
    assert c["step"] == [10, 20, 30] and c["tokens"] == [1000, 2000, 3000]
    # seed 0: 0.2; seed 1: (10 * 0.2 + 30 * 0.5) / 40 = 0.425; their mean 0.3125
    assert c["mean"][0] == pytest.approx(0.3125) and c["mean"][2] == pytest.approx(0.9)
    assert res["eval_curves"]["answer_only"]["mean"][2] == pytest.approx(0.45)
    assert plots.accuracy_vs_tokens(res, str(tmp_path / "a.png")) == str(tmp_path / "a.png")
    for wd in tmp_path.glob("*/*/metrics.jsonl"):  # no eval before the end: no curve
        wd.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n")
    assert "eval_curves" not in results.collect(exp, "cpu", runs, budget)
