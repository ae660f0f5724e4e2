"""Pieces the experiments rely on: the Lee et al. reproduction's tables and
checks, the ``lee_file`` source and eval set, noisy synthetic sources, and the
shuffled (time-averaged) curriculum."""
from __future__ import annotations

from pathlib import Path

import pytest

from rtt_jax import tasks
from rtt_jax.data.curriculum import time_averaged_stage
from rtt_jax.data.sources import BadRecordError
from rtt_jax.data.sources import make_source as open_source
from rtt_jax.data.spec import source_spec
from rtt_jax.experiments import lee2023_report

FIXTURES = Path(__file__).parent / "fixtures"
PAPER_CSV = FIXTURES / "lee2023_paper_sample_efficiency.csv"
LEE_SAMPLE = FIXTURES / "lee2023_train_3digit_sample.txt"


def _src(**kw):
    return dict(kind="synthetic", family="addition", styles="", mode="trace", path="") | kw


# --- Lee et al. 2023 tables and checks -------------------------------------------------

def test_paper_table_reads_their_columns():
    paper = lee2023_report.paper_table(str(PAPER_CSV))
    assert paper["plain"][10000] == pytest.approx(87.42424)
    assert paper["reversed"][1000] == pytest.approx(1.565657)
    assert paper["detailed"][1000] == pytest.approx(99.79798)
    assert paper["simplified"][1000] == pytest.approx(84.64646)


def test_paper_table_bad_file_names_the_line(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text(PAPER_CSV.read_text().replace("87.42424", "eighty"))
    with pytest.raises(ValueError, match=r"p.csv:\d+"):
        lee2023_report.paper_table(str(bad))
    (tmp_path / "q.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        lee2023_report.paper_table(str(tmp_path / "q.csv"))


def _results(acc: dict, steps: dict | None = None, missing=()):
    arms = {}
    for arm, a in acc.items():
        sets = {"lee2023/test": {"answer_accuracy": {"mean": a, "std": 0.0, "n": 1},
                                 "step_validity": {"mean": (steps or {}).get(arm), "n": 1}}}
        arms[arm] = {"seeds_completed": 0 if arm in missing else 1, "sets": sets,
                     "missing": [{"seed": 0, "reason": "crashed"}] if arm in missing else []}
    return {"arms": arms, "seeds": [0], "budget": {"tokens_per_run": {"x": 1}}}


def test_checks_pass_and_fail_on_known_numbers():
    ours = lee2023_report.our_table(_results(
        {"plain_1k": 0.02, "plain_10k": 0.75, "simplified_1k": 0.70, "detailed_1k": 0.95},
        steps={"simplified_1k": 0.9, "detailed_1k": 0.99}))
    assert ours["plain"][10000]["accuracy"] == pytest.approx(75.0)
    verdicts = {claim: ok for claim, ok, _ in lee2023_report.checks(ours)}
    assert all(verdicts.values()), verdicts
    ours = lee2023_report.our_table(_results(
        {"plain_1k": 0.30, "plain_10k": 0.60, "simplified_1k": 0.85, "detailed_1k": 0.99}))
    verdicts = lee2023_report.checks(ours)
    by_claim = {c: ok for c, ok, _ in verdicts}
    assert by_claim["At N=1k, simplified scratchpad >= plain + 60 points"] is False  # 55 points
    assert by_claim["At N=1k, detailed scratchpad >= plain + 60 points"] is True
    assert by_claim["Plain gains >= 50 points from N=1k to N=10k"] is False
    assert by_claim["Step accuracy reported for the detailed scratchpad"] is False


def test_a_missing_run_is_not_run_rather_than_zero():
    ours = lee2023_report.our_table(_results({"plain_1k": 0.0, "detailed_1k": 0.9},
                                      missing=("detailed_1k",)))
    assert "detailed" not in ours
    detailed = [ok for c, ok, _ in lee2023_report.checks(ours) if c.startswith("At N=1k, detailed")]
    assert detailed == [None]


def test_markdown_sets_ours_beside_the_paper():
    res = _results({"plain_1k": 0.01, "plain_10k": 0.2, "detailed_1k": 0.5},
                   steps={"detailed_1k": 0.8})
    md = lee2023_report.markdown(res, lee2023_report.paper_table(str(PAPER_CSV)),
                          {"summary": "S", "differences": ["D1"], "observations": ["O1"]}, "CMD")
    assert "| plain | paper | 0.4 | 28.7 | 87.4 |" in md
    assert "| plain | **rtt_jax** | 1.0 | – | 20.0 |" in md
    assert "detailed, N=1,000: 80.0% of steps valid" in md
    assert "**does not hold**" in md and "- D1" in md and "- O1" in md and "CMD" in md


def make_source(name, cfg):
    return open_source(source_spec(name, cfg), seed=0)


# --- the lee_file source and eval set --------------------------------------------------

@pytest.mark.parametrize("style", ["lee_plain", "lee_reversed", "lee_simplified", "lee_detailed"])
def test_lee_file_source_writes_their_formats(style):
    from rtt_jax.tasks import addition
    src = make_source("lee", _src(kind="lee_file", path=str(LEE_SAMPLE), styles=style))
    problems = addition.read_lee_file(LEE_SAMPLE)
    assert src.size == len(problems)
    seen = {src.get(0, i).prompt + src.get(0, i).completion for i in range(src.size)}
    want = {"".join(addition.FAMILY.format_example(p, style)) for p in problems}
    assert seen == want  # one epoch is a permutation of the file, each in the style


def test_lee_file_source_errors_name_the_file(tmp_path):
    with pytest.raises(BadRecordError, match="no such file"):
        make_source("lee", _src(kind="lee_file", path=str(tmp_path / "nope.txt")))
    bad = tmp_path / "bad.txt"
    bad.write_text("1+1=2\n2+2=5\n")
    with pytest.raises(BadRecordError, match=r"bad.txt:2: 2\+2 is 4"):
        make_source("lee", _src(kind="lee_file", path=str(bad)))


def test_lee_eval_set_is_a_seeded_shuffle():
    from rtt_jax.evaluation.eval_sets import lee_file_set
    a = lee_file_set(str(LEE_SAMPLE), n=10, seed=0, style="lee_reversed")
    b = lee_file_set(str(LEE_SAMPLE), n=10, seed=0)
    c = lee_file_set(str(LEE_SAMPLE), n=10, seed=1)
    assert [p.question for p in a.problems] == [p.question for p in b.problems]
    assert [p.question for p in a.problems] != [p.question for p in c.problems]
    questions = [p.question for p in a.problems]
    assert questions != sorted(questions, key=lambda q: q)  # not the file's order
    assert a.style == "lee_reversed" and a.trained is True and a.level is None


def test_answer_only_completions_are_read_in_lee_styles():
    from rtt_jax.tasks import addition
    p = addition.make_problem(128, 367)
    for style in addition.LEE_STYLES:
        assert addition.FAMILY.extract_answer(p, "#### 495", style) == "495"


# --- noisy synthetic traces ---------------------------------------------------------------

def test_noisy_source_corrupts_the_configured_share_deterministically():
    clean = make_source("t", _src(styles="column"))
    noisy = make_source("t", _src(styles="column", noise_wrong_step=0.3))
    again = make_source("t", _src(styles="column", noise_wrong_step=0.3))
    n, changed = 400, 0
    for i in range(n):
        a, b = clean.get(3, i), noisy.get(3, i)
        assert b == again.get(3, i)
        assert a.prompt == b.prompt and a.answer == b.answer
        if a.completion != b.completion:
            changed += 1
            # one step line differs; the final answer line is kept
            diff = [x for x, y in zip(a.completion.split("\n"), b.completion.split("\n")) if x != y]
            assert len(diff) == 1 and not diff[0].startswith("####")
    assert 0.22 < changed / n < 0.38, changed / n
    with pytest.raises(ValueError, match=r"config.data.sources.t.noise_\*"):
        make_source("t", _src(noise_wrong_step=0.8, noise_wrong_answer=0.5))


# --- the shuffled curriculum ---------------------------------------------------------------

def test_time_averaged_stage_weights_stages_by_their_steps():
    stages = [dict(name="a", steps=100, mixture=dict(x=1.0), levels=dict(x="1")),
              dict(name="b", steps=10 ** 9, mixture=dict(x=1.0, y=3.0), levels=dict(x="1", y="2"))]
    s = time_averaged_stage(stages, total_steps=400)
    # x: 100/400 * 1 + 300/400 * 1/4; y: 300/400 * 3/4
    assert s["mixture"] == pytest.approx({"x": 0.4375, "y": 0.5625})
    assert s["levels"] == {"x": "1", "y": "2"} and s["steps"] >= 400
    stages[1]["levels"]["x"] = "1-2"
    with pytest.raises(ValueError, match="source 'x' has levels"):
        time_averaged_stage(stages, total_steps=400)


def test_shipped_shuffled_arm_matches_the_curriculum_level_distribution():
    from rtt_jax.experiments import plan
    m = plan.load_experiment(plan.experiment_path("curriculum_vs_shuffled"))
    cur, shuf = m.get_config("cpu/curriculum"), m.get_config("cpu/shuffled")
    assert len(cur.data.stages) == 3 and len(shuf.data.stages) == 1
    total = cur.train.steps
    want = {}
    start = 0
    for k, st in enumerate(cur.data.stages):
        steps = (total if k == 2 else start + st["steps"]) - start
        start += steps
        for src, w in dict(st["mixture"]).items():
            want[src] = want.get(src, 0.0) + steps / total * w / sum(dict(st["mixture"]).values())
    assert dict(shuf.data.stages[0]["mixture"]) == pytest.approx(want)


# --- an answer-only arm: trace metrics do not apply --------------------------------------

MINI = Path(__file__).parent / "fixtures" / "experiments" / "mini.py"


def test_answer_only_arm_shows_no_consistency_and_no_consistency_difference(tmp_path):
    """Runs' reports made by the evaluator as ``--mode=eval`` makes them: the
    answer-only arm's consistency is "–", never 0, and enters no difference."""
    from rtt_jax.evaluation import Evaluator, prompt_for, write_report
    from rtt_jax.config_validation import validate
    from rtt_jax.evaluation.eval_sets import eval_sets_from_spec
    from rtt_jax.experiments import plan, results, definition, tables
    module = plan.load_experiment(str(MINI))
    exp = module.EXPERIMENT
    runs = plan.plan(str(MINI), exp, "cpu", str(tmp_path), arms=["traces", "answer_only"])
    configs = {arm: module.get_config(f"cpu/{arm}") for arm in ("traces", "answer_only")}
    assert validate(configs["traces"]).eval.trace_metrics
    assert not validate(configs["answer_only"]).eval.trace_metrics
    for run in runs:
        config = configs[run.arm]
        config.seed = run.seed
        ec = validate(config).eval
        sets, trained = eval_sets_from_spec(ec), ec.trained_levels
        table = {}
        for s in sets:
            fam = tasks.get(s.family)
            for i, p in enumerate(s.problems):
                prompt, completion = fam.format_example(p, s.style)
                if run.arm == "answer_only":  # the answer alone, wrong on some problems
                    wrong = (i + run.seed) % 3 == 0
                    completion = f"#### {int(p.answer) + 1 if wrong else p.answer}"
                table[prompt_for(fam, p, s.style)] = completion
        report = Evaluator(sets, lambda ps, table=table: [table[q] for q in ps],
                           trace_metrics=ec.trace_metrics).run(step=6)
        write_report(report, run.workdir, trained, plots=False)
    res = results.collect(exp, "cpu", runs, definition.check_budget(exp, configs))
    traces, answer_only = res["arms"]["traces"], res["arms"]["answer_only"]
    assert res["baseline"] == "answer_only"
    for name in res["sets"]:
        assert answer_only["sets"][name]["consistency"]["mean"] is None
        assert answer_only["sets"][name]["step_validity"]["mean"] is None
        assert traces["sets"][name]["consistency"]["mean"] is not None
        assert traces["diff_vs_baseline"][name]["consistency"]["diff"] is None
        assert traces["diff_vs_baseline"][name]["answer_accuracy"]["diff"] is not None
    assert all("consistency" not in pool for pool in answer_only["summary"].values())
    for pool in ("summary/trained", "summary/all"):
        assert traces["diff_vs_baseline"][pool]["consistency"]["diff"] is None
    md = tables.markdown(res)

    def rows(title):
        section = md.split(f"## {title} (pooled)")[1].split("##")[0]
        return {r.split(" | ")[0][2:]: [c.strip(" |") for c in r.split(" | ")[2:]]
                for r in section.splitlines() if r.startswith(("| traces", "| answer_only"))}
    consistency = rows("consistency")  # cells: all, trained, untrained, then their Δ
    assert consistency["answer_only"] == ["–"] * 3 + ["baseline"] * 3
    assert consistency["traces"] == ["100.0 ± 0.0"] * 3 + ["–"] * 3
    accuracy = rows("answer accuracy")  # answers are still compared
    assert all(c.startswith("+") for c in accuracy["traces"][3:]), accuracy
