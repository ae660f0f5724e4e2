"""The evaluator: extraction, statistics, scoring, reports, hostile text, rg agreement."""
from __future__ import annotations

import builtins
import json
import math
import os
import pathlib
import subprocess

import pytest

from hang_guard import hang_guard
from rtt_jax import tasks
from rtt_jax.evaluation import (EVAL_SEED_OFFSET, Evaluator, eval_seed, extract, gsm8k_set,
                                prompt_for, reference_text, score_completion, task_sets,
                                write_report)
from rtt_jax.evaluation import extraction as ex
from rtt_jax.evaluation import intervals
from rtt_jax.evaluation.report_files import REPORT_JSON, REPORT_MD, flat_metrics
from rtt_jax.run_files import SAMPLES_JSONL, read_metrics, write_samples
from rtt_jax.tasks.answers import MAX_CHECK_CHARS

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "gsm8k_test_head50.jsonl"
# Families and styles with step-by-step traces (Lee's plain formats have none).
STYLES = {"addition": "column", "counting": "per_kind"}
FAMILIES = ("addition", "counting", "expressions", "linear_equation", "logic", "division")


# --------------------------------------------------------------------------
# extraction


def test_extraction_edge_cases():
    assert extract("a\n#### 5").answer == "5"
    assert extract("#### 1\nwait\n#### 2").answer == "2"  # the last marker wins
    assert extract("#### 7   \t").answer == "7"  # trailing spaces
    assert extract("   #### 7").answer == "7"  # indented marker line
    assert extract("the answer is #### 5").status == ex.NO_MARKER  # mid-line: not a marker
    assert extract("no marker at all").status == ex.NO_MARKER
    assert extract("work\n#### ").status == ex.EMPTY and extract("####").unparsed
    assert extract("#### 1\n####   ").status == ex.EMPTY  # the last marker is empty
    assert extract("x" * (MAX_CHECK_CHARS + 1) + "\n#### 5").status == ex.TOO_LONG
    assert extract(None).status == ex.NOT_TEXT and extract(b"#### 5").status == ex.NOT_TEXT
    assert extract("#### 1,080").number == 1080
    assert extract("#### -3").number == -3 and extract("#### $2.50").number == 2.5
    assert extract("#### ٢٢").number is None and extract("#### ２２").number is None
    assert extract("#### " + "9" * 150).answer == "9" * 150


def test_extraction_uses_the_family_reader_for_lee_formats():
    fam = tasks.get("addition")
    p = fam.generate(1, 0, 3)
    prompt, completion = fam.format_example(p, "lee_plain")
    assert extract(completion, fam, p, "lee_plain").answer == p.answer
    assert score_completion(fam, p, completion, "lee_plain").correct


@pytest.mark.parametrize("text, want", [
    ("A.\n#### 1,080", "correct"), ("#### 1080.", "correct"), ("#### -3", "wrong"),
    ("#### ", "unparsed"), ("the answer is 1080", "unparsed"), ("#### ١٠٨٠", "wrong"),
])
def test_outcomes_on_gsm8k(text, want):
    p = gsm8k_set(str(FIXTURE)).problems[0]
    p = type(p)(p.family, p.seed, p.index, p.level, p.question, "1080", p.data)
    assert score_completion(tasks.get("gsm8k"), p, text).outcome == want


# --------------------------------------------------------------------------
# statistics on known inputs


def test_wilson_known_values():
    # Newcombe (1998), example: 81/263 -> 0.2553 to 0.3662.
    e = intervals.wilson(81, 263)
    assert (round(e.lo, 4), round(e.hi, 4)) == (0.2553, 0.3662)
    e = intervals.wilson(5, 10)
    assert (round(e.lo, 4), round(e.hi, 4)) == (0.2366, 0.7634)
    assert intervals.wilson(0, 10).lo == 0.0 and round(intervals.wilson(0, 10).hi, 4) == 0.2775
    assert intervals.wilson(10, 10).hi == 1.0 and round(intervals.wilson(10, 10).lo, 4) == 0.7225
    assert math.isnan(intervals.wilson(0, 0).value)
    with pytest.raises(ValueError):
        intervals.wilson(3, 2)


def test_t_quantile_and_mean_ci():
    # Published t table values (two-sided 95% and 99%).
    for df, want in ((1, 12.706), (4, 2.776), (31, 2.0395), (40, 2.0211), (120, 1.9799),
                     (10 ** 6, 1.9600)):
        assert abs(intervals.t_quantile(df) - want) < 5e-4
    assert abs(intervals.t_quantile(10, 0.99) - 3.169) < 5e-4
    assert intervals.t_quantile(0) == math.inf and abs(intervals.z_quantile() - 1.95996) < 1e-5
    e = intervals.mean_ci([1, 2, 3, 4, 5])  # 3 +- 2.776 * sqrt(2.5 / 5)
    assert e.value == 3 and abs(e.hi - 3 - 2.776 * math.sqrt(0.5)) < 1e-3
    assert intervals.mean_ci([4.0]).hi == math.inf and math.isnan(intervals.mean_ci([]).value)


def test_ratio_ci_is_trace_clustered():
    # r = 6/8; residuals -0.5, 0.5, 0 -> s^2 = 0.25; half = t_2 * sqrt(.25/3) / (8/3).
    e = intervals.ratio_ci([1, 2, 3], [2, 2, 4], bounds=(-math.inf, math.inf))
    half = 4.302653 * math.sqrt(0.25 / 3) / (8 / 3)
    assert e.value == 0.75 and abs(e.lo - (0.75 - half)) < 1e-6 and e.n == 3
    assert intervals.ratio_ci([1, 2, 3], [2, 2, 4]).hi == 1.0  # clamped to [0, 1]
    assert intervals.ratio_ci([1, 0], [1, 0]).n == 1  # traces without steps drop out
    perfect = intervals.ratio_ci([3] * 10, [3] * 10)  # zero variance: Wilson over traces
    assert perfect.value == 1.0 and perfect.lo == intervals.wilson(10, 10).lo


# --------------------------------------------------------------------------
# eval sets


def test_eval_sets_are_deterministic_disjoint_and_marked():
    a = task_sets(["counting"], n=5, seed=3)
    b = task_sets(["counting"], n=5, seed=3)
    assert a == b and eval_seed(3) == 3 + EVAL_SEED_OFFSET
    fam = tasks.get("counting")
    assert [s.level for s in a] == list(fam.levels)
    assert [s.trained for s in a] == [lv in fam.train_levels for lv in fam.levels]
    train = {fam.generate(3, i, 6).question for i in range(5)}
    assert not train & {p.question for p in a[5].problems}
    g1, g2 = gsm8k_set(str(FIXTURE), n=10, seed=1), gsm8k_set(str(FIXTURE), n=10, seed=1)
    assert g1 == g2 and len(g1) == 10 and g1.level is None
    assert [p.index for p in g1.problems] == sorted(p.index for p in g1.problems)


# --------------------------------------------------------------------------
# the evaluator with fake generate_fns


def _sets(n=6):
    sets = []
    for name in FAMILIES:
        fam = tasks.get(name)
        top = fam.train_levels[-1]
        sets += task_sets([name], n=n, levels={name: [1, top, top + 1]}, styles=STYLES)
    return sets


def _teacher(sets, transform=lambda completion, problem: completion):
    """A generate_fn that answers each prompt with the teacher's solution."""
    table = {}
    for s in sets:
        fam = tasks.get(s.family)
        for p in s.problems:
            prompt = prompt_for(fam, p, s.style)
            table[prompt] = transform(reference_text(fam, p, s.style)[len(prompt):], p)
    return lambda prompts: [table[p] for p in prompts]


def test_perfect_solutions_score_one():
    sets = _sets()
    report = Evaluator(sets, _teacher(sets), batch_size=7).run(step=3)
    assert report["step"] == 3 and set(report["sets"]) == {s.name for s in sets}
    for name, e in report["sets"].items():
        assert e["answer_accuracy"] == 1.0, name
        assert e["step_validity"] == 1.0 and e["fully_valid_traces"] == 1.0, name
        assert e["consistency"] == 1.0 and e["unparsed"] == 0.0, name
        assert e["checker_errors"] == 0 and e["n"] == 6
    assert {"trained", "untrained", "all"} <= set(report["summary"])
    assert report["summary"]["all"]["n"] == 6 * len(sets)


def test_every_family_and_level_scores_its_teacher_perfectly():
    sets = task_sets(n=2, styles=STYLES)
    report = Evaluator(sets, _teacher(sets)).run()
    assert {e["family"] for e in report["sets"].values()} == set(tasks.names())
    total = report["summary"]["all"]
    assert total["answer_accuracy"] == 1.0 and total["step_validity"] == 1.0
    assert total["consistency"] == 1.0 and total["checker_errors"] == 0


def test_wrong_answers_and_garbage():
    sets = _sets(4)

    def wrong(completion, p):
        body, _, _ = completion.rpartition("#### ")
        return f"{body}#### {int(p.answer) + 1 if p.answer.lstrip('-').isdigit() else 'zzz'}"

    report = Evaluator(sets, _teacher(sets, wrong)).run()
    for name, e in report["sets"].items():
        assert e["answer_accuracy"] == 0.0 and e["unparsed"] == 0.0, name
        assert e["consistency"] == 0.0, name  # the answer is not what the steps computed
        assert e["step_validity"] == 1.0 and e["valid_steps_wrong_answer"] == 1.0, name
    garbage = Evaluator(sets, lambda ps: ["lorem ipsum dolor"] * len(ps)).run()
    for e in garbage["sets"].values():
        assert e["answer_accuracy"] == 0.0 and e["unparsed"] == 1.0 and e["wrong"] == 0.0
        assert e["step_validity"] == 0.0 and e["fully_valid_traces"] == 0.0


def _answer_only(completion, p):
    """What a model trained on answers alone writes: the marker line, no steps."""
    return f"#### {p.answer}"


def test_answer_only_model_gets_no_trace_metrics_rather_than_zeros(tmp_path):
    from rtt_jax.evaluation.scoring import TRACE_METRICS
    sets = _sets(4)
    # Scored as if it wrote traces, "#### 42" has consistency 0: not applicable, not wrong.
    as_traces = Evaluator(sets, _teacher(sets, _answer_only)).run()
    assert as_traces["summary"]["all"]["consistency"] == 0.0
    report = Evaluator(sets, _teacher(sets, _answer_only), trace_metrics=False).run(step=5)
    assert report["trace_metrics"] is False
    for name, e in [*report["sets"].items(), *report["summary"].items()]:
        assert e["answer_accuracy"] == 1.0, name  # answers are scored as before
        for metric in TRACE_METRICS:
            assert e[metric] is None and e["ci"][metric] is None, (name, metric)
    assert not any(k.endswith(("/consistency", "/step_validity", "/fully_valid_traces"))
                   for k in flat_metrics(report))
    write_report(report, str(tmp_path), plots=False)
    saved = json.loads((tmp_path / REPORT_JSON).read_text())
    assert saved["trace_metrics"] is False
    assert saved["summary"]["trained"]["consistency"] is None
    assert all(e["step_validity"] is None and e["fully_valid_traces"] is None
               for e in saved["sets"].values())
    md = (tmp_path / REPORT_MD).read_text()
    assert "Trained without traces" in md
    row = next(x for x in md.splitlines() if x.startswith("| trained |"))
    assert row.split(" | ")[2].startswith("1.000") and row.split(" | ")[3:8] == ["–"] * 5


def trained_with_traces(c) -> bool:
    from rtt_jax.data.spec import data_spec, trained_with_traces
    return trained_with_traces(data_spec(c.data, c.seed))


def test_trained_with_traces_reads_the_stage_mixtures_sources():
    from rtt_jax.configs.base import get_config
    c = get_config("tiny")
    assert trained_with_traces(c)
    for name in c.data.sources:
        if c.data.sources[name].kind == "synthetic":
            c.data.sources[name].mode = "answer_only"
    # textbook text (mode full) is not in any stage's mixture
    assert not trained_with_traces(c)
    c.data.stages[1]["mixture"]["textbook"] = 0.2  # now it is: worked steps are traces
    assert trained_with_traces(c)
    c.data.stages[1]["mixture"]["textbook"] = 0.0  # weight 0: never trained on
    assert not trained_with_traces(c)


def test_lee_one_line_formats_are_not_traces():
    """Lee's plain and reversed formats write only the answer: a model trained
    on them has no steps to judge, so its step metrics must be n/a, not a copy
    of its answer accuracy; a scratchpad format keeps them."""
    from rtt_jax.configs.base import get_config
    c = get_config("tiny")
    c.data.sources = dict(lee=dict(kind="lee_file", path="x.txt", styles="", mode="trace"))
    c.data.stages = [dict(name="all", steps=10, mixture=dict(lee=1.0), levels={})]
    assert not trained_with_traces(c)  # the lee_file default style is lee_plain
    for styles, steps in [("lee_reversed", False), ("lee_plain,lee_reversed", False),
                          ("lee_simplified", True), ("lee_plain,lee_detailed", True)]:
        c.data.sources.lee.styles = styles
        assert trained_with_traces(c) is steps, styles
    c.data.sources = dict(add=dict(kind="synthetic", family="addition", styles=""))
    c.data.stages[0]["mixture"] = dict(add=1.0)
    assert trained_with_traces(c)  # "" = every addition style, scratchpads included


def test_generate_fn_must_return_one_completion_per_prompt():
    with pytest.raises(ValueError, match="completions"):
        Evaluator(_sets(2)[:1], lambda ps: ps[:-1]).run()


HOSTILE = [
    "import os\nos.system('touch /tmp/rtt_pwned')\n#### 987654321",
    "__import__('os').system('touch /tmp/rtt_pwned')",
    "#### __import__('os').system('touch /tmp/rtt_pwned')",
    "3 * 4 = 10**10**10 legs.\n#### 10**10**10",
    "In total: 9**9**9**9 = 1 legs.\n#### 9**9**9",
    "x" * 1_000_000,
    "#### " + "9" * 1_000_000,
    "(" * 5000 + "1" + ")" * 5000 + " = 1\n#### 987654321",
    "2 chickens have " + "(" * 5000 + "2" + ")" * 5000 + " = 4 legs.\n#### 987654321",
    "#### ٢٢", "#### ２２", "#### 2\u200b2", "\x00\x01\x02\n####\x00",
    "1 + 1 = 2\n" * 1999,
    "<<__import__('os').system('x')=1>>1\n#### 987654321",
    None, 42, b"#### 1",
]


def test_hostile_completions_are_wrong_bounded_and_never_run(monkeypatch):
    sets = _sets(2) + [gsm8k_set(str(FIXTURE), n=2)]
    # What the evaluator imports on first use is imported before eval and exec
    # are replaced (importing runs code): whichever test ran first in this process.
    tasks.get("gsm8k")
    intervals.t_quantile(1)  # scipy.stats
    calls = []
    for mod, attr in ((os, "system"), (subprocess, "Popen"), (builtins, "eval"),
                      (builtins, "exec")):
        monkeypatch.setattr(mod, attr, lambda *a, _n=attr, **k: calls.append((_n, a)))
    for text in HOSTILE:
        # Bounded: a parse that never ends fails here (tests/hang_guard.py);
        # bench/parse_worst_case.py times the same inputs.
        with hang_guard(300, repr(text)[:60]):
            report = Evaluator(sets, lambda ps, t=text: [t] * len(ps), samples_per_set=1).run()
        for name, e in report["sets"].items():
            assert e["answer_accuracy"] == 0.0, (name, repr(text)[:60])
            assert e["checker_errors"] == 0, (name, repr(text)[:60])
            assert "max_score_seconds" in e
        json.dumps(report["samples"])
    assert calls == [] and not os.path.exists("/tmp/rtt_pwned")


# --------------------------------------------------------------------------
# reports


def test_report_contract_markdown_and_plots(tmp_path):
    sets = _sets(3)
    fam_losses = lambda texts: (2.0 * len(texts), 4 * len(texts))  # noqa: E731
    report = Evaluator(sets, _teacher(sets), loss_fn=fam_losses).run(step=100)
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for step in (10, 20, 30):
            f.write(json.dumps({"step": step, "loss": 3.0 / step, **{
                k: v for k, v in flat_metrics(report).items()}}) + "\n")
        f.write(json.dumps({"step": 40, "loss": "nan"}) + "\n{\"step\": 5")  # cut line
    paths = write_report(report, str(tmp_path), trained_levels={"addition": range(1, 4)})
    body = json.loads((tmp_path / REPORT_JSON).read_text())
    assert "samples" not in body and body["step"] == 100
    for name, e in body["sets"].items():
        for key in ("answer_accuracy", "step_validity", "consistency", "n", "level", "family"):
            assert key in e, (name, key)
        assert e["loss"] == 0.5 and abs(e["perplexity"] - math.exp(0.5)) < 1e-12
        assert len(e["ci"]["answer_accuracy"]) == 2
    seen = []
    pairs = Evaluator(sets[:1], _teacher(sets), loss_inputs="pairs",
                      loss_fn=lambda ps: seen.extend(ps) or (1.0, 1)).run()
    assert pairs["sets"][sets[0].name]["loss"] == 1.0 and all(len(p) == 2 for p in seen)
    assert body["sets"]["addition/L6"]["trained"] is False  # overridden range
    assert body["sets"]["addition/L1"]["trained"] is True
    assert body["trained_levels"]["addition"] == [1, 2, 3]
    md = (tmp_path / REPORT_MD).read_text()
    assert "## counting" in md and "| counting/L7 | 7 | **no** |" in md
    samples = [json.loads(ln) for ln in (tmp_path / SAMPLES_JSONL).read_text().splitlines()]
    assert len(samples) == 3 * len(sets) and samples[0]["steps"][0]["verdict"] == "valid"
    assert {s["step"] for s in samples} == {100}
    for kind in ("accuracy_plot", "learning_curves"):
        assert os.path.getsize(paths[kind]) > 10_000, kind
    flat = flat_metrics(report)
    assert flat["eval/counting/L1/answer_accuracy"] == 1.0
    assert flat["eval/all/answer_accuracy"] == 1.0 and flat["eval/all/loss"] == 0.5
    # The cut last line is skipped; every row with a step is read, in order.
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [10, 20, 30, 40]


def test_samples_file_keeps_one_block_per_step_across_a_resume(tmp_path):
    """A resumed run that evaluates step 20 again replaces the killed run's
    step-20 samples instead of repeating them; earlier steps are kept."""
    workdir = str(tmp_path)
    write_samples(workdir, 10, [{"set": "a", "completion": "x"}])
    write_samples(workdir, 20, [{"set": "a", "completion": "killed"}])
    write_samples(workdir, 30, [{"set": "a", "completion": "killed too"}])
    write_samples(workdir, 20, [{"set": "a", "completion": "resumed"}, {"set": "b"}])
    rows = [json.loads(ln) for ln in (tmp_path / SAMPLES_JSONL).read_text().splitlines()]
    assert [(r["step"], r.get("completion")) for r in rows] == [
        (10, "x"), (20, "resumed"), (20, None)]
    write_samples(workdir, None, [{"set": "c", "score": float("nan")}])
    rows = [json.loads(ln) for ln in (tmp_path / SAMPLES_JSONL).read_text().splitlines()]
    assert rows == [{"set": "c", "score": None, "step": None}]


# --------------------------------------------------------------------------
# reasoning-gym: our scoring agrees with reasoning-gym's score_answer


def test_reasoning_gym_agreement():
    """On reference answers (and on perturbed ones) we are right exactly when
    reasoning-gym's own ``score_answer`` gives full marks."""
    pytest.importorskip("reasoning_gym")
    import random

    from rtt_jax.evaluation import rg_sets
    from rtt_jax.tasks import reasoning_gym_source as rgs
    from rtt_jax.traces.noise import wrong_answer_text
    sets = [s for s in rg_sets(rgs.available_shared(), n=15)
            if s.level == tasks.get(s.family).levels[0]]
    rng = random.Random(0)
    for reference, perturb in ((True, lambda a: a), (False, lambda a: wrong_answer_text(rng, a))):
        table = {}
        for s in sets:
            fam = tasks.get(s.family)
            for p in s.problems:
                table[prompt_for(fam, p, s.style)] = f"Working.\n#### {perturb(p.answer)}"
        for s in sets:  # per problem, through the scorer the evaluator uses
            fam = tasks.get(s.family)
            for p in s.problems:
                if p.answer:  # a few generators have items without a reference answer
                    sc = score_completion(fam, p, table[prompt_for(fam, p, s.style)], s.style)
                    assert sc.correct == (sc.rg_score == 1.0), (s.name, p.answer, sc)
        report = Evaluator(sets, lambda ps, table=table: [table[q] for q in ps]).run()
        for s in sets:
            e = report["sets"][s.name]
            if all(p.answer for p in s.problems):
                want = 1.0 if reference else 0.0
                assert e["answer_accuracy"] == want, s.name
                assert (e["rg_score"] == 1.0) if reference else (e["rg_score"] < 1.0), s.name
