"""Trace records, teachers, filters, dedup, noise, diversity and the build CLI."""
from __future__ import annotations

import collections
import json
import math
import pathlib
import random
import subprocess
import sys
from fractions import Fraction

import pytest

from rtt_jax import tasks
from rtt_jax.tasks.base import Problem, Step
from rtt_jax.traces import dedup, diversity, noise, record
from rtt_jax.traces.filters import FilterConfig, TraceFilter
from rtt_jax.traces.record import TraceFormatError, TraceRecord
from rtt_jax.traces.teachers import JsonlTeacher, ModelTeacher, ProgramTeacher
from rtt_jax.traces.verify import check_record

REPO = pathlib.Path(__file__).resolve().parents[1]


def program_records(family: str, n: int = 3, levels=None) -> list[TraceRecord]:
    fam = tasks.get(family)
    teacher = ProgramTeacher()
    out = []
    for level in levels or list(fam.train_levels)[:2]:
        for i in range(n):
            out.extend(teacher.teach(fam.generate(0, i, level)))
    return out


# --- record format -----------------------------------------------------------

def test_record_json_round_trip_for_every_family():
    for name in tasks.names():
        for r in program_records(name, n=2):
            back = record.record_from_json(json.loads(r.to_line()), "t")
            assert back == r, name
            assert back.id == r.id


def test_record_json_converts_fractions_and_tuples():
    p = Problem("expressions", 0, 0, 1, "Evaluate: 1 / 3", "1/3", {"expression": "1 / 3"})
    r = TraceRecord(p, "precedence", "1 / 3 = 1/3\n#### 1/3", "1/3",
                    (Step("/", (1, 3), Fraction(1, 3), "1 / 3 = 1/3"),))
    obj = json.loads(r.to_line())
    assert obj["steps"][0] == {"op": "/", "inputs": [1, 3], "result": "1/3", "text": "1 / 3 = 1/3"}
    assert obj["schema"] == record.SCHEMA
    back = record.record_from_json(obj, "t")
    assert back.steps[0].inputs == (1, 3) and back.steps[0].result == "1/3"


def test_render_and_parse_text_round_trip():
    text = record.render_text(["a + b = 3", "3 * 2 = 6"], "6")
    assert text == "a + b = 3\n3 * 2 = 6\n#### 6"
    parsed = record.parse_text(text)
    assert parsed.step_lines == ("a + b = 3", "3 * 2 = 6") and parsed.answer == "6"
    assert record.parse_text("no marker").answer is None


def test_write_and_read_records(tmp_path):
    recs = program_records("addition", n=2)
    path = tmp_path / "t.jsonl"
    assert record.write_records(str(path), recs) == len(recs)
    assert list(record.read_records(str(path))) == recs


@pytest.mark.parametrize("line, message", [
    ("{not json", r":2: not valid JSON"),
    ("[1, 2]", r":2: a trace record must be a JSON object"),
    ('{"problem": {"family": "addition"}, "text": "x"}', r":2: problem lacks"),
    ('{"problem": {"family": "addition", "seed": 0, "index": 0, "level": true, "question": "q",'
     ' "answer": "1"}, "text": "x"}', r":2: field 'level' must be int"),
    ('{"problem": {"family": "addition", "seed": 0, "index": 0, "level": 1, "question": "q",'
     ' "answer": "1"}}', r":2: missing field 'text'"),
    ('{"schema": "other/9", "text": "x"}', r":2: schema 'other/9'"),
    ('{"problem": {"family": "addition", "seed": 0, "index": 0, "level": 1, "question": "q",'
     ' "answer": "1"}, "text": "x", "noise": "typo"}', r":2: noise 'typo'"),
    ('{"problem": {"family": "addition", "seed": 0, "index": 0, "level": 1, "question": "q",'
     ' "answer": "1"}, "text": "x", "steps": [3]}', r":2: steps\[0\]"),
])
def test_bad_records_name_file_and_line(tmp_path, line, message):
    good = program_records("addition", n=1)[0].to_line()
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(TraceFormatError, match=str(path) + message):
        list(record.read_records(str(path)))


# --- teachers ----------------------------------------------------------------

def test_program_teacher_all_and_chosen_styles():
    fam = tasks.get("subtraction")
    p = fam.generate(0, 1, 2)
    assert [r.style for r in ProgramTeacher().teach(p)] == list(fam.styles)
    chosen = ProgramTeacher({"subtraction": ["count_up"]}).teach(p)
    assert [r.style for r in chosen] == ["count_up"]
    assert chosen[0].text == fam.format_example(p, "count_up")[1]
    with pytest.raises(ValueError, match="unknown styles"):
        ProgramTeacher({"subtraction": ["nope"]}).teach(p)


def test_program_traces_verify_for_every_family():
    for name in tasks.names():
        fam = tasks.get(name)
        for r in program_records(name, n=3, levels=[fam.train_levels[0], fam.train_levels[-1]]):
            assert check_record(r, fam).verified, (name, r.style, r.text)


def test_jsonl_teacher_imports_by_reference_and_in_full(tmp_path):
    fam = tasks.get("word_problem")
    p = fam.generate(0, 4, 3)
    text = fam.format_example(p, "forward")[1]
    by_ref = {"problem": {"family": "word_problem", "seed": 0, "index": 4, "level": 3},
              "style": "forward", "text": text, "teacher": "some-llm"}
    full = {"problem": {"family": "gsm8k", "question": "What is 2 + 3?", "answer": "5"},
            "text": "2 + 3 = 5\n#### 5", "source": "human"}
    path = tmp_path / "import.jsonl"
    path.write_text(json.dumps(by_ref) + "\n\n" + json.dumps(full) + "\n")
    a, b = list(JsonlTeacher(str(path)))
    assert a.problem == p and a.answer == p.answer and a.teacher == "some-llm"
    assert a.source == "import" and check_record(a).verified
    assert b.problem.question == "What is 2 + 3?" and b.answer == "5" and b.style == "imported"
    assert check_record(b).verified
    relabeled = list(JsonlTeacher([str(path)], teacher="gpt-x"))
    assert {r.teacher for r in relabeled} == {"gpt-x"}


def test_jsonl_teacher_errors_name_file_and_line(tmp_path):
    path = tmp_path / "import.jsonl"
    path.write_text('{"problem": {"family": "addition", "seed": 0, "index": 0}, "text": "x"}\n')
    with pytest.raises(TraceFormatError, match=rf"{path}:1: problem needs either"):
        list(JsonlTeacher(str(path)))
    path.write_text('{"problem": {"family": "addition", "seed": 0, "index": 0, "level": 999},'
                    ' "text": "x"}\n')
    with pytest.raises(TraceFormatError, match=rf"{path}:1: cannot regenerate"):
        list(JsonlTeacher(str(path)))
    path.write_text('{"problem": {"family": "nope", "seed": 0, "index": 0, "level": 1}, "text": "x"}\n')
    with pytest.raises(TraceFormatError, match=rf"{path}:1: cannot regenerate"):
        list(JsonlTeacher(str(path)))


def test_model_teacher_keeps_only_verified_samples():
    fam = tasks.get("expressions")
    problems = [fam.generate(0, i, 3) for i in range(4)]
    calls = []
    by_prompt = {fam.format_example(p, "innermost_first")[0]: p for p in problems}

    def sample_fn(prompts, k):
        calls.append((list(prompts), k))
        out = []
        for p in map(by_prompt.__getitem__, prompts):
            good = fam.format_example(p, "precedence")[1]
            bad_answer = good.rsplit("#### ", 1)[0] + "#### 99999"
            bad_step = noise.corrupt(TraceRecord(p, "precedence", good, p.answer,
                                                 tuple(fam.solve(p, "precedence").steps)),
                                     "wrong_step", random.Random(1)).text
            out.append([good, good, bad_answer, bad_step, "#### " + "(" * 5000])
        return out

    teacher = ModelTeacher(sample_fn, k=5, name="fake-model")
    kept = list(teacher.teach(problems, batch_size=3))
    assert [len(c[0]) for c in calls] == [3, 1] and all(c[1] == 5 for c in calls)
    assert calls[0][0][0] == fam.format_example(problems[0], "innermost_first")[0]
    assert len(kept) == 4  # one per problem: the duplicate good sample is dropped
    assert all(r.source == "model" and r.teacher == "fake-model" and r.verdicts.verified
               for r in kept)
    s = teacher.stats
    assert (s.problems, s.samples, s.kept, s.problems_solved) == (4, 20, 4, 4)
    assert s.answer_wrong == 8 and s.steps_invalid == 4 and s.duplicates == 4
    assert s.samples == s.kept + s.answer_wrong + s.steps_invalid + s.duplicates


def test_model_teacher_rejects_wrong_shapes():
    fam = tasks.get("addition")
    teacher = ModelTeacher(lambda prompts, k: [["x"]], k=2)
    with pytest.raises(ValueError, match="must return"):
        teacher.teach_batch([fam.generate(0, 0, 1)])
    with pytest.raises(ValueError):
        ModelTeacher(lambda p, k: [], k=0)


# --- filters -----------------------------------------------------------------

def _with_text(r: TraceRecord, text: str) -> TraceRecord:
    return r.replace(text=text)


def test_filters_drop_for_the_first_failed_reason():
    recs = program_records("subtraction", n=4)
    r0, r1, r2, r3, r4 = recs[:5]
    wrong_answer = _with_text(r1, r1.text.rsplit("#### ", 1)[0] + "#### 12345")
    bad_step = noise.corrupt(r2, "wrong_step", random.Random(0))
    bad_step = bad_step.replace(noise=None)  # as if a teacher wrote it
    no_marker = _with_text(r3, r3.text.rsplit("\n#### ", 1)[0])
    too_long = _with_text(r4, r4.text + "\n" + "x" * 500)
    control = _with_text(r4, "\x07" + r4.text)
    filt = TraceFilter(FilterConfig())
    kept = list(filt([r0, r0, wrong_answer, bad_step, no_marker, too_long, control]))
    assert kept == [r0.replace(verdicts=kept[0].verdicts)] and kept[0].verdicts.verified
    assert dict(filt.report.dropped) == {
        "exact_duplicate": 1, "answer_wrong": 1, "steps_invalid:wrong_arithmetic": 1,
        "format:no_answer_marker": 1, "format:line_too_long": 1, "format:control_chars": 1}
    assert filt.report.seen == 7 and filt.report.kept == 1
    assert filt.report.by_family["subtraction"]["kept"] == 1


def test_lee_formats_need_no_marker():
    recs = [r for r in program_records("addition", n=3) if r.style.startswith("lee_")]
    filt = TraceFilter(FilterConfig(dedup_threshold=1.0))
    assert len(list(filt(recs))) == len(recs), filt.report.to_json()


def test_near_duplicates_and_style_cap():
    fam = tasks.get("word_problem")
    p = fam.generate(0, 0, 4)
    r = ProgramTeacher({"word_problem": ["forward"]}).teach(p)[0]
    near = _with_text(r, r.text.replace(".", " .", 1))  # same solution, one extra space
    filt = TraceFilter(FilterConfig(dedup_threshold=0.8, require_valid_steps=False))
    assert len(list(filt([r, near]))) == 1
    assert filt.report.dropped["near_duplicate"] == 1
    capped = TraceFilter(FilterConfig(max_traces_per_problem=1))
    both = ProgramTeacher().teach(p)
    assert len(list(capped(both))) == 1 and capped.report.dropped["style_cap"] == 1


def test_noisy_records_bypass_verification_but_not_format():
    r = program_records("multiplication", n=1)[0]
    bad = noise.corrupt(r, "wrong_answer", random.Random(0))
    filt = TraceFilter(FilterConfig())
    assert list(filt([bad])) == [bad]
    strict = TraceFilter(FilterConfig(verify_noisy=True))
    assert list(strict([bad])) == [] and strict.report.dropped["answer_wrong"] == 1


# --- dedup -------------------------------------------------------------------

def test_near_duplicate_index():
    idx = dedup.NearDuplicateIndex(threshold=0.7, num_perm=128)
    base = "Column 1: 8 + 7 + carry 0 = 15, write 5, carry 1. Column 2: 2 + 6 + carry 1 = 9."
    assert idx.add("a", base)
    assert not idx.add("b", base.upper())  # normalized: exact duplicate
    assert not idx.add("c", base.replace("Column 2", "Column  2").replace("9.", "9!"))
    assert idx.add("d", "A completely different passage about the water cycle and clouds.")
    assert idx.stats.exact_duplicates == 1 and idx.stats.near_duplicates == 1
    assert idx.duplicate_of(base + " ") == "a" and len(idx) == 2
    with pytest.raises(KeyError):
        idx.add("d", "yet another unrelated text that is new to the index entirely")


def test_lines_in_any_order_catches_a_reordered_copy_that_shingles_miss():
    lines = [f"{a}+{b}={a + b}" for a, b in [(8, 7), (5, 4), (9, 2), (1, 6), (3, 3), (7, 9)]]
    text = "\n".join(lines)
    moved = "\n".join(lines[3:] + lines[:3])
    # Short lines: most 5-character shingles cross a line boundary.
    assert dedup.NearDuplicateIndex(threshold=0.8).add("a", text)
    plain = dedup.NearDuplicateIndex(threshold=0.8)
    plain.add("a", text)
    assert plain.duplicate_of(moved) is None and plain.add("b", moved)
    ordered = dedup.NearDuplicateIndex(threshold=0.8, lines_in_any_order=True)
    assert ordered.add("a", text)
    assert ordered.duplicate_of(moved) == "a" and not ordered.add("b", moved)
    assert ordered.stats.near_duplicates == 1
    # A line more or less is new content.
    assert ordered.add("c", moved + "\n2+2=4") and ordered.duplicate_of(text + "\n\n") == "a"


def test_dedup_is_deterministic_and_jaccard_based():
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]
    bases = [" ".join(rng.choice(words) for _ in range(30)) for _ in range(7)]
    # Items 7.. repeat a base with one character changed at the end: near-duplicates.
    texts = [(i, bases[i % 7] + ("!" if i >= 7 else "")) for i in range(50)]
    kept = dedup.deduplicate(texts, threshold=0.9)
    assert kept == dedup.deduplicate(texts, threshold=0.9) == list(range(7))
    distinct = [(i, " ".join(rng.choice(words) for _ in range(30))) for i in range(40)]
    assert len(dedup.deduplicate(distinct, threshold=0.9)) == 40
    # Exact-only mode keeps the one-character variants.
    assert len(dedup.deduplicate(texts, threshold=1.0)) == 14


# --- noise -------------------------------------------------------------------

def test_noise_is_deterministic_and_order_free():
    recs = program_records("division", n=20)
    cfg = noise.NoiseConfig(wrong_step=0.2, skipped_step=0.2, wrong_answer=0.2, seed=3)
    a = [noise.NoiseInjector(cfg)(r) for r in recs]
    b = [noise.NoiseInjector(cfg)(r) for r in reversed(recs)][::-1]
    assert a == b
    other = [noise.NoiseInjector(noise.NoiseConfig(0.2, 0.2, 0.2, seed=4))(r) for r in recs]
    assert a != other


def test_noise_rates():
    recs = program_records("counting", n=250, levels=[1, 2, 3])
    inj = noise.NoiseInjector(noise.NoiseConfig(wrong_step=0.1, skipped_step=0.2,
                                                wrong_answer=0.3, seed=0))
    out = [inj(r) for r in recs]
    n = len(recs)
    for kind, rate in (("wrong_step", 0.1), ("skipped_step", 0.2), ("wrong_answer", 0.3)):
        share = sum(r.noise == kind for r in out) / n
        assert abs(share - rate) < 4 * math.sqrt(rate * (1 - rate) / n), (kind, share)
    assert inj.counts["clean"] + sum(inj.counts[k] for k in record.NOISE_KINDS) \
        + inj.counts["no_place"] == n
    with pytest.raises(ValueError):
        noise.NoiseConfig(wrong_step=0.6, wrong_answer=0.6)


def test_wrong_answer_text():
    rng = random.Random(0)
    assert wrong_differs(rng, "1080") and wrong_differs(rng, "-3") and wrong_differs(rng, "3/4")
    assert noise.wrong_answer_text(rng, "True") == "False"
    assert noise.wrong_answer_text(rng, "no") == "yes"
    assert noise.wrong_answer_text(rng, "mother-in-law") != "mother-in-law"


def wrong_differs(rng, answer: str) -> bool:
    new = noise.wrong_answer_text(rng, answer)
    return new != answer and len(new) == len(answer)


@pytest.mark.parametrize("family", tasks.names())
def test_noise_is_caught_by_the_family_checkers(family):
    fam = tasks.get(family)
    recs = program_records(family, n=8, levels=list(fam.train_levels)[:4])
    rng = random.Random(0)
    for kind in record.NOISE_KINDS:
        tried = caught = 0
        for r in recs:
            bad = noise.corrupt(r, kind, rng)
            if bad is None:
                continue
            tried += 1
            caught += not check_record(bad, fam).verified
        # Issue 3: every family catches >= 99% of every corruption kind.
        assert tried >= len(recs) // 2, (family, kind, tried)
        assert caught >= 0.99 * tried, (family, kind, caught, tried)


# --- diversity ---------------------------------------------------------------

def test_distinct_n_and_style_entropy():
    assert diversity.distinct_n(["a b a b"], 1) == 0.5
    assert diversity.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert diversity.distinct_n(["12+7=19"], 1) == 1.0 and diversity.tokens("12+7=19") == \
        ["12", "+", "7", "=", "19"]
    assert diversity.style_entropy(["x"] * 4) == 0.0
    assert diversity.style_entropy(["a", "b", "c", "d"]) == pytest.approx(2.0)
    stats = diversity.DiversityStats(ns=(1,))
    stats.add("f", "s1", (0,), "a b")
    stats.add("f", "s2", (0,), "a c")
    stats.add("g", "t", (1,), "a")
    out = stats.to_json()
    assert out["by_family"]["f"]["style_entropy_bits"] == 1.0
    assert out["by_family"]["f"]["mean_styles_per_problem"] == 2.0
    assert out["style_entropy_bits"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["distinct_1"] == pytest.approx(3 / 5)


# --- build CLI and TFDS round trip ---------------------------------------------

def _tiny_config(**overrides):
    from rtt_jax.configs.traces import tiny
    cfg = tiny.get_config()
    cfg.families = "addition,gcd_lcm,logic"
    cfg.problems_per_level = 3
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def test_build_writes_jsonl_tfds_and_card(tmp_path):
    import tensorflow_datasets as tfds
    from rtt_jax.traces import build, tfds_writer
    cfg = _tiny_config()
    cfg.noise.wrong_answer = 0.25
    card = build.build(cfg, str(tmp_path))
    recs = list(record.read_records(str(tmp_path / "traces.jsonl")))
    assert card["records"] == len(recs) > 0
    per_family = collections.Counter(r.family for r in recs)
    assert {f: c["records"] for f, c in card["counts"].items()} == dict(per_family)
    assert card["counts"]["addition"]["by_style"]["column"] == 6  # 3 problems x 2 levels
    assert sum(card["noise"][k] for k in record.NOISE_KINDS) == sum(r.noise is not None for r in recs)
    assert card["filter_report"]["kept"] == len(recs)
    assert 0 < card["diversity"]["distinct_2"] <= 1
    assert (tmp_path / "dataset_card.md").read_text().startswith("# rtt_traces")
    assert json.loads((tmp_path / "dataset_card.json").read_text())["records"] == len(recs)
    source = tfds.data_source("rtt_traces", data_dir=str(tmp_path / "tfds"))["train"]
    assert len(source) == len(recs)
    for i in (0, len(recs) // 2, len(recs) - 1):
        assert tfds_writer.from_example(source[i]) == recs[i]
        assert source[i]["text"].decode() == recs[i].text
    via_dir = tfds_writer.data_source(card["files"]["tfds_builder_dir"])
    assert via_dir[1]["id"].decode() == recs[1].id
    with pytest.raises(FileExistsError):
        build.build(cfg, str(tmp_path))
    # Same config, same bytes.
    build.build(cfg, str(tmp_path / "again"))
    assert (tmp_path / "again" / "traces.jsonl").read_bytes() == \
        (tmp_path / "traces.jsonl").read_bytes()


@pytest.mark.slow
def test_build_cli_help_and_overrides(tmp_path):
    help_out = subprocess.run([sys.executable, "-m", "rtt_jax.traces.build", "--help"],
                              capture_output=True, text=True, cwd=REPO, timeout=600).stdout
    assert "--out" in help_out and "--config" in help_out
    out = subprocess.run(
        [sys.executable, "-m", "rtt_jax.traces.build", "--config=configs/traces/tiny.py",
         f"--out={tmp_path}", "--config.families=subtraction", "--config.problems_per_level=2",
         "--config.styles.subtraction=count_up", "--config.write_tfds=False"],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    card = json.loads((tmp_path / "dataset_card.json").read_text())
    assert card["counts"] == {"subtraction": {"records": 4, "by_level": {"1": 2, "2": 2},
                                              "by_style": {"count_up": 4},
                                              "by_source": {"program": 4}}}
    assert card["files"]["tfds_builder_dir"] is None


def test_build_imports_jsonl_traces(tmp_path):
    from rtt_jax.traces import build
    src = tmp_path / "in.jsonl"
    recs = program_records("gcd_lcm", n=3)
    record.write_records(str(src), recs + [recs[0]])
    cfg = _tiny_config(teacher="jsonl", jsonl_paths=str(src), jsonl_teacher="llm-x",
                       write_tfds=False)
    card = build.build(cfg, str(tmp_path / "out"))
    assert card["records"] == len(recs)
    assert card["filter_report"]["dropped"] == {"exact_duplicate": 1}
    kept = list(record.read_records(str(tmp_path / "out" / "traces.jsonl")))
    assert {r.teacher for r in kept} == {"llm-x"}


def test_parse_levels():
    from rtt_jax.traces.build import parse_levels
    assert parse_levels("") is None
    assert parse_levels("1-3,5") == [1, 2, 3, 5]
    with pytest.raises(ValueError, match="config.levels"):
        parse_levels("one")


def test_build_from_gsm8k_file_and_reasoning_gym(tmp_path):
    from rtt_jax.traces import build
    fixture = REPO / "tests" / "fixtures" / "gsm8k_test_head50.jsonl"
    cfg = _tiny_config(families="gsm8k,rg/chain_sum,rg/family_relationships",
                       gsm8k_path=str(fixture), problems_per_level=10, write_tfds=False)
    card = build.build(cfg, str(tmp_path))
    counts = card["counts"]
    assert set(counts["gsm8k"]["by_style"]) == {"calc", "plain"}
    # Human solutions that fail the strict step check are dropped, and counted.
    report = card["filter_report"]["by_family"]["gsm8k"]
    assert report["seen"] == 20 and report["kept"] == counts["gsm8k"]["records"] >= 12
    assert counts["rg/chain_sum"]["records"] == 10 * 2 * 2  # tiny: levels 1-2; 2 styles
    assert "rg/family_relationships" not in counts  # answer-only source: no traces
    recs = list(record.read_records(str(tmp_path / "traces.jsonl")))
    assert all(r.verdicts is not None and r.verdicts.verified for r in recs)


HOSTILE = ["", "####", "#### " + "9" * 5000, "(" * 5000 + "1" + ")" * 5000 + " = 1\n#### 1",
           "10**10**10 = 5\n#### 5", "=" * 20000, "\x00 = 2\n#### 2", "٣ + ٤ = ٧\n#### ٧",
           "__import__('os').system('true') = 0\n#### 0", "\n".join(["1+1=2"] * 5000),
           "True or " * 3000 + "True\n#### True", "A->" * 5000, "\ud800\n#### 1", "1" * 100_000]


@pytest.mark.parametrize("family", tasks.names() + ("rg/family_relationships",))
def test_model_teacher_keeps_no_hostile_sample(family):
    fam = tasks.get(family)
    problems = [fam.generate(0, i, fam.train_levels[0]) for i in range(2)]
    teacher = ModelTeacher(lambda prompts, k: [list(HOSTILE) for _ in prompts], k=len(HOSTILE))
    assert teacher.teach_batch(problems) == []
    assert teacher.stats.samples == 2 * len(HOSTILE)
