"""The one task-family contract: every family, generated or adapted, answers
the whole ``TaskFamily`` protocol, and too-long text is wrong by one rule."""
from __future__ import annotations

import pytest

from rtt_jax import tasks
from rtt_jax.tasks.answers import MAX_CHECK_CHARS, extract_final_answer, readable
from rtt_jax.tasks.base import UNPARSEABLE, TaskFamily
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.gsm8k import GSM8KFamily

NAMES = tasks.names() + ("gsm8k",)


def _problem_and_completion(name):
    family = tasks.get(name)
    if name == "gsm8k":
        from rtt_jax.tasks.base import Problem
        problem = Problem("gsm8k", 0, 0, 1, "Tom has 3 apples and buys 4. How many?", "7",
                          {"solution": "3+4 = <<3+4=7>>7\n#### 7"})
    else:
        problem = family.generate(0, 0, family.train_levels[0])
    style = family.styles[-1]
    return family, problem, style, family.format_example(problem, style)[1]


@pytest.mark.parametrize("name", NAMES)
def test_every_family_meets_the_protocol_and_reads_its_own_solution(name):
    family, problem, style, completion = _problem_and_completion(name)
    assert isinstance(family, TaskFamily)
    assert isinstance(family, Family) == (name in tasks.names())
    assert family.check_answer(problem, completion, style)
    assert family.check_steps(problem, completion, style).answer_follows
    assert family.extract_answer(problem, completion, style) is not None


@pytest.mark.parametrize("name", NAMES)
def test_too_long_or_non_text_is_wrong_unread(name):
    """The right solution behind or before padding past MAX_CHECK_CHARS is
    wrong either way: no family keeps the head or the tail of long text."""
    family, problem, style, completion = _problem_and_completion(name)
    pad = "x" * MAX_CHECK_CHARS
    for text in (pad + "\n" + completion, completion + "\n" + pad, None, 7):
        assert family.check_answer(problem, text) is False
        assert family.extract_answer(problem, text) is None
        report = family.check_steps(problem, text)
        assert [s.verdict for s in report.steps] == [UNPARSEABLE] and not report.answer_follows


def test_the_marker_reader_applies_the_same_rule():
    text = "#### 5".ljust(MAX_CHECK_CHARS)
    assert readable(text) == text and extract_final_answer(text) == "5"
    assert readable(text + " ") is None and extract_final_answer(text + " ") is None


def test_one_lookup_for_every_family_name():
    assert tasks.get("gsm8k") is tasks.get("gsm8k") and isinstance(tasks.get("gsm8k"), GSM8KFamily)
    assert [tasks.get(n).name for n in tasks.names()] == list(tasks.names())
    with pytest.raises(KeyError, match="unknown task family 'nosuch'"):
        tasks.get("nosuch")
