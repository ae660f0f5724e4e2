"""The copy probe (rtt_jax.evaluation.copy_probe) on hand-written completions:
right names and numbers, invented ones, copied-but-wrong ones; its place in
scoring, the report and an answer-only model's report."""
from __future__ import annotations

import re

import pytest

from rtt_jax import tasks
from rtt_jax.evaluation import Evaluator, score_completion, task_sets, write_report
from rtt_jax.evaluation import copy_probe as cp
from rtt_jax.evaluation.report_files import REPORT_MD, flat_metrics
from rtt_jax.tasks.base import Problem

# A hand-built level-3 word problem: Dan = Uma + 4 = 14, Nora = Dan / 2 = 7,
# Hugo = Sam - Nora = 11.
QUESTION = ("Nora has 1/2 as many stamps as Dan. Dan has 4 more stamps than Uma. Uma has "
            "10 stamps. Hugo has as many stamps as Sam has more than Nora. Sam has 18 "
            "stamps. How many stamps does Hugo have?")
SOLVER = ["Dan has 10 + 4 = 14 stamps.", "Nora has 14 / 2 = 7 stamps.",
          "Hugo has 18 - 7 = 11 stamps."]


def _probe(lines, reference=SOLVER):
    return cp.probe_text(QUESTION, "\n".join(lines) + "\n#### 11", reference)


def test_right_names_and_numbers():
    c = _probe(SOLVER)
    # 3 lines x (name, two operands, result) = 12 items; 10, 4, 2, 18 and the
    # three names occur in the prompt (7 items); 14, 7 and 11 are computed.
    assert (c.items, c.from_prompt, c.right, c.prompt_right, c.invented) == (12, 7, 12, 7, 0)
    assert (c.names, c.names_from_prompt, c.names_right) == (3, 3, 3)
    rates = {k: v.value for k, v in cp.aggregate_copy([c]).items()}
    assert rates["items_right"] == rates["prompt_items_right"] == rates["names_right"] == 1.0
    assert rates["items_invented"] == 0.0
    assert rates["items_from_prompt"] == pytest.approx(7 / 12)


def test_invented_names_and_numbers():
    # What issue 26's first model wrote: its template with names and numbers from nowhere.
    c = _probe(["Tosa has 12 - 3 = 12 shells.", "Tara has 12 * 5 = 22 shells."])
    assert (c.names, c.names_from_prompt, c.names_right) == (2, 0, 0)
    assert c.from_prompt == 0 and c.right == 0
    # Everything is new but the second line's 12, which the first line wrote.
    assert c.invented == 7
    rates = {k: v.value for k, v in cp.aggregate_copy([c]).items()}
    assert rates["items_from_prompt"] == 0.0 and rates["items_invented"] == pytest.approx(7 / 8)


def test_copied_but_wrong():
    # Every name and operand is in the prompt, but not the one the step needs.
    c = _probe(["Nora has 18 + 4 = 22 stamps.", "Dan has 10 / 2 = 5 stamps."])
    assert c.names_from_prompt == 2 and c.names_right == 0
    assert c.from_prompt == 6  # Nora, 18, 4, Dan, 10, 2
    # Only line 1's 4 (Dan's "4 more") and line 2's divisor 2 are the solver's.
    assert c.prompt_right == 2
    rates = {k: v.value for k, v in cp.aggregate_copy([c]).items()}
    assert rates["items_from_prompt"] == pytest.approx(6 / 8)
    assert rates["prompt_items_right"] == pytest.approx(2 / 6)


def test_each_solver_item_is_matched_once_and_lines_align_by_position():
    # Two 14s against the solver's one; a skipped first line shifts the rest.
    assert _probe(["Dan has 14 + 14 = 28 stamps."]).right == 2  # Dan and one 14
    skipped = _probe(SOLVER[1:])
    assert skipped.right < skipped.items
    no_reference = _probe(SOLVER, reference=None)
    assert no_reference.items_judged == 0 and no_reference.right == 0
    assert cp.aggregate_copy([no_reference])["items_right"].n == 0  # nothing judged


def test_items_and_template_words():
    assert cp.line_items("To find Kate's marbles, we need Omar's.") == (["Kate", "Omar"], [])
    assert cp.line_items("In total: 8 + 90 = 98.0 legs.") == ([], ["8", "90", "98"])
    assert cp.line_items("x = -3.50 and 007") == ([], ["3.5", "7"])
    assert cp.trace_lines("  a 1\n\n#### 5\n b 2 ") == ["a 1", "b 2"]


@pytest.mark.parametrize("name", tasks.names())
def test_template_words_cover_every_family_s_trace(name):
    """Every capitalised word a solver writes is a name from the question or a
    template word, so the probe never counts a template as an invented name."""
    family = tasks.get(name)
    for style in family.styles:
        for level in list(family.levels)[:4]:
            for i in range(5):
                try:
                    problem = family.generate(0, i, level)
                    _, completion = family.format_example(problem, style)
                except (ValueError, KeyError):
                    continue
                asked = set(re.findall(r"\b[A-Z][a-z]+\b", problem.question))
                for line in cp.trace_lines(completion):
                    names, _ = cp.line_items(line)
                    assert set(names) <= asked, (name, style, line)


def _word_problem():
    family = tasks.get("word_problem")
    return family, family.generate(7, 3, 3)


def test_score_completion_carries_the_probe_and_hostile_text_gets_none():
    family, problem = _word_problem()
    _, completion = family.format_example(problem, "forward")
    s = score_completion(family, problem, completion, "forward")
    assert s.copy is not None and s.copy.items == s.copy.right > 0 and s.copy.invented == 0
    assert score_completion(family, problem, 12345, "forward").copy is None
    assert score_completion(family, problem, "x" * 10 ** 6, "forward").copy is None


def test_report_has_the_copy_probe_and_answer_only_models_do_not(tmp_path):
    sets = task_sets(["word_problem"], n=3, levels={"word_problem": [1, 2]},
                     trained_levels={"word_problem": [1]}, styles={"word_problem": "forward"})
    family = tasks.get("word_problem")
    by_prompt = {}
    for s in sets:
        for p in s.problems:
            prompt, completion = family.format_example(p, "forward")
            by_prompt[prompt] = completion
    report = Evaluator(sets, lambda prompts: [by_prompt[p] for p in prompts]).run(step=1)
    for entry in [*report["sets"].values(), *report["summary"].values()]:
        assert entry["items_right"] == 1.0 and entry["items_invented"] == 0.0
        assert entry["ci"]["items_from_prompt"][0] <= entry["items_from_prompt"]
    assert "eval/all/items_from_prompt" in flat_metrics(report)
    write_report(report, str(tmp_path), plots=False)
    assert "## Copy probe" in (tmp_path / REPORT_MD).read_text()

    answers = Evaluator(sets, lambda prompts: ["#### 1"] * len(prompts),
                        trace_metrics=False).run(step=1)
    assert answers["summary"]["all"]["items_from_prompt"] is None
    write_report(answers, str(tmp_path / "a"), plots=False)
    assert "## Copy probe" not in (tmp_path / "a" / REPORT_MD).read_text()


def test_a_family_without_a_solver_for_the_style_is_probed_unjudged():
    class NoSolver:
        styles = ()

    problem = Problem("x", 0, 0, 1, "Ann has 3.", "3")
    c = cp.probe_completion(NoSolver(), problem, "Ann has 3.\n#### 3", None)
    assert (c.items, c.from_prompt, c.items_judged) == (2, 2, 0)
