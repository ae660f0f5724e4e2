"""Multi-phase experiments: steps, needs and arm seeds in the spec and the
runner; the STaR round's pure parts; the distillation and STaR pipelines end
to end at smoke size."""
import json
import os
import re
import subprocess
import sys

import pytest

from rtt_jax.experiments import Arm, execute, Experiment, ExperimentError, plan, results, definition, Step, tables
from xla_flags import xla_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _experiment(**changes) -> Experiment:
    fields = dict(
        name="e", claim="c", baseline="student",
        arms=(Arm("teacher", {}, seeds={"cpu": (0,)}, in_budget=False),
              Arm("student", {}, needs=("sample",),
                  run_sets={"data.sources.t.path": "{step:sample}/traces"}),
              Arm("other", {})),
        steps=(Step("sample", "some.module", {"workdir": "{runs}/teacher/seed_0",
                                              "n": {"cpu": "5", "smoke": "1"},
                                              "config": "{experiment}:{variant}/teacher"},
                    needs=("teacher",), per_seed=False),),
        seeds={"cpu": (0, 1), "smoke": (0,)})
    fields.update(changes)
    return Experiment(**fields)


def test_plan_puts_needs_first_and_fills_templates(tmp_path):
    out = str(tmp_path / "out")
    runs = plan.plan(os.path.join(plan.EXPERIMENTS_DIR, "x.py"), _experiment(), "cpu", out,
                       arms=["student"])
    # Asking for the student alone brings in what it needs, in dependency order.
    assert [r.key for r in runs] == ["teacher/seed_0", "sample", "student/seed_0",
                                     "student/seed_1"]
    teacher, sample, s0, s1 = runs
    assert teacher.needs == () and sample.needs == ("teacher/seed_0",)
    assert s0.needs == s1.needs == ("sample",)
    assert sample.kind == "step" and sample.seed is None
    assert sample.workdir == f"{out}/steps/sample"
    assert sample.argv == ("-m", "some.module", f"--out={out}/steps/sample",
                           f"--workdir={out}/runs/teacher/seed_0", "--n=5",
                           "--config=" + os.path.relpath(os.path.join(
                               plan.EXPERIMENTS_DIR, "x.py"), plan.REPO_ROOT) + ":cpu/teacher")
    assert f"--config.data.sources.t.path={out}/steps/sample/traces" in s1.argv
    assert "--config.seed=1" in s1.argv and s1.workdir == f"{out}/runs/student/seed_1"
    # The teacher's own seeds hold whatever seeds the student runs with.
    assert [r.key for r in plan.plan("x.py", _experiment(), "cpu", out, seeds=[3],
                                       arms=["student"])] == \
        ["teacher/seed_0", "sample", "student/seed_3"]
    smoke = plan.plan("x.py", _experiment(arms=(
        Arm("teacher", {}, seeds={"smoke": (0,)}, in_budget=False),
        Arm("student", {}, needs=("sample",)))), "smoke", out)
    assert "--n=1" in smoke[1].argv


def test_per_seed_steps_chain_rounds(tmp_path):
    exp = Experiment(
        name="s", claim="c", baseline="r0",
        arms=(Arm("r0"), Arm("r1", needs=("s1",), run_sets={"x": "{step:s1}"})),
        steps=(Step("s1", "m", {"prev": "{runs}/r0/seed_{seed}"}, needs=("r0",)),))
    runs = plan.plan("x.py", exp, "cpu", str(tmp_path), seeds=[4, 5])
    keys = [r.key for r in runs]
    assert keys.index("s1/seed_4") < keys.index("r1/seed_4")
    assert keys.index("r0/seed_4") < keys.index("s1/seed_4")
    step = next(r for r in runs if r.key == "s1/seed_5")
    assert step.needs == ("r0/seed_5",) and f"--prev={tmp_path}/runs/r0/seed_5" in step.argv
    assert step.workdir == f"{tmp_path}/steps/s1/seed_5"


@pytest.mark.parametrize("changes, message", [
    (dict(arms=(Arm("student", needs=("nope",)),)), "needs ['nope']"),
    (dict(arms=(Arm("student", needs=("student",)),)), "needs ['student']"),
    (dict(steps=(Step("student", "m"),)), "step names"),
    (dict(arms=(Arm("student", in_budget=False),)), "must be in the budget"),
])
def test_bad_multi_phase_definitions_are_one_line(changes, message):
    base = dict(name="e", claim="c", baseline="student", arms=(Arm("student"),))
    with pytest.raises(ExperimentError, match=re.escape(message)):
        Experiment(**(base | changes))


def test_plan_errors_name_the_problem(tmp_path):
    cyc = Experiment(name="e", claim="c", baseline="a",
                     arms=(Arm("a", needs=("b",)), Arm("b", needs=("a",))))
    with pytest.raises(ExperimentError, match="cycle"):
        plan.plan("x.py", cyc, "cpu", str(tmp_path))
    bad = _experiment(steps=(Step("sample", "m", {"w": "{nothing}"}),))
    with pytest.raises(ExperimentError, match=r"step 'sample'.*\{nothing\}"):
        plan.plan("x.py", bad, "cpu", str(tmp_path))
    with pytest.raises(ExperimentError, match="no value for variant 'tpu'"):
        plan.plan("x.py", _experiment(seeds={"tpu": (0,)}, arms=(
            Arm("teacher", {}, seeds={"tpu": (0,)}, in_budget=False),
            Arm("student", {}, needs=("sample",)))), "tpu", str(tmp_path))
    unknown = _experiment(arms=(Arm("teacher", seeds={"cpu": (0,)}, in_budget=False),
                                Arm("student", needs=("sample",),
                                    run_sets={"x": "{step:missing}"})))
    with pytest.raises(ExperimentError, match="no step 'missing'"):
        plan.plan("x.py", unknown, "cpu", str(tmp_path))


def test_budget_leaves_out_arms_outside_it(tiny_config):
    import copy
    big = copy.deepcopy(tiny_config)
    big.train.steps = tiny_config.train.steps * 4
    budget = definition.check_budget(_experiment(), {"teacher": big, "student": tiny_config,
                                               "other": tiny_config})
    assert set(budget["tokens_per_run"]) == {"student", "other"}
    assert budget["steps"]["teacher"] == 4 * budget["steps"]["student"]
    with pytest.raises(ExperimentError, match="different token positions"):
        definition.check_budget(_experiment(), {"student": tiny_config, "other": big})


def _py(code: str) -> tuple[str, ...]:
    return ("-c", code)


@pytest.mark.slow  # spawns the steps' processes
def test_a_failed_need_stops_its_dependents_and_others_run(tmp_path):
    def step(name, code, needs=()):
        d = tmp_path / name
        return plan.Run(name, None, str(d), _py(code.replace("D", repr(str(d)))), kind="step",
                          needs=needs)
    write = "import json,os,time; time.sleep(0.3); open(os.path.join(D,'done.json'),'w').write('{}')"
    check = ("import json,os; assert os.path.exists(" + repr(str(tmp_path / "a" / "done.json")) +
             "); open(os.path.join(D,'done.json'),'w').write(json.dumps({'totals': {'x': 1}}))")
    runs = [step("a", write), step("b", check, needs=("a",)),
            step("bad", "raise SystemExit(3)"), step("after_bad", write, needs=("bad",)),
            step("free", write)]
    lines = []
    statuses = execute.execute_local(runs, env=dict(os.environ), echo=lines.append, parallel=2)
    by = {s["arm"]: s for s in statuses}
    assert by["a"]["complete"] and by["b"]["complete"] and by["free"]["complete"]
    assert not by["bad"]["complete"] and by["bad"]["rc"] == 3
    assert by["after_bad"] == {"arm": "after_bad", "seed": None, "rc": None, "complete": False,
                               "error": "needs bad, which failed"}
    assert not (tmp_path / "after_bad" / "done.json").exists()
    assert any("after_bad: not run, it needs bad, which failed" in line for line in lines)
    # Their summaries are collected, a missing one with its reason, and rendered.
    summaries = results.step_summaries(runs)
    assert summaries["b"] == {"once": {"totals": {"x": 1}}}
    assert summaries["after_bad"]["once"]["missing"] == "needs bad, which failed"
    text = "\n".join(tables.step_sections(summaries))
    assert "## Step `b`" in text and "x 1" in text and "missing (needs bad" in text


def test_step_sections_render_per_level_tables():
    text = "\n".join(tables.step_sections({"sample_teacher": {"once": {
        "title": "teacher traces", "totals": {"kept": 10, "kept_rate": 0.625},
        "per_level": {"1": {"asked": 8, "kept": 8}, "2": {"asked": 8, "kept": 2}}}}}))
    assert "**once**: teacher traces. kept 10; kept_rate 0.625" in text
    assert "| level | asked | kept |" in text and "| 2 | 8 | 2 |" in text


def test_data_sources_plot(tmp_path):
    from rtt_jax.experiments import plots
    res = {"experiment": "star", "steps": {
        "star_1": {"seed_0": {"data_share": {"easy": 0.6, "seed": 0.1, "star_r1_sampled": 0.3}},
                   "seed_1": {"missing": "x"}},
        "star_2": {"seed_0": {"data_share": {"easy": 0.6, "seed": 0.1, "star_r1_sampled": 0.2,
                                             "star_r2_sampled": 0.1}}}}}
    path = plots.data_sources(res, str(tmp_path / "d.png"))
    assert path and os.path.getsize(path) > 1000
    assert plots.data_sources({"experiment": "x"}, str(tmp_path / "n.png")) is None


# ----------------------------------------------------------------- STaR parts

def test_mastery_is_the_highest_unbroken_level():
    from rtt_jax.experiments.star_round import mastered_level
    report = {"sets": {f"modular/L{lv}": {"family": "modular", "level": lv,
                                          "answer_accuracy": a}
                       for lv, a in [(1, 1.0), (2, 0.95), (3, 0.5), (4, 0.97)]}}
    report["sets"]["logic/L3"] = {"family": "logic", "level": 3, "answer_accuracy": 1.0}
    assert mastered_level(report, "modular", 0.9) == (2, {1: 1.0, 2: 0.95, 3: 0.5, 4: 0.97})
    assert mastered_level(report, "modular", 0.99)[0] == 1
    assert mastered_level({"sets": {}}, "modular", 0.9) == (0, {})


def test_frontier_reaches_the_first_level_below_mastery():
    from rtt_jax.experiments.star_round import frontier_levels
    acc = {**{lv: 1.0 for lv in range(1, 9)}, 12: 1.0, 16: 0.99, 24: 0.83, 32: 0.28}
    assert frontier_levels(acc, 0.9, 9, 24) == list(range(9, 25))
    assert frontier_levels(acc, 0.9, 9, 20) == list(range(9, 21))   # capped
    assert frontier_levels(acc, 0.8, 9, 40) == list(range(9, 33))   # 32 fails at 0.8
    demo = {**{lv: 1.0 for lv in range(1, 9)}, 12: 0.09, 16: 0.06}
    assert frontier_levels(demo, 0.9, 9, 24) == [9, 10, 11, 12]
    # No evaluated level past `first` fails: one past the highest evaluated.
    assert frontier_levels({lv: 1.0 for lv in range(1, 9)}, 0.9, 9, 24) == [9]
    assert frontier_levels({**acc, 24: 0.95, 32: 0.95}, 0.9, 9, 40) == list(range(9, 34))
    # A failing trained level (below `first`) does not stop the frontier.
    assert frontier_levels({**acc, 3: 0.5}, 0.9, 9, 24) == list(range(9, 25))
    assert frontier_levels({9: 0.1}, 0.9, 9, 24) == [9]
    assert frontier_levels({}, 0.9, 9, 24) == [9]
    with pytest.raises(ValueError, match="past --max_level=8"):
        frontier_levels(acc, 0.9, 9, 8)


def test_weights_and_data_share():
    import collections
    from rtt_jax.experiments.star_round import data_share, parse_weights
    w = parse_weights("easy:0.6, seed:0.1,star:0.3")  # seed: a source of its own here
    assert w == {"easy": 0.6, "seed": 0.1, "star": 0.3}
    share = data_share(w, collections.Counter({"star_r1_sampled": 30, "star_r1_rationalized": 10}))
    assert share == pytest.approx({"easy": 0.6, "seed": 0.1, "star_r1_rationalized": 0.075,
                                   "star_r1_sampled": 0.225})
    assert sum(share.values()) == pytest.approx(1.0)
    assert data_share(w, collections.Counter())["star"] == pytest.approx(0.3)
    for bad, msg in [("easy:x", "not source:weight"), ("easy:1", "no 'star'"),
                     ("star:-1", "negative")]:
        with pytest.raises(ValueError, match=msg):
            parse_weights(bad)


def test_model_teacher_hint_reaches_the_prompt_not_the_record():
    from rtt_jax import tasks
    from rtt_jax.traces.teachers import ModelTeacher
    fam = tasks.get("modular")
    problems = [fam.generate(0, i, 2) for i in range(3)]
    seen = []

    def sample_fn(prompts, k):  # solves only when told the answer
        seen.extend(prompts)
        out = []
        for prompt in prompts:
            p = next(q for q in problems if prompt.startswith(fam.format_example(q, "running")[0]))
            text = fam.format_example(p, "running")[1] if "Hint:" in prompt else "#### 0"
            out.append([text] * k)
        return out

    plain = ModelTeacher(sample_fn, 2, prompt_style={"modular": "running"})
    hinted = ModelTeacher(sample_fn, 2, name="r1_rationalized", prompt_style={"modular": "running"},
                          hint=lambda p: f"Hint: the answer is {p.answer}.\n")
    assert len(plain.teach_batch(problems)) == sum(p.answer == "0" for p in problems)
    kept = hinted.teach_batch(problems)
    assert len(kept) == 3 and {r.teacher for r in kept} == {"r1_rationalized"}
    assert all(s.endswith(f"Hint: the answer is {p.answer}.\n")
               for s, p in zip(seen[3:], problems))
    # The kept record trains with the family's prompt: no hint in it.
    from rtt_jax.traces.teachers import record_prompt
    assert all("Hint" not in record_prompt(r.replace(style="running")) for r in kept)


def test_plain_prompts_for_our_own_models():
    from rtt_jax import tasks
    from rtt_jax.traces.openai_teacher import OpenAITeacher
    fam = tasks.get("modular")
    p = fam.generate(0, 1, 3)
    t = OpenAITeacher("http://127.0.0.1:9/v1", "m", api="completions", prompt="plain")
    try:
        messages = t.messages(p, "running")
        assert messages == [{"role": "user", "content": fam.format_example(p, "running")[0]}]
        assert t._payload(messages)["prompt"] == fam.format_example(p, "running")[0]
    finally:
        t.close()
    with pytest.raises(ValueError, match="teacher.prompt must be one of"):
        OpenAITeacher("http://127.0.0.1:9/v1", "m", prompt="shouting")


# ------------------------------------------------------ end to end, smoke size

def _run_experiment(tmp_path, name: str, arms: str) -> dict:
    out = tmp_path / name
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = xla_flags()  # one device per subprocess: faster start-up
    proc = subprocess.run(
        [sys.executable, "-m", "rtt_jax.experiments.run", f"--experiment={name}",
         "--variant=smoke", f"--out={out}", f"--arms={arms}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "results.json") as f:
        return json.load(f)


@pytest.mark.slow
def test_distill_smoke_end_to_end(tmp_path):
    res = _run_experiment(tmp_path, "distill", "teacher_traces")
    assert set(res["arms"]) == {"teacher", "teacher_traces"}
    assert res["arms"]["teacher_traces"]["seeds_completed"] == 1
    assert res["arms"]["teacher"]["seeds_completed"] == 1
    summary = res["steps"]["sample_teacher"]["once"]
    t = summary["totals"]
    assert t["problems"] == 8 and t["samples"] == 16  # 8 level-1 problems x k=2
    assert 0 < t["kept"] == sum(row["kept"] for row in summary["per_level"].values())
    assert set(summary["per_level"]) == {"1"}
    assert t["completion_tokens"] > 0 and t["tokens_per_1k_problems"] > 0
    card_path = os.path.join(summary["traces"], "dataset_card.json")
    with open(card_path) as f:
        card = json.load(f)
    teacher = card["teacher"]
    assert teacher["model"] == "teacher" and teacher["prompt"] == "plain"
    assert teacher["kept"] == t["kept"]
    rejected = sum(teacher["rejected_by_reason"].values())
    assert teacher["kept"] + rejected == t["samples"]  # every sample accounted for
    assert res["budget"]["tokens_per_run"].keys() == {"teacher_traces"}
    md = open(tmp_path / "distill" / "results.md").read()
    assert "## Step `sample_teacher`" in md


@pytest.mark.slow
def test_star_one_round_end_to_end(tmp_path):
    from rtt_jax.configs.experiments import star
    res = _run_experiment(tmp_path, "star", "round_1")
    assert set(res["arms"]) == {"round_0", "round_1"}
    assert all(a["seeds_completed"] == 1 for a in res["arms"].values())
    summary = res["steps"]["star_1"]["seed_0"]
    t = summary["totals"]
    assert t["target_level"] == min(t["mastered"] + 1, 8)
    assert summary["sampling"]["problems"] == 8 and summary["sampling"]["samples"] == 16
    seed_card = res["steps"]["seed_traces"]["seed_0"]
    n_seed = 5 * star.SEED_PER_LEVEL  # levels 4-8
    assert seed_card["records"] == n_seed
    assert t["records"] == n_seed + t["kept_sampled"] + t["kept_rationalized"]
    share = summary["data_share"]
    assert sum(share.values()) == pytest.approx(1.0)
    assert share["easy"] == pytest.approx(star.WEIGHTS["easy"])
    assert share["seed"] == pytest.approx(star.WEIGHTS["star"] * n_seed / t["records"])
    assert os.path.exists(tmp_path / "star" / "data_sources.png")


@pytest.mark.slow
def test_word_problems_smoke_end_to_end(tmp_path):
    """Both arms of the prompt-grounded experiment train and evaluate; the
    results carry the copy probe's rates (None for answer-only: no trace lines)."""
    res = _run_experiment(tmp_path, "word_problems", "traces,answer_only")
    assert {a: r["seeds_completed"] for a, r in res["arms"].items()} == \
        {"traces": 1, "answer_only": 1}
    assert len(set(res["budget"]["tokens_per_run"].values())) == 1  # equal tokens
    assert {"items_from_prompt", "prompt_items_right"} <= set(res["metrics"])
    assert set(res["sets"]) == {"word_problem/L1", "word_problem/L2"}
    with open(tmp_path / "word_problems" / "runs" / "answer_only" / "seed_0" / "report.json") as f:
        assert json.load(f)["summary"]["all"]["items_from_prompt"] is None
    # Both arms trained with the recipe's tokenizer, learned from the family's
    # text and saved with the run (evaluation read it back from there).
    for arm in ("traces", "answer_only"):
        with open(tmp_path / "word_problems" / "runs" / arm / "seed_0" / "tokenizer" /
                  "tokenizer.json") as f:
            assert json.load(f)["kind"] == "sentencepiece"
