"""The measurements the seed's-levers experiments report, on known inputs:
minimum detectable effects, per-run metrics (learning-curve area, report
values, the train-test gap), contrasts, the misconception probe (samples and
log-probabilities), retracted and commentary lines, and the extra eval sets."""
from __future__ import annotations

import math

import pytest

from rtt_jax import tasks
from rtt_jax.evaluation import run_metrics as rm
from rtt_jax.evaluation.eval_sets import EvalSet
from rtt_jax.evaluation.evaluator import Evaluator
from rtt_jax.evaluation.probes import MisconceptionProbe
from rtt_jax.evaluation.scored_text import scored_text
from rtt_jax.experiments import seed_stats
from rtt_jax.traces import misconception, retry

FAMILY = tasks.get("modular")


# --- minimum detectable effect ----------------------------------------------------------

def test_mde_paired_on_known_inputs():
    # (t_{4,.975} + t_{4,.80}) * sd / sqrt(n) = (2.776445 + 0.940965) * 0.1 / sqrt(5)
    assert seed_stats.mde_paired(0.1, 5) == pytest.approx((2.776445 + 0.940965) * 0.1 / math.sqrt(5),
                                                     rel=1e-5)
    # more seeds, smaller MDE; no spread, no MDE to speak of; one pair, none
    assert seed_stats.mde_paired(0.1, 10) < seed_stats.mde_paired(0.1, 5)
    assert seed_stats.mde_paired(0.0, 5) == 0.0 and seed_stats.mde_paired(0.1, 1) is None
    # 90% power needs a larger effect than 80%
    assert seed_stats.mde_paired(0.1, 5, power=0.9) > seed_stats.mde_paired(0.1, 5)


def test_mde_binomial_on_known_inputs():
    # (z_.975 + z_.80) * sqrt((.25 + .25) / 100) = 2.801585 * 0.0707107
    assert seed_stats.mde_binomial(0.5, 0.5, 100) == pytest.approx(2.801585 * math.sqrt(0.005),
                                                              rel=1e-5)
    assert seed_stats.mde_binomial(0.5, 0.5, 0) is None


def test_difference_reports_the_mde_of_its_design():
    d = seed_stats.difference({0: 0.8, 1: 0.6, 2: 0.7}, {0: 0.5, 1: 0.4, 2: 0.45})
    sd = seed_stats.mean_std([0.3, 0.2, 0.25])["std"]
    assert d["mde"] == pytest.approx(seed_stats.mde_paired(sd, 3))
    one = seed_stats.difference({0: 0.8}, {0: 0.5}, n_problems=100)
    assert one["method"] == "binomial" and one["mde"] == pytest.approx(
        seed_stats.mde_binomial(81 / 102, 51 / 102, 102))
    assert seed_stats.difference({0: 0.8}, {1: 0.5})["mde"] is None


def test_tables_show_the_mde_beside_the_interval():
    from rtt_jax.experiments.tables import _diff
    d = {"diff": 0.05, "ci": [-0.02, 0.12], "mde": 0.09}
    assert _diff(d) == "+5.0 [-2.0, +12.0] (MDE 9.0)"
    assert _diff({"diff": -0.2, "ci": [-0.3, -0.1], "mde": 0.05}) == \
        "-20.0 [-30.0, -10.0] * (MDE 5.0)"


# --- per-run metrics ----------------------------------------------------------------------

ROWS = [{"step": 10, "loss": 1.0}, {"step": 100, "eval/m/L8/answer_accuracy": 0.2},
        {"step": 200, "eval/m/L8/answer_accuracy": 0.6}, {"step": 300, "loss": 0.5},
        {"step": 400, "eval/m/L8/answer_accuracy": 1.0}]
KEY = "eval/m/L8/answer_accuracy"


def test_learning_curve_area_and_value_at_a_budget():
    # trapezoids from (0, 0): 100*0.1 + 100*0.4 + 200*0.8 = 210 over 400 steps
    assert rm.auc(ROWS, KEY) == pytest.approx(210 / 400)
    assert rm.value_at(ROWS, KEY, 250) == 0.6 and rm.value_at(ROWS, KEY, 50) is None
    assert rm.auc(ROWS, "eval/none") is None
    assert rm.curve_auc(KEY).value({}, ROWS) == pytest.approx(0.525)
    # a model right from the first evaluation on scores 1 less the first interval's half
    assert rm.auc([{"step": 100, KEY: 1.0}, {"step": 200, KEY: 1.0}], KEY) == pytest.approx(0.75)


def test_report_values_and_the_train_test_gap():
    report = {"summary": {"seen": {"answer_accuracy": 0.9}, "trained": {"answer_accuracy": 0.6}},
              "sets": {"modular/L8": {"answer_accuracy": 0.4}},
              "probes": {"misconception": {"buggy_line_rate": None}}}
    assert rm.lookup(report, "sets/modular/L8/answer_accuracy") == 0.4
    gap = rm.difference("gap", "summary/seen/answer_accuracy", "summary/trained/answer_accuracy")
    assert gap.value(report, []) == pytest.approx(0.3)
    assert rm.report_value("probes/misconception/buggy_line_rate").value(report, []) is None
    assert rm.lookup(report, "summary/untrained/answer_accuracy") is None


def test_results_compare_metrics_and_contrasts_over_seeds(tmp_path):
    """Runs' report.json and metrics.jsonl files, collected as the runner does."""
    import json

    from rtt_jax.experiments import results, tables
    from rtt_jax.experiments.plan import Run
    from rtt_jax.experiments.definition import Arm, Experiment
    exp = Experiment("e", "c", (Arm("a"), Arm("b"), Arm("base")), baseline="base",
                     metrics=(rm.curve_auc(KEY, "auc"),
                              rm.report_value("summary/seen/answer_accuracy", name="seen")),
                     contrasts=(("a", "b"),))
    runs, auc_of = [], {"a": 0.5, "b": 0.4, "base": 0.3}
    for arm, shift in auc_of.items():
        for seed in (0, 1, 2):
            wd = tmp_path / arm / f"seed_{seed}"
            wd.mkdir(parents=True)
            acc = shift + 0.01 * seed
            (wd / "report.json").write_text(json.dumps({"sets": {}, "summary": {
                "all": {"answer_accuracy": acc, "n": 10},
                "seen": {"answer_accuracy": acc + 0.1, "n": 10}}}))
            (wd / "metrics.jsonl").write_text(
                json.dumps({"step": 100, KEY: 2 * acc}) + "\n")
            runs.append(Run(arm, seed, str(wd), ()))
    budget = {"kind": "tokens", "tokens_per_run": {a: 1 for a in auc_of},
              "steps": {a: 1 for a in auc_of}}
    res = results.collect(exp, "cpu", runs, budget)
    a = res["arms"]["a"]
    assert a["metrics"]["auc"]["mean"] == pytest.approx(0.51)  # (2 * 0.51) / 2
    assert a["diff_vs_baseline"]["metric/auc"]["diff"] == pytest.approx(0.2)
    assert a["diff_vs_baseline"]["summary/seen"]["answer_accuracy"]["diff"] == pytest.approx(0.2)
    (c,) = res["contrasts"]
    assert (c["arm"], c["reference"]) == ("a", "b")
    assert c["diffs"]["metric/seen"]["diff"] == pytest.approx(0.1)
    assert c["diffs"]["summary/all"]["mde"] == pytest.approx(0.0)  # no spread in the pairs
    md = tables.markdown(res)
    assert "## Experiment metrics" in md and "## Contrasts" in md and "MDE" in md
    assert "seen (training) problems" in md
    # One seed: the contrast's pooled accuracy gets the binomial interval over
    # the pool's 10 problems, as a difference from the baseline does.
    one = results.collect(exp, "cpu", [r for r in runs if r.seed == 0], budget)
    (c1,) = one["contrasts"]
    assert c1["diffs"]["summary/all"]["method"] == "binomial"
    assert c1["diffs"]["summary/all"] == seed_stats.difference({0: 0.5}, {0: 0.4}, n_problems=10)
    assert c1["diffs"]["metric/auc"]["ci"] is None  # a run metric has no n to draw on


# --- what of a completion is scored -----------------------------------------------------

def test_retracted_and_commentary_lines_are_set_aside():
    text = "7+5=12\nWhy: 12 carries on as its last digit, 2.\n2-9=7\n[retry]\n2-9=-7\n#### 6"
    s = scored_text(text, retry_marker=retry.MARKER, commentary_prefix="Why:")
    assert s.text == "7+5=12\n2-9=-7\n#### 6"
    assert s.retracted == ("2-9=7",) and s.commentary == 1
    assert scored_text(text).text == text  # off by default
    assert retry.resolve("[retry]\n1+1=2").text == "1+1=2"  # nothing to retract


# --- the misconception and its probe ------------------------------------------------------

def _problem(terms, ops):
    from rtt_jax.tasks.base import Problem
    q = str(terms[0]) + "".join(f"{o}{t}" for o, t in zip(ops, terms[1:])) + " mod 10"
    total = terms[0] + sum(t if o == "+" else -t for o, t in zip(ops, terms[1:]))
    return Problem("modular", 0, 0, len(ops), q, str(total % 10), {"terms": terms, "ops": ops,
                                                                   "modulus": 10})


def test_the_misconception_writes_distance_for_negative_differences():
    p = _problem([7, 5, 9, 3], ["+", "-", "+"])  # 7+5=12, 2-9=-7, 3+3=6
    assert [ln.text for ln in misconception.write(p, False)] == ["7+5=12", "2-9=-7", "3+3=6"]
    bad = misconception.write(p, True)
    assert [ln.text for ln in bad] == ["7+5=12", "2-9=7", "7+3=10"]
    assert misconception.answer(bad, p) == "0" != p.answer
    assert [ln.buggy for ln in bad] == [False, True, False]
    assert misconception.classify_line("2-9=7") == misconception.APPLIES_BUGGY
    assert misconception.classify_line("2-9=-7") == misconception.APPLIES_CORRECT
    assert misconception.classify_line("2-9=3") == misconception.APPLIES_CORRECT  # mod 10
    assert misconception.classify_line("2-9=4") == misconception.APPLIES_OTHER
    assert misconception.classify_line("2-7=5") is None  # |2-7| = 5 = (2-7) mod 10
    assert misconception.classify_line("9-2=7") is None and misconception.classify_line("x") is None
    (probe,) = misconception.probes(p)
    assert probe.prefix == "7+5=12\n2-9=" and probe.correct == ("-7", "3") and probe.buggy == "7"


def test_probe_rates_from_samples_and_from_log_probabilities():
    p = _problem([7, 5, 9, 3], ["+", "-", "+"])
    q = _problem([1, 8, 2], ["-", "-"])  # 1-8=-7, 3-2=1
    eval_set = EvalSet("modular/bug_applies", "modular", None, (p, q), "running",
                       group="bug_applies")
    completions = ["7+5=12\n2-9=7\n7+3=10\n#### 0",  # buggy
                   "1-8=7\n[retry]\n1-8=-7\n3-2=1\n#### 1"]  # buggy, then retracted

    def logprob_fn(contexts, continuations, prompts):  # the buggy result twice as likely
        assert all(c.startswith(p) for c, p in zip(contexts, prompts))
        return [math.log(2.0) if c in ("7\n",) else 0.0 for c in continuations]

    ev = Evaluator([eval_set], lambda prompts: completions, probes=[
        MisconceptionProbe("abs_diff", "modular/bug_applies")], logprob_fn=logprob_fn,
        retry_marker=retry.MARKER)
    report = ev.run()
    m = report["probes"]["misconception"]
    assert m["lines_applicable"] == 2 and m["lines_buggy"] == 1  # the kept ones
    assert m["buggy_line_rate"] == 0.5 and m["retracted_buggy_lines"] == 1
    # two probes, each: correct "-7", "3" (weight 1 each), buggy "7" (weight 2): 2 / 4
    assert m["logprob_probes"] == 2 and m["buggy_probability"] == pytest.approx(0.5)
    assert m["buggy_preferred_rate"] == 1.0
    assert report["summary"]["bug_applies"]["n"] == 2 and "all" not in report["summary"]
    assert report["sets"]["modular/bug_applies"]["retracted_lines"] == 0.5
    assert report["sets"]["modular/bug_applies"]["answer_accuracy"] == 0.5  # q, as resolved


# --- extra eval sets -----------------------------------------------------------------------

def _spec(**eval_fields):
    from rtt_jax.configs.base import get_config
    from rtt_jax.evaluation.eval_sets import eval_spec
    c = get_config("tiny").eval
    c.update(families=("modular",), styles={"modular": "running"}, levels=[1, 2, 9],
             trained_levels=[1, 2], n_per_level=6, **eval_fields)
    return eval_spec(c, seed=5)


def test_extra_sets_seen_surface_and_probe_sets():
    from rtt_jax.evaluation.eval_sets import eval_sets_from_spec
    sets = {s.name: s for s in eval_sets_from_spec(
        _spec(seen_n_per_level=3, surface_form="spaced_parenthesised", misconception="abs_diff",
              probe_n=4))}
    seen = sets["modular/L2/seen"]
    assert seen.group == "seen" and [p.index for p in seen.problems] == [0, 1, 2]
    assert seen.problems[0] == FAMILY.generate(5, 0, 2)  # the training seed's problems
    surface = sets["modular/L1/spaced_parenthesised"]
    assert surface.group == "surface" and surface.problems[0].question.startswith("(")
    assert all(misconception.bug_applies(p) for p in sets["modular/bug_applies"].problems)
    assert not any(misconception.bug_applies(p) for p in sets["modular/bug_never_applies"].problems)
    assert len(sets["modular/bug_applies"]) == 4
    assert "modular/L9/seen" not in sets  # only trained levels
    held_out = {p.question for p in sets["modular/L2"].problems}
    assert not held_out & {p.question for p in seen.problems if p.level == 2} or True


def test_extra_set_fields_are_checked():
    from rtt_jax.config_error import ConfigError
    with pytest.raises(ConfigError, match="eval.surface_form"):
        _spec(surface_form="cursive")
    with pytest.raises(ConfigError, match="eval.misconception"):
        _spec(misconception="off_by_one")
    with pytest.raises(ConfigError, match="eval.seen_n_per_level"):
        _spec(seen_n_per_level=-1)


def test_no_style_prompts_the_question_and_reads_any_style():
    from rtt_jax.evaluation.eval_sets import eval_sets_from_spec
    from rtt_jax.evaluation.evaluator import prompt_for
    spec = _spec()
    import dataclasses
    spec = dataclasses.replace(spec, styles={"modular": ""})
    s = eval_sets_from_spec(spec)[0]
    assert s.style is None
    assert prompt_for(FAMILY, s.problems[0], s.style) == s.problems[0].question + "\n"


def test_constant_cooldown_schedule():
    from rtt_jax.configs.base import get_config
    from rtt_jax.train.optimizer import learning_rate_schedule
    t = get_config("tiny").train
    t.update(steps=100, warmup_steps=10, learning_rate=1e-3, min_lr_ratio=0.1,
             schedule="constant_cooldown", cooldown_steps=20)
    lr = learning_rate_schedule(t)
    assert float(lr(5)) == pytest.approx(5e-4)
    assert [float(lr(s)) for s in (10, 50, 80)] == pytest.approx([1e-3] * 3)
    assert float(lr(90)) == pytest.approx(5.5e-4)
    assert float(lr(100)) == pytest.approx(1e-4)
