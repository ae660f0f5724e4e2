"""Hostile 20,000-character completions are scored wrong, without a crash and
without hanging, for every task family (model output is untrusted input).

The inputs are ``bench/parse_worst_case.py``'s (the bench times them; these
tests never time anything). ``hang_guard`` only turns a hang into a failure:
its 300 s per family is a thousand times what the slowest family needs (shared
machines stall for minutes), so it is no speed assertion; with the quadratic
marker regex this replaced, one family's inputs took 10-30 s each.
"""
from __future__ import annotations

import importlib.util
import pathlib
import random
import re

import pytest

from hang_guard import hang_guard
from rtt_jax import tasks
from rtt_jax.evaluation.scoring import score_completion
from rtt_jax.tasks.answers import MAX_CHECK_CHARS, extract_final_answer, split_marker_line
from rtt_jax.traces import noise
from rtt_jax.traces.teachers import ProgramTeacher


def _bench_module(name: str):
    """``bench/NAME.py`` loaded from its file: bench/ is scripts, not a package."""
    path = pathlib.Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pwc = _bench_module("parse_worst_case")
FAMILIES = {name: (family, problem) for name, family, problem in pwc.family_problems()}


def test_every_registered_family_is_covered():
    assert set(tasks.names()) | {"gsm8k"} == set(FAMILIES)
    assert all(len(text) == MAX_CHECK_CHARS for _, text in pwc.generic_cases())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_generic_worst_cases_are_wrong(name):
    family, problem = FAMILIES[name]
    with hang_guard():
        for case, text in pwc.generic_cases():
            for style in (None,) + tuple(family.styles):
                score = score_completion(family, problem, text, style)
                assert score.checker_error == "", (case, style, score.checker_error)
                assert not score.correct, (case, style)
                assert not (score.steps.all_valid and score.steps.answer_follows), (case, style)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fuzzed_solutions_never_crash(name):
    """The family's own lines padded with long runs (a sample of the bench's
    cases): any verdict is fine, a checker exception is not."""
    family, problem = FAMILIES[name]
    cases = pwc.fuzzed_cases(family, problem)
    with hang_guard():
        for case, text in random.Random(0).sample(cases, min(150, len(cases))):
            score = score_completion(family, problem, text)
            assert score.checker_error == "", (case, score.checker_error)


_OLD_MARKER_RE = re.compile(r"^[ \t]*####[ \t]*(.*?)[ \t]*$", re.MULTILINE)


@pytest.mark.parametrize("text", [
    "", "####", "#### 5", "  #### 5  ", "\t####\t5\t", "#### 5\n#### 7", "#### 7\nx #### 5",
    "the answer is #### 5", "#####5", "#### 5\r", "#### a b  \nmore", "## 5", "\n\n####\n",
    "#### 1\n  #### 2 ####\nx", "#### " + " " * 50 + "x",
])
def test_marker_extraction_keeps_the_regex_meaning(text):
    found = _OLD_MARKER_RE.findall(text)
    assert extract_final_answer(text) == (found[-1] if found else None)


def test_marker_extraction_on_the_reported_input():
    text = "#### a" + " " * 19993 + "b"
    with hang_guard():
        assert extract_final_answer(text) == "a" + " " * 19993 + "b"
        assert not tasks.get("addition").check_steps(
            FAMILIES["addition"][1], text).answer_follows


@pytest.mark.parametrize("line, parts", [
    ("#### 5", ("#### ", "5", "")),
    ("  ####\t 12 \t", ("  ####\t ", "12", " \t")),
    ("####", ("####", "", "")),
    ("x #### 5", None),
    ("### 5", None),
])
def test_split_marker_line(line, parts):
    assert split_marker_line(line) == parts
    if parts is not None:
        assert "".join(parts) == line


def test_noise_rewrites_a_long_marker_line():
    clean = ProgramTeacher().teach(tasks.get("addition").generate(0, 0, 3))[0]
    text = "#### 12" + " " * 19990 + "3"
    with hang_guard():
        bad = noise.corrupt(clean.replace(text=text), "wrong_answer", random.Random(0))
    assert bad is not None and bad.text != text and len(bad.text) == len(text)
    assert bad.text.startswith("#### 12" + " " * 19990)
