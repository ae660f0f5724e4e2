"""Textbook sections, quality rules, the quality classifier and the filter CLI."""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from rtt_jax import tasks
from rtt_jax.tasks.base import INVALID
from rtt_jax.textbook import classifier as clf
from rtt_jax.textbook import corpus_diversity, corrupt, quality, readers, sections, templates
from rtt_jax.textbook import filter as tb_filter
from rtt_jax.traces import dedup

GOOD_PROSE = (
    "Fractions describe parts of a whole. When we cut a cake into eight equal slices and "
    "eat three of them, we have eaten three eighths of the cake. The number below the line "
    "tells us how many equal parts the whole was divided into, and the number above the "
    "line tells us how many of those parts we have. Two fractions are equal when they name "
    "the same amount, so two quarters and one half describe the same share of the cake.\n"
    "To compare fractions with the same denominator, compare the numerators. To compare "
    "fractions with different denominators, first rewrite them with a common denominator.\n")


# distinct-4 of the 500 sections the generate CLI writes by default (seed 0):
# 0.5023 (docs/results.md), less a small margin for wording edits; also the
# contract's bound (issue 28, item 5).
DISTINCT_4_BOUND = 0.50


def _digest(n: int = 24) -> str:
    src = sections.TextbookSource(seed=5)
    h = hashlib.sha256()
    for i in range(n):
        s = src[i]
        h.update(f"{s.family}|{s.level}|{s.template_id}|{s.text}".encode())
    return h.hexdigest()


@pytest.mark.slow
def test_sections_deterministic_by_index_across_processes():
    code = "from tests.test_textbook import _digest; print(_digest())"
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(__file__)), check=True)
    assert out.stdout.strip() == _digest()


def test_sections_are_random_access_and_seeded():
    """Section i depends on (seed, i) only: not on what was read before it."""
    walked = sections.TextbookSource(seed=5)
    in_order = [walked[i].text for i in range(20)]
    fresh = sections.TextbookSource(seed=5)
    assert [fresh[i].text for i in reversed(range(20))] == in_order[::-1]
    assert in_order[3] != sections.TextbookSource(seed=6)[3].text


def _logic_facts(text: str) -> dict[str, str]:
    """The truth values a question gives: "p = True, q = False", "p is True
    and q is False", "p and r are True; q is False", "p, q and r are all True"."""
    found = dict(re.findall(r"\b([a-z]) = (True|False)", text))
    for letters, value in re.findall(r"((?:\b[a-z]\b(?:, | and )?)+) (?:is|are)(?: all| both)? (True|False)", text):
        found |= {v: value for v in re.findall(r"\b[a-z]\b", letters)}
    return found


def _same_symbols(a: str, b: str) -> bool:
    """Wording ``a`` of question ``b`` holds the same numbers, and copies
    each formula of ``b`` (an expression, equation, mod-10 chain, or a logic
    formula) verbatim; a logic question's facts may be said in words, with
    the same letters and values."""
    if sorted(re.findall(r"\d+", a)) != sorted(re.findall(r"\d+", b)):
        return False
    logic = re.fullmatch(r"Given (.+), evaluate: (.+)", b)
    if logic:
        given, formula = logic.groups()
        # the formula may recur inside the facts ("p and q ... p and q are both True")
        cuts = [a[:i] + a[i + len(formula):] for i in range(len(a)) if a.startswith(formula, i)]
        return any(_logic_facts(cut) == _logic_facts(given) for cut in cuts)
    m = re.fullmatch(r"(?:Evaluate|Solve for x): (.+)|([0-9+-]+) mod 10", b)
    return m is None or all(g in a for g in m.groups() if g)


def test_restated_questions_ask_the_same_thing():
    """``questions.restate`` rewords every family's question form, copying
    its numbers, operators and formulas unchanged (in the same order)."""
    from rtt_jax.textbook import questions

    for family in tasks.names():
        fam = tasks.get(family)
        forms = set()
        for level in (fam.levels[0], fam.levels[-1]):
            for index in range(6):
                p = fam.generate(3, index, level)
                for k in range(6):
                    asked = questions.restate(p, random.Random(100 * index + k))
                    assert not re.search(r"[\[\]{}]", asked), (family, asked)
                    assert asked == p.question or _same_symbols(asked, p.question), (family, asked)
                    forms.add(asked != p.question)
        assert forms == {True, False}, family  # every family is reworded, and sometimes not


def _verify(fam, rec, text, shown=None):
    p = fam.generate(rec["seed"], rec["index"], rec["level"])
    assert p.question == rec["question"] and rec["asked"] in text
    assert rec["asked"] == p.question or _same_symbols(rec["asked"], p.question)
    for line in rec["lines"][:shown]:
        assert line in text
    report = fam.check_steps(p, "\n".join(rec["lines"]) + f"\n#### {rec['answer']}")
    assert report.all_valid and report.answer_follows, (fam.name, rec)
    assert fam.check_answer(p, f"#### {rec['answer']}")
    return p


@pytest.mark.parametrize("family", tasks.names())
def test_every_family_gets_sections_at_several_levels_and_numbers_verify(family):
    fam = tasks.get(family)
    levels = sorted({fam.train_levels[0], fam.train_levels[len(fam.train_levels) // 2],
                     fam.train_levels[-1], fam.levels[-1]})
    seen_parts = set()
    for level in levels:
        for index in range(3):
            s = sections.section(family, 0, index, level)
            assert s.family == family and s.level == level
            seen_parts.update(s.parts["order"])
            for rec in list(s.parts.get("worked", [])) + list(s.parts.get("exercises", [])):
                assert rec["level"] == level
                # Exercise solutions may be an answer key (no lines shown).
                _verify(fam, rec, s.text, shown=rec.get("shown"))
                for said in (rec.get("context"), rec.get("estimate"), rec.get("check"),
                             rec.get("variation")):
                    assert said is None or said in s.text
            if s.parts.get("rule_example"):  # the rule at work: its first lines
                _verify(fam, s.parts["rule_example"], s.text, shown=s.parts["rule_example"]["shown"])
            m = s.parts["mistake"]
            if "mistake" in s.parts["order"]:
                assert m is not None
                p = _verify(fam, m, s.text, shown=m["step_index"])  # shown up to the slip
                assert m["wrong_line"] in s.text and m["right_line"] in s.text
                bad = list(m["lines"])
                bad[m["step_index"]] = m["wrong_line"]
                # The shown mistake really is one: the family's checker rejects it.
                assert not fam.check_steps(p, "\n".join(bad) + f"\n#### {m['answer']}").all_valid
    assert {"rule", "worked", "exercises"} <= seen_parts
    with pytest.raises(ValueError, match="no level"):
        sections.section(family, 0, 0, fam.levels[-1] + 1)


@pytest.mark.parametrize("family", tasks.names())
def test_second_methods_and_recaps_hold_the_right_numbers(family):
    """A worked example solved a second way shows another skill's solver
    lines for the same problem, which the family's checker accepts, with the
    same answer; a closing recap names the first worked example's line count
    and answer. Both turn up for every family within 120 sections."""
    fam = tasks.get(family)
    seconds = recaps = 0
    for index in range(120):
        level = fam.train_levels[index % len(fam.train_levels)]
        s = sections.section(family, 0, index, level)
        for rec in s.parts.get("worked", []):
            again = rec.get("second")
            if again is None:
                continue
            seconds += 1
            assert again["style"] != s.parts["style"] and again["answer"] == rec["answer"]
            assert "\n".join(again["lines"]) in s.text
            p = _verify(fam, rec, s.text)
            report = fam.check_steps(p, "\n".join(again["lines"]) + f"\n#### {again['answer']}")
            assert report.all_valid and report.answer_follows, (family, again)
        if s.parts.get("recap"):
            recaps += 1
            first = s.parts["worked"][0]
            assert s.parts["recap"]["text"] in s.text
            assert s.parts["recap"]["lines"] == len(first["lines"]) >= 2
            assert s.parts["recap"]["answer"] == first["answer"]
            assert str(first["answer"]) in s.parts["recap"]["text"]
    assert seconds >= 1 and recaps >= 1, (family, seconds, recaps)


def test_checks_estimates_and_variations_state_true_arithmetic():
    """Every "a op b = c" a check, an estimate, a variation or a setting
    writes is true: read back with the GSM8K claim checker, none is invalid."""
    from rtt_jax.tasks import gsm8k_steps
    from rtt_jax.textbook import checks, contexts, variations

    judged = 0
    for family in tasks.names():
        fam = tasks.get(family)
        for level in (fam.levels[0], fam.levels[-1]):
            for index in range(4):
                p = fam.generate(7, index, level)
                t = fam.solve(p, fam.styles[0])
                rng = random.Random(index)
                for said in (checks.check(p, t.answer, rng), checks.estimate(p, rng),
                             variations.variation(p, rng), contexts.context(p, rng)):
                    if not said:
                        continue
                    j = gsm8k_steps.judge_lines(p.question, said.split("\n"))
                    judged += len(j.verdicts)
                    assert all(v.verdict != INVALID for v in j.verdicts), (family, said)
    assert judged >= 60  # the checks do write arithmetic to judge


def test_sections_pick_every_wording_alternative():
    """No "[a|b]" group of a template reaches a section unpicked."""
    src = sections.TextbookSource(seed=3)
    for i in range(150):
        assert not re.search(r"\[[^\]]*\|[^\]]*\]", src[i].text), src[i].text
        assert not re.search(r"[{}]", src[i].text), src[i].text  # no unfilled "{name}"
    assert templates.vary("[a|b] c [d]", random.Random(0)) in ("a c [d]", "b c [d]")


def test_sections_at_the_same_level_differ():
    for family in ("addition", "logic", "word_problem"):
        secs = [sections.section(family, 0, i, 3) for i in range(25)]
        assert len({s.template_id for s in secs}) >= 24
        sigs = [dedup.minhash(s.text, num_perm=128).hashvalues for s in secs]
        sims = np.array([np.mean(a == b) for a, b in itertools.combinations(sigs, 2)])
        # Char-5-gram Jaccard: about 0.2 on average between two sections of a family.
        assert np.mean(sims >= 0.5) <= 0.02, (family, np.mean(sims >= 0.5))
        assert sims.max() < 0.8  # nothing the filter would call a near-duplicate
        assert dedup.deduplicate(((i, s.text) for i, s in enumerate(secs)), threshold=0.8) == list(range(25))


def test_heuristic_rules_flag_bad_text_and_pass_good_text():
    assert quality.check(GOOD_PROSE).passed, quality.check(GOOD_PROSE).failures
    src = sections.TextbookSource(seed=11)
    passed = [quality.check(src[i].text).passed for i in range(110)]
    assert np.mean(passed) >= 0.98
    rep = quality.check("Click the button to continue reading this page now.\n" * 30)
    names = {f.split("=")[0] for f in rep.failures}
    assert {"duplicate_line_fraction", "top_4gram_char_fraction", "dup_10gram_char_fraction"} <= names
    soup = " ".join(f"word{'@#$%^&*~|'[i % 9] * 3}" for i in range(80))
    assert any(f.startswith("symbol_char_ratio") for f in quality.check(soup).failures)
    unpunct = "\n".join("the cat and the dog went to the park with a ball" for _ in range(3)) + \
        "\n" + "\n".join(f"line {i} of the text goes on and on without any stop" for i in range(10))
    failures = quality.check(unpunct).failures
    assert any(f.startswith("punct_line_fraction") for f in failures)
    assert all(": " in f for f in failures)  # every failure carries a reason
    assert any(f.startswith("words") for f in quality.check("Too short.").failures)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    # 160 sections (120 before issue 28's third pass): with many more rule
    # phrasings and wordings, 120 left the held-out "one line repeated" kind
    # at 6 of 10 (160: 7 of 10); the filter's heuristic rules reject all of
    # those anyway (duplicate lines).
    texts, labels, _ = clf.labelled_corpus(160, seed=0)
    path = str(tmp_path_factory.mktemp("model") / "quality_model.json")
    clf.train(texts, labels).save(path)
    return path


def test_classifier_separates_held_out_good_and_bad(model_path):
    model = clf.QualityClassifier.load(model_path)
    held = clf.evaluate(model, *clf.labelled_corpus(80, seed=1000))  # other seed: unseen problems
    print("classifier held-out:", held)
    assert held["accuracy"] >= 0.9
    assert all(acc >= 0.7 for acc in held["by_kind"].values()), held["by_kind"]
    with open(model_path) as f:
        assert json.load(f)["format"] == clf.FORMAT
    assert model.score(GOOD_PROSE) == clf.QualityClassifier.load(model_path).score(GOOD_PROSE)


def _write_corpus(path, good, bad, dupes):
    with open(path, "w") as f:
        for i, t in enumerate(good):
            f.write(json.dumps({"id": f"good{i}", "text": t}) + "\n")
        for i, t in enumerate(bad):
            f.write(json.dumps({"id": f"bad{i}", "text": t}) + "\n")
        for i, t in enumerate(dupes):
            f.write(json.dumps({"id": f"dupe{i}", "text": t}) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import random
    src = sections.TextbookSource(seed=21)
    good = [src[i].text for i in range(16)]
    rng = random.Random(0)
    bad = [corrupt.make_bad(k, good[i], rng) for i, k in enumerate(corrupt.BAD_KINDS)]
    dupes = [good[0] + "\nOne more line.", good[1].replace("the", "The", 1)]
    path = str(tmp_path_factory.mktemp("corpus") / "corpus.jsonl")
    _write_corpus(path, good, bad, dupes)
    return path, len(good), len(bad), len(dupes)


def _read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_filter_cli_contract(corpus, model_path, tmp_path):
    path, n_good, n_bad, n_dupes = corpus
    out = str(tmp_path / "out")
    assert tb_filter.main([f"--input={path}", f"--out={out}", f"--model={model_path}",
                           "--threshold=0.5"]) == 0
    kept, dropped = _read_jsonl(f"{out}/kept.jsonl"), _read_jsonl(f"{out}/dropped.jsonl")
    report = json.load(open(f"{out}/filter_report.json"))
    assert len(kept) + len(dropped) == report["records"] == n_good + n_bad + n_dupes
    assert {r["id"] for r in kept} == {f"good{i}" for i in range(n_good)}
    assert all(r["drop_reasons"] for r in dropped) and all("quality_score" in r for r in kept)
    near = [r for r in dropped if any(x.startswith("near-duplicate") for x in r["drop_reasons"])]
    assert {r["id"] for r in near} == {"dupe0", "dupe1"}
    assert report["drop_reason_counts"]["near_duplicate"] == 2
    assert len(report["per_record"]) == report["records"]
    assert sum(report["histogram"]["kept"]) == len(kept)
    assert report["examples"]["kept"] and report["examples"]["dropped"][0]["reasons"]
    assert report["diversity"]["kept"]["distinct_2"] > 0
    assert report["histogram_png"] and os.path.getsize(report["histogram_png"]) > 0
    print("filter throughput (records/s):", report["records_per_second"])


def test_filter_keep_fraction_and_threshold(corpus, model_path, tmp_path):
    path, n_good, n_bad, n_dupes = corpus
    n = n_good + n_bad + n_dupes
    out = str(tmp_path / "frac")
    assert tb_filter.main([f"--input={path}", f"--out={out}", f"--model={model_path}",
                           "--keep_fraction=0.25"]) == 0
    report = json.load(open(f"{out}/filter_report.json"))
    assert report["kept"] == round(0.25 * n) and report["mode"] == "keep_fraction"
    kept_scores = [r["score"] for r in report["per_record"] if r["kept"]]
    cut = min(kept_scores)
    assert cut == report["effective_threshold"]
    assert all(r["score"] <= cut for r in report["per_record"]
               if not r["kept"] and any("top 0.25" in x for x in r["reasons"]))
    out2 = str(tmp_path / "thr")
    assert tb_filter.main([f"--input={path}", f"--out={out2}", f"--model={model_path}",
                           "--threshold=1.0"]) == 0
    report2 = json.load(open(f"{out2}/filter_report.json"))
    assert report2["kept"] == 0 and report2["drop_reason_counts"]["low_score"] >= n_good - 2


def test_filter_malformed_line(tmp_path, model_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": GOOD_PROSE}) + "\n{not json\n" + json.dumps({"txt": "x"}) + "\n")
    assert tb_filter.main([f"--input={path}", f"--out={tmp_path / 'o'}", f"--model={model_path}"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: not valid JSON" in err and len(err.strip().splitlines()) == 1
    assert tb_filter.main([f"--input={path}", f"--out={tmp_path / 'o2'}", f"--model={model_path}",
                           "--skip_bad_lines"]) == 0
    report = json.load(open(tmp_path / "o2" / "filter_report.json"))
    assert report["records"] == 1 and report["bad_lines_skipped"] == 2
    assert "expected a string field 'text'" in report["bad_line_errors"][1]


def test_filter_reads_tfds_by_name(tmp_path, model_path):
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    texts = [sections.TextbookSource(seed=31)[i].text for i in range(4)] + ["spam spam buy now!!!"]

    class TinyTextbook(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")
        code_path = None  # see rtt_jax/traces/tfds_writer.py: tfds 4.9.10 on Python 3.11

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, disable_shuffling=True,
                                         features=tfds.features.FeaturesDict({"text": tfds.features.Text()}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i, t in enumerate(texts):
                yield i, {"text": t}

    data_dir = str(tmp_path / "tfds")
    TinyTextbook(data_dir=data_dir, file_format="array_record").download_and_prepare()
    docs = list(readers.read_tfds("tiny_textbook:train", data_dir))
    assert [d.text for d in docs] == texts
    out = str(tmp_path / "out")
    assert tb_filter.main(["--tfds=tiny_textbook:train", f"--tfds_data_dir={data_dir}",
                           f"--out={out}", f"--model={model_path}"]) == 0
    report = json.load(open(f"{out}/filter_report.json"))
    assert report["records"] == 5 and report["kept"] == 4
    with pytest.raises(readers.CorpusError, match="NAME:SPLIT"):
        list(readers.read_tfds("tiny_textbook", data_dir))


def test_generated_sections_distinct_4_holds():
    """distinct-4 of sections 0-499 of seed 0: exactly the corpus of the
    contract command ``python -m rtt_jax.textbook.generate --n=500`` (which
    reports 0.4569 on issue 11's generator plus issue 28's first pass). A
    change that makes sections more uniform fails here. Generating 500
    sections takes about a second of CPU."""
    src = sections.TextbookSource(seed=0)
    d = corpus_diversity.corpus_diversity([src[i].to_json() for i in range(500)])
    assert d["distinct_4"] >= DISTINCT_4_BOUND, d["distinct_4"]


def test_rule_phrasings_are_many_and_their_arithmetic_is_true():
    """Every skill has at least seven phrasings of its rule (``rule_phrasings``
    adds to ``skills``), each lead sentence stands alone (the rule in brief),
    and every "a op b = c" a phrasing (or a note) writes is true: read back
    with the GSM8K claim checker, none is invalid."""
    from rtt_jax.tasks import gsm8k_steps
    from rtt_jax.textbook import rule_phrasings, skills

    judged = 0
    for family in tasks.names():
        for skill in skills.skills(family):
            assert len(skill.rules) >= 7, (family, skill.style, len(skill.rules))
            for rule in skill.rules:
                for seed in range(3):
                    text = templates.vary(rule, random.Random(seed))
                    assert not re.search(r"[\[\]{}]", text), text
                    lead = sections._sentences(text)[0]
                    # no pronoun pointing back at a sentence the brief rule lacks
                    assert not lead.startswith(("This ", "That ", "It ", "They ", "These ")), lead
                    j = gsm8k_steps.judge_lines("", [text])
                    judged += len(j.verdicts)
                    assert all(v.verdict != INVALID for v in j.verdicts), (family, text)
    from rtt_jax.textbook import notes  # the notes' small examples too ("52 - 19 is ... 33")
    for text in [x for pool in (notes.WHY, notes.TIPS) for v in pool.values() for x in v]:
        j = gsm8k_steps.judge_lines("", [templates.vary(text, random.Random(0))])
        judged += len(j.verdicts)
        assert all(v.verdict != INVALID for v in j.verdicts), text
    assert judged >= 10  # the phrasings do write arithmetic to judge
    assert set(rule_phrasings.MORE) <= {(f, s.style) for f in tasks.names() for s in skills.skills(f)}


def test_reworded_stories_and_legs_state_the_same_facts():
    """Word problems' statements and a farm's legs per kind are reworded one
    at a time; each names the same people, kinds and numbers in the same
    order, and sections that ask them still verify (the solver's lines
    answer the reworded question)."""
    from rtt_jax.textbook import questions

    for family, field in (("word_problem", r"[A-Z][a-z]+|\d+"), ("counting", r"\d+")):
        fam = tasks.get(family)
        changed = 0
        for index in range(12):
            p = fam.generate(4, index, fam.levels[-1])
            for k in range(4):
                asked = questions.restate(p, random.Random(10 * index + k))
                # the statements' names and numbers in order (the final ask aside)
                story = [re.findall(field, " ".join(re.split(r"(?<=[.?]) ", q)[:-1]))
                         for q in (asked, p.question)]
                assert story[0] == story[1] or family == "counting", (asked, p.question)
                assert sorted(re.findall(r"\d+", asked)) == sorted(re.findall(r"\d+", p.question))
                if family == "counting":
                    legs = re.findall(r"(\d+) (?:legs|for)|(?:[a-z]+) (\d+)", asked.split(". ")[1])
                    said = [a or b for a, b in legs]
                    assert said == [str(v) for v in p.data["legs"].values()], (asked, said)
                changed += asked != p.question
        assert changed >= 24, family  # most askings are reworded
        for index in range(4):  # and the sections that ask them verify
            s = sections.section(family, 0, index, fam.levels[-1])
            for rec in s.parts.get("worked", []):
                _verify(fam, rec, s.text)


def test_readers_and_corpus_diversity(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("first doc line one.\nline two.\n\n\nsecond doc.\n")
    assert [d.text for d in readers.read_text(str(p), separator="")] == \
        ["first doc line one.\nline two.\n", "second doc.\n"]
    assert len(list(readers.read_text(str(tmp_path)))) == 1
    recs = [sections.TextbookSource(seed=1)[i].to_json() for i in range(22)]
    d = corpus_diversity.corpus_diversity(recs)
    assert d["distinct_templates"] == 22 and d["template_entropy_bits"] > 4
    assert set(d["by_family"]) == set(tasks.names()) and 0 < d["distinct_4"] <= 1
    assert "template_entropy_bits" not in corpus_diversity.corpus_diversity([{"text": "a b c"}])


def _shuffle_lines(text, rng):
    lines = text.splitlines()
    rng.shuffle(lines)
    return "\n".join(lines)


def _repeat_paragraphs(text, rng):
    return "\n\n".join(p for p in text.split("\n\n") for _ in range(3))


def _boilerplate(text, rng):
    return ("Accept our cookie policy to continue. Subscribe to our newsletter!\n" + text
            + "\nlorem ipsum dolor sit amet")


def _symbol_noise(text, rng):
    return "".join(c + (rng.choice("@#$%^&*~|") if rng.random() < 0.15 else "") for c in text)


@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_scores_rank_clean_sections_above_corrupted_ones(model_path):
    import random
    rng = random.Random(0)
    src = sections.TextbookSource(seed=5)
    clean = [src[i].text for i in range(40)]
    for corrupt_fn in (_repeat_paragraphs, _boilerplate, _symbol_noise):
        wins = [quality.score(t) > quality.score(corrupt_fn(t, rng)) for t in clean]
        assert all(wins), (corrupt_fn.__name__, wins)
    # Shuffling keeps every line intact, so the rules only see it through the
    # order cues (headings, numbering, operands seen above): most, not all.
    shuffled = [_shuffle_lines(t, rng) for t in clean]
    assert np.mean([quality.score(a) > quality.score(b) for a, b in zip(clean, shuffled)]) >= 0.6
    # The model-based score sees order directly, though it never trains on
    # line shuffles: 0.95+ with the uniform generator of issue 11, 0.90 to 0.93
    # over seeds 5 to 7 (80 sections each) since sections vary their parts,
    # orders and layouts (issue 28; a narrated solution's bare lines carry no
    # order cue). The filter's precision on its clean-vs-corrupted test is unchanged.
    model = clf.QualityClassifier.load(model_path)
    assert np.mean(model.scores(clean) > model.scores(shuffled)) >= 0.8


def test_claim_reader_catches_a_false_check():
    """The read-back above can fail: a check with a wrong sum is invalid."""
    from rtt_jax.tasks import gsm8k_steps

    j = gsm8k_steps.judge_lines("What is 71 divided by 5?", ["Check: 14 * 5 + 1 = 72, the number we divided."])
    assert [v.verdict for v in j.verdicts] == [INVALID]


def test_filter_eval_counts_clean_and_corrupted_sections(model_path):
    """``clean_vs_corrupted``: one corrupted copy per clean section, every
    corruption kind used (trained and held-out), precision from the counts."""
    from rtt_jax.textbook import filter_eval

    model = clf.QualityClassifier.load(model_path)
    r = filter_eval.clean_vs_corrupted(24, seed=1000, model=model)
    kinds = r["kept_by_corruption"]
    assert set(kinds) == set(corrupt.BAD_KINDS) | set(corrupt.SUBTLE_KINDS)
    assert sum(k["n"] for k in kinds.values()) == r["n_corrupted"] == 24
    assert sum(k["kept"] for k in kinds.values()) == r["kept_corrupted"]
    kept = r["kept_clean"] + r["kept_corrupted"]
    assert r["precision"] == round(r["kept_clean"] / kept, 4)
    assert r["recall"] >= 0.9 and r["precision"] >= 0.9
    with pytest.raises(ValueError, match="n=0"):
        filter_eval.clean_vs_corrupted(0, model=model)
