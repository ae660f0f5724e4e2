"""The data arms of the seed's-levers experiments hold what they claim
(``rtt_jax.data.pools`` and the modules it writes with)."""
from __future__ import annotations

import collections
import json
import random
import re

import pytest

from rtt_jax import tasks
from rtt_jax.data import pools
from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.textbook import web_like
from rtt_jax.textbook.explained_traces import COMMENTARY_PREFIX, drop_commentary
from rtt_jax.traces import misconception, retry, surface_forms

FAMILY = tasks.get("modular")
SPEC = pools.PoolSpec("modular", seed=3, levels=tuple(range(1, 9)), per_level=24)


def _problem(r: pools.PoolRecord, spec=SPEC):
    return FAMILY.generate(spec.seed, r.index, r.level)


def _verified(p, text, style="running") -> bool:
    rep = FAMILY.check_steps(p, text, style)
    return rep.all_valid and rep.answer_follows and FAMILY.check_answer(p, text, style)


@pytest.fixture(scope="module")
def built():
    recipes = {"terse": "terse", "explained": "explained", "web": "web:share=0.5",
               "filtered": "web_filtered", "bug_30": "misconception:rate=0.3",
               "bug_60": "misconception:rate=0.6",
               "bug_60_steps": "misconception:rate=0.6:filter=steps",
               "bug_60_answer": "misconception:rate=0.6:filter=answer",
               "retry_60": "misconception:rate=0.6:retry=1",
               "canonical": "canonical:k=4", "strategies": "strategies:k=4",
               "surface": "surface:k=4"}
    return {name: pools.build(recipe, SPEC) for name, recipe in recipes.items()}


def test_a_pool_is_a_fixed_set_of_unique_problems(built):
    terse = built["terse"]
    keys = [(r.level, r.index) for r in terse]
    assert len(keys) == len(set(keys)) == 8 * 24
    assert collections.Counter(r.level for r in terse) == {lv: 24 for lv in range(1, 9)}
    assert {r.index for r in terse} == set(range(24))  # problems 0..n-1 of the training seed
    for r in terse:
        p = _problem(r)
        assert (r.prompt, r.completion) == FAMILY.format_example(p, "running")
    # The same problems, in the same order, in every arm that does not top up.
    for name in ("explained", "web", "bug_30", "bug_60", "retry_60"):
        assert [(r.level, r.index) for r in built[name]] == keys, name
    # The pool is a pure function of the spec.
    assert pools.build("web:share=0.5", SPEC) == built["web"]


def test_misconception_share_of_buggy_lines_and_consistent_traces(built):
    for name, rate in (("bug_30", 0.3), ("bug_60", 0.6)):
        recs = built[name]
        applicable = [r for r in recs if misconception.bug_applies(_problem(r))]
        buggy = [r for r in applicable if r.buggy]
        assert abs(len(buggy) / len(applicable) - rate) < 0.08, (name, len(buggy), len(applicable))
        s = pools.summary(recs)  # lines: a buggy chain meets the bug more often than the truth
        assert rate - 0.08 < s["buggy_line_share"] < rate + 0.15
        for r in recs:
            p = _problem(r)
            lines = r.completion.split("\n")[:-1]
            verdicts = [misconception.classify_line(ln) for ln in lines]
            assert verdicts.count(misconception.APPLIES_BUGGY) == r.buggy
            rep = FAMILY.check_steps(p, r.completion, "running")
            assert rep.answer_follows  # a misconceived author is consistent
            assert rep.all_valid == (r.buggy == 0)
            if r.buggy:  # every line the bug applies to is buggy: it is systematic
                assert misconception.APPLIES_CORRECT not in verdicts


def test_filters_keep_what_they_check_and_top_up_to_the_same_size(built):
    steps, answer = built["bug_60_steps"], built["bug_60_answer"]
    for recs in (steps, answer):
        assert collections.Counter(r.level for r in recs) == {lv: 24 for lv in range(1, 9)}
        assert len({(r.level, r.index) for r in recs}) == len(recs)
        assert max(r.index for r in recs) >= 24  # topped up past the pool's problems
    assert all(_verified(_problem(r), r.completion) for r in steps)
    assert all(FAMILY.check_answer(_problem(r), r.completion) for r in answer)
    # Answer-only filtering lets buggy traces whose errors cancel mod 10 through.
    assert any(r.buggy for r in answer) and not any(r.buggy for r in steps)


def test_retry_traces_retract_every_buggy_line(built):
    retried = [r for r in built["retry_60"] if r.kind == "retry"]
    assert retried and all(r.buggy for r in retried)
    for r in built["retry_60"]:
        p = _problem(r)
        lines = r.completion.split("\n")
        assert lines.count(retry.MARKER) == r.buggy
        for k, line in enumerate(lines):
            if line == retry.MARKER:
                assert misconception.classify_line(lines[k - 1]) == misconception.APPLIES_BUGGY
                assert misconception.classify_line(lines[k + 1]) == misconception.APPLIES_CORRECT
        resolved = retry.resolve(r.completion)
        assert len(resolved.retracted) == r.buggy
        assert resolved.text == FAMILY.format_example(p, "running")[1]


def test_web_pool_has_the_stated_share_of_defects_and_the_filter_keeps_none_that_fail(built):
    web = built["web"]
    for level in range(1, 9):
        kinds = collections.Counter(r.kind for r in web if r.level == level)
        assert kinds["clean"] == 12 and sum(kinds[k] for k in web_like.KINDS) == 12
    assert set(r.kind for r in web) == {"clean", *web_like.KINDS}
    for r in web:
        p = _problem(r)
        if r.kind == "clean":
            assert _verified(p, r.completion)
        elif r.kind == "filler":
            assert any(line in web_like.FILLER for line in r.completion.split("\n"))
        assert r.completion.endswith(f"{ANSWER_MARKER} {p.answer}")  # answer line kept
    assert sum(not _verified(_problem(r), r.completion) for r in web) > 0.3 * len(web)
    filtered = built["filtered"]
    assert collections.Counter(r.level for r in filtered) == {lv: 24 for lv in range(1, 9)}
    assert all(_verified(_problem(r), r.completion) for r in filtered)
    assert {r.kind for r in filtered} <= {"clean", "format_drift"}  # spaced notation is valid


def test_web_like_defects():
    rng = random.Random(0)
    lines = ["7+5=12", "2-9=-7", "3+3=6"]
    assert web_like.degrade(lines, "skipped_step", rng) in (["7+5=12", "3+3=6"],
                                                            ["7+5=12", "2-9=-7"])
    assert web_like.renotate("2-9=-7", "words") == "2 minus 9 is -7"
    assert web_like.renotate("7+5=12", "arrow") == "7+5 -> 12"
    assert web_like.renotate("7+5=12", "spaced") == "7 + 5 = 12"
    kinds = web_like.web_pool_kinds(10, 0.5, rng)
    assert sum(k is not None for k in kinds) == 5
    with pytest.raises(ValueError, match="unknown web-like defect"):
        web_like.degrade(lines, "typos", rng)


def test_explained_traces_are_the_terse_trace_plus_true_sentences(built):
    number = re.compile(r"(-?[0-9]+)")
    for r, t in zip(built["explained"], built["terse"]):
        kept, n = drop_commentary(r.completion)
        assert kept == t.completion
        for line in r.completion.split("\n"):
            if line.startswith(COMMENTARY_PREFIX):
                z, *rest = (int(v) for v in number.findall(line))
                assert rest[-1] == z % 10, line  # what it says is carried is z mod 10
    assert pools.summary(built["explained"])["characters"] > \
        1.5 * pools.summary(built["terse"])["characters"]


def test_k_traces_per_problem_all_verify(built):
    canonical, strategies, surface = built["canonical"], built["strategies"], built["surface"]
    for recs in (canonical, strategies, surface):
        assert len(recs) == 4 * 8 * 24
        assert len({(r.level, r.index) for r in recs}) == 8 * 24
    by_problem = collections.defaultdict(list)
    for r in strategies:
        by_problem[(r.level, r.index)].append(r)
    for (level, index), recs in by_problem.items():
        p = FAMILY.generate(SPEC.seed, index, level)
        assert sorted(r.kind for r in recs) == sorted(pools.STRATEGIES)
        # Different texts (at level 1-2 pairwise may coincide with running).
        assert len({r.completion for r in recs}) >= (4 if level >= 3 else 3)
        for r in recs:
            assert _verified(p, r.completion, style=None)  # any style read, as evaluation does
            assert _verified(p, r.completion, style=r.kind)
    for r in surface:
        p = FAMILY.generate(SPEC.seed, r.index, r.level)
        assert r.prompt.startswith(surface_forms.question(p, r.kind))
        assert _verified(p, r.completion, style=None)
    for r in canonical:
        assert r.completion == FAMILY.format_example(_problem(r), "running")[1]


def test_surface_forms_keep_the_solution_and_the_held_out_form_is_unseen():
    p = FAMILY.generate(0, 5, 6)
    questions = {name: surface_forms.question(p, name) for name in surface_forms.FORMS}
    assert len(set(questions.values())) == len(questions)
    assert surface_forms.HELD_OUT_FORM not in surface_forms.TRAINING_FORMS
    assert surface_forms.rewrite_problem(p, "spaced").answer == p.answer
    with pytest.raises(ValueError, match="unknown surface form"):
        surface_forms.question(p, "shouty")


def test_bad_recipes_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown recipe 'nonsense'"):
        pools.parse_recipe("nonsense")
    with pytest.raises(ValueError, match="is not key=value"):
        pools.parse_recipe("misconception:rate")
    with pytest.raises(ValueError, match="does not parse"):
        pools.parse_recipe("misconception:rate=lots")
    with pytest.raises(ValueError, match="filter="):
        pools.build("misconception:rate=0.5:filter=vibes", SPEC)


def test_write_pools_writes_jsonl_a_source_can_read_and_a_summary(tmp_path):
    from rtt_jax.data.sources import JsonlSource
    spec = pools.PoolSpec("modular", 0, (1, 2), 5)
    done = pools.write_pools(str(tmp_path), {"a": "terse", "b": "misconception:rate=1"}, spec)
    assert done["pools"]["a"]["records"] == 10 and done["pools"]["a"]["unique_problems"] == 10
    assert done["pools"]["b"]["buggy_line_share"] in (None, 1.0)
    assert json.loads((tmp_path / "done.json").read_text())["per_level"]["a"]["records"] == 10
    src = JsonlSource("a", str(tmp_path / "a.jsonl"), seed=0)
    assert src.size == 10 and src.record(0).completion.endswith(ANSWER_MARKER + " " +
                                                                FAMILY.generate(0, 0, 1).answer)
