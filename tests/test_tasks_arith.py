"""Tests of the arithmetic task families (addition ... base_conversion).

The Lee et al. 2023 fixture lines are copied from the authors' released
3-digit training data (MIT licence, lee-ny/teaching_arithmetic).
"""
from __future__ import annotations

import importlib
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hang_guard import hang_guard
from rtt_jax import tasks
from rtt_jax.tasks import addition
from rtt_jax.tasks.answers import MAX_CHECK_CHARS
from rtt_jax.tasks.base import Problem, TaskFamily

FAMILIES = ("addition", "subtraction", "multiplication", "division", "gcd_lcm",
            "base_conversion")
FIXTURE = Path(__file__).parent / "fixtures" / "lee2023_train_3digit_sample.txt"
N_PER_CASE = 1000


def _cases():
    for name in FAMILIES:
        fam = tasks.get(name)
        for level in fam.levels:
            for style in fam.styles:
                yield pytest.param(name, level, style, id=f"{name}-L{level}-{style}")


# --- the protocol --------------------------------------------------------

@pytest.mark.parametrize("name", FAMILIES)
def test_family_satisfies_protocol(name):
    fam = tasks.get(name)
    assert isinstance(fam, TaskFamily)
    assert fam.name == name
    assert len(fam.styles) >= 2 and len(set(fam.styles)) == len(fam.styles)
    assert set(fam.train_levels) < set(fam.levels)  # held-out levels exist
    assert min(fam.train_levels) == min(fam.levels)
    with pytest.raises(ValueError):
        fam.generate(0, 0, max(fam.levels) + 1)
    with pytest.raises(ValueError):
        fam.solve(fam.generate(0, 0, min(fam.levels)), "no_such_style")


@pytest.mark.parametrize("name", FAMILIES)
def test_higher_levels_are_harder(name):
    fam = tasks.get(name)
    for style in fam.styles:
        def mean_len(level, style=style):
            return sum(len(fam.format_example(fam.generate(3, i, level), style)[1])
                       for i in range(50)) / 50
        lows = mean_len(min(fam.levels))
        highs = mean_len(max(fam.levels))
        assert highs > 2 * lows, (style, lows, highs)


# --- determinism -----------------------------------------------------------

_DUMP = """
import json, sys
from rtt_jax import tasks
out = []
for name in %r:
    fam = tasks.get(name)
    for level in (min(fam.levels), max(fam.levels)):
        for index in (0, 1, 7, 123456):
            p = fam.generate(42, index, level)
            out.append([p.to_json(), fam.solve(p, fam.styles[-1]).text])
json.dump(out, sys.stdout)
""" % (FAMILIES,)


@pytest.mark.slow
def test_generate_is_deterministic_across_processes():
    runs = []
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        res = subprocess.run([sys.executable, "-c", _DUMP], capture_output=True, text=True,
                             env=env, check=True, timeout=600)
        runs.append(json.loads(res.stdout))
    here = []
    for name in FAMILIES:
        fam = tasks.get(name)
        for level in (min(fam.levels), max(fam.levels)):
            for index in (0, 1, 7, 123456):
                p = fam.generate(42, index, level)
                here.append([p.to_json(), fam.solve(p, fam.styles[-1]).text])
    here = json.loads(json.dumps(here))
    assert runs[0] == runs[1] == here
    # Different indices and seeds give different problems.
    fam = tasks.get("addition")
    qs = {fam.generate(s, i, 6).question for s in range(3) for i in range(50)}
    assert len(qs) == 150


# --- Lee et al. 2023 formats ---------------------------------------------

LEE_128_367 = {
    "lee_plain": "128+367=495",
    "lee_reversed": "$128+367=594$",
    "lee_simplified": "Input:\n128+367\nTarget:\nA->5 , C->1\nA->9 , C->0\nA->4 , C->0.\n495",
    "lee_detailed": (
        "Input:\n128+367\nTarget:\n<scratch>\n"
        "[1,2,8] has 3 digits.\n[3,6,7] has 3 digits.\n"
        "[1,2,8] + [3,6,7] , A=[] , C=0 , 8+7+0=15 , A->5 , C->1\n"
        "[1,2] + [3,6] , A=[5] , C=1 , 2+6+1=9 , A->9 , C->0\n"
        "[1] + [3] , A=[9,5] , C=0 , 1+3+0=4 , A->4 , C->0\n"
        "[] + [] , A=[4,9,5] C=0 , END\n</scratch>\n4 9 5"),
}
# From a sample in the authors' repository (final carry kept in C, then prepended).
LEE_8465_3541 = (
    "Input:\n8465+3541\nTarget:\n<scratch>\n[8,4,6,5] has 4 digits.\n[3,5,4,1] has 4 digits.\n"
    "[8,4,6,5] + [3,5,4,1] , A=[] , C=0 , 5+1+0=6 , A->6 , C->0\n"
    "[8,4,6] + [3,5,4] , A=[6] , C=0 , 6+4+0=10 , A->0 , C->1\n"
    "[8,4] + [3,5] , A=[0,6] , C=1 , 4+5+1=10 , A->0 , C->1\n"
    "[8] + [3] , A=[0,0,6] , C=1 , 8+3+1=12 , A->2 , C->1\n"
    "[] + [] , A=[2,0,0,6] C=1 , END\n</scratch>\n1 2 0 0 6")


@pytest.mark.parametrize("style", addition.LEE_STYLES)
def test_lee_formats_character_for_character(style):
    fam = tasks.get("addition")
    p = addition.make_problem(128, 367)
    prompt, completion = fam.format_example(p, style)
    assert prompt + completion == LEE_128_367[style]
    assert {"lee_plain": "128+367=", "lee_reversed": "$128+367="}.get(
        style, "Input:\n128+367\nTarget:\n") == prompt


def test_lee_unequal_lengths_and_final_carry():
    fam = tasks.get("addition")
    p = addition.make_problem(8465, 3541)
    assert "".join(fam.format_example(p, "lee_detailed")) == LEE_8465_3541
    # Shorter operand: its list empties and its digit reads 0, as in the
    # authors' generator; the final carry is prepended to the answer.
    p = addition.make_problem(999, 1)
    assert "".join(fam.format_example(p, "lee_detailed")) == (
        "Input:\n999+1\nTarget:\n<scratch>\n[9,9,9] has 3 digits.\n[1] has 1 digits.\n"
        "[9,9,9] + [1] , A=[] , C=0 , 9+1+0=10 , A->0 , C->1\n"
        "[9,9] + [] , A=[0] , C=1 , 9+0+1=10 , A->0 , C->1\n"
        "[9] + [] , A=[0,0] , C=1 , 9+0+1=10 , A->0 , C->1\n"
        "[] + [] , A=[0,0,0] C=1 , END\n</scratch>\n1 0 0 0")
    assert "".join(fam.format_example(p, "lee_simplified")) == (
        "Input:\n999+1\nTarget:\nA->0 , C->1\nA->0 , C->1\nA->0 , C->1.\n1000")
    assert "".join(fam.format_example(p, "lee_reversed")) == "$999+1=0001$"


def test_read_lee_file_matches_published_lines():
    problems = addition.read_lee_file(FIXTURE)
    lines = [ln for ln in FIXTURE.read_text().splitlines() if ln.strip()]
    assert len(problems) == len(lines) >= 30
    fam = tasks.get("addition")
    for p, line in zip(problems, lines):
        assert "".join(fam.format_example(p, "lee_plain")) == line
        assert 1 <= p.level <= 3
        for style in fam.styles:
            prompt, completion = fam.format_example(p, style)
            assert fam.check_answer(p, completion, style)
            assert fam.check_steps(p, completion, style).all_valid
            # Checkers also accept the whole published line.
            if style in addition.LEE_STYLES:
                assert fam.check_answer(p, prompt + completion, style)
                rep = fam.check_steps(p, prompt + completion, style)
                assert rep.all_valid and rep.answer_follows


def test_read_lee_file_bad_lines(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1+2=3\n\n12+x=13\n")
    with pytest.raises(ValueError, match=r"bad\.txt:3:"):
        addition.read_lee_file(bad)
    bad.write_text("1+2=3\n5+5=11\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: 5\+5 is 10"):
        addition.read_lee_file(bad)


def test_lee_answer_readers():
    fam = tasks.get("addition")
    p = addition.make_problem(128, 367)
    assert fam.check_answer(p, "495", "lee_plain")
    assert not fam.check_answer(p, "494", "lee_plain")
    assert fam.check_answer(p, "594$", "lee_reversed")
    assert not fam.check_answer(p, "495$", "lee_reversed")
    assert not fam.check_answer(p, "495", None)  # no marker: no answer
    assert fam.check_answer(p, "blah\n#### 495", None)


# --- every family, level and style verifies its own traces ---------------

@pytest.mark.parametrize("name,level,style", list(_cases()))
def test_solved_traces_verify(name, level, style):
    fam = tasks.get(name)
    for i in range(N_PER_CASE):
        p = fam.generate(2024, i, level)
        prompt, completion = fam.format_example(p, style)
        rep = fam.check_steps(p, completion, style)
        if not (rep.all_valid and rep.answer_follows and fam.check_answer(p, completion, style)):
            pytest.fail(f"{name} L{level} {style} index {i}:\n{prompt}{completion}\n{rep}")


# --- corruption is detected ------------------------------------------------

_LAST_INT = re.compile(r"[0-9]+(?=[^0-9]*$)")


def _replace_line(text: str, old: str, new: str | None) -> str:
    lines = text.split("\n")
    i = lines.index(old)
    if new is None:
        del lines[i]
    else:
        lines[i] = new
    return "\n".join(lines)


def _bump_last_int(line: str) -> str:
    m = _LAST_INT.search(line)
    v = int(m.group())
    return line[:m.start()] + str(v + 1 if v % 10 != 9 else v - 1) + line[m.end():]


def _is_detected(fam, p, text, style) -> bool:
    rep = fam.check_steps(p, text, style)
    return not (rep.all_valid and rep.answer_follows)


@pytest.mark.parametrize("name", FAMILIES)
def test_corrupted_traces_are_detected(name):
    fam = tasks.get(name)
    rng = random.Random(7)
    for style in fam.styles:
        tried = 0
        for i in range(300):
            p = fam.generate(5, i, rng.choice(fam.levels))
            trace = fam.solve(p, style)
            prompt, completion = fam.format_example(p, style)
            if style in addition.LEE_STYLES:
                completion = prompt + completion  # Lee's plain step is the whole line
            claim_steps = [s for s in trace.steps if _LAST_INT.search(s.text)]
            # 1. one step's result changed
            step = rng.choice(claim_steps)
            bad = _replace_line(completion, step.text, _bump_last_int(step.text))
            assert _is_detected(fam, p, bad, style), (style, bad)
            # 2. the final answer changed (marker or the format's own answer line)
            wrong = p.answer + "1"
            if style in addition.LEE_STYLES:
                lines = completion.split("\n")
                lines[-1] = _bump_last_int(lines[-1])
                bad = "\n".join(lines)
            else:
                bad = completion.rsplit("\n", 1)[0] + f"\n#### {wrong}"
            assert _is_detected(fam, p, bad, style) and not fam.check_answer(p, bad, style), bad
            # 3. a middle step dropped (where there is a middle)
            if len(trace.steps) >= 3:
                tried += 1
                mid = trace.steps[rng.randrange(1, len(trace.steps) - 1)]
                bad = _replace_line(completion, mid.text, None)
                assert _is_detected(fam, p, bad, style), (style, bad)
        # Lee's plain and reversed formats are one step; the rest have middles.
        assert tried > 50 or style in ("lee_plain", "lee_reversed"), style


# --- untrusted text ----------------------------------------------------------

HOSTILE = [
    "__import__('os').system('echo pwned')\n#### 495",
    "#### 10**10**10",
    "#### " + "(" * 5000 + "1" + ")" * 5000,
    "#### ٣",
    "Column 1: ٨ + ٧ + carry 0 = 15, write 5, carry 1.\n#### ٤٩٥",
    "x" * 1_000_000,
    "#### " + "9" * 1_000_000,
    "1" * 1_000_000 + "\n#### 495",
    "",
    "\n\n\n####",
    "#### 495 R 3 ; rm -rf /",
    "Row 1: " + "9" * 50 + " * 9 * 1 = 1.",
    "99 * 99^999 = 99 * 1 = 99.",
    "So 4 = 99999999999999999999^99 * 2.",
    "Powers of 2 up to " + "9" * 40 + ": 1, 2.",
]


@pytest.mark.parametrize("name", FAMILIES)
def test_hostile_text_is_wrong_and_bounded(name):
    fam = tasks.get(name)
    p = fam.generate(0, 0, 3)
    for text in HOSTILE:
        for style in (None,) + fam.styles:
            with hang_guard(300, f"{text[:40]!r} {style}"):  # bench/parse_worst_case.py times it
                assert not fam.check_answer(p, text, style)
                rep = fam.check_steps(p, text, style)
            assert not rep.all_valid and not rep.answer_follows
    # A correct trace padded past the cap is refused, not truncated.
    _, completion = fam.format_example(p, fam.styles[0])
    padded = "x" * (MAX_CHECK_CHARS + 1) + "\n" + completion
    assert not fam.check_answer(p, padded, fam.styles[0])
    assert not fam.check_steps(p, padded, fam.styles[0]).all_valid


@pytest.mark.parametrize("name", FAMILIES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_checkers_never_raise(name, data):
    fam = tasks.get(name)
    level = data.draw(st.sampled_from(list(fam.levels)))
    p = fam.generate(data.draw(st.integers(0, 3)), data.draw(st.integers(0, 10**6)), level)
    style = data.draw(st.sampled_from(fam.styles))
    _, completion = fam.format_example(p, style)
    # Arbitrary text, and a real trace with a random slice replaced by junk.
    junk = data.draw(st.text(max_size=300))
    a = data.draw(st.integers(0, len(completion)))
    b = data.draw(st.integers(a, len(completion)))
    for text in (junk, completion[:a] + junk + completion[b:]):
        for s in (None, style):
            assert isinstance(fam.check_answer(p, text, s), bool)
            rep = fam.check_steps(p, text, s)
            assert all(v.verdict in ("valid", "invalid", "unparseable") for v in rep.steps)
            assert isinstance(rep.answer_follows, bool)


@pytest.mark.parametrize("name", FAMILIES)
def test_check_steps_without_style_finds_the_style(name):
    fam = tasks.get(name)
    for style in fam.styles:
        p = fam.generate(9, 1, min(fam.levels) + 1)
        prompt, completion = fam.format_example(p, style)
        text = prompt + completion if style in addition.LEE_STYLES else completion
        rep = fam.check_steps(p, text)
        assert rep.all_valid and rep.answer_follows, (style, text, rep)


# --- the documented formats are the ones written ---------------------------

DOC_EXAMPLES = [
    ("addition", {"a": 128, "b": 367}, "column", "495"),
    ("addition", {"a": 128, "b": 367}, "place_value", "495"),
    ("subtraction", {"a": 503, "b": 247}, "column_borrow", "256"),
    ("subtraction", {"a": 503, "b": 247}, "count_up", "256"),
    ("multiplication", {"a": 47, "b": 36}, "long", "1692"),
    ("multiplication", {"a": 47, "b": 36}, "distributive", "1692"),
    ("division", {"n": 1234, "d": 7}, "long", "176 R 2"),
    ("division", {"n": 1234, "d": 7}, "chunking", "176 R 2"),
    ("gcd_lcm", {"a": 252, "b": 105, "ask": "lcm"}, "euclid", "1260"),
    ("gcd_lcm", {"a": 252, "b": 105, "ask": "gcd"}, "factorize", "21"),
    ("base_conversion", {"n": 156, "base": 7, "digits": "312", "direction": "to_base"},
     "repeated_division", "312"),
    ("base_conversion", {"n": 156, "base": 7, "digits": "312", "direction": "to_decimal"},
     "repeated_division", "156"),
    ("base_conversion", {"n": 156, "base": 7, "digits": "312", "direction": "to_base"},
     "place_values", "312"),
    ("base_conversion", {"n": 156, "base": 7, "digits": "312", "direction": "to_decimal"},
     "place_values", "156"),
]


@pytest.mark.parametrize("name,data,style,answer", DOC_EXAMPLES)
def test_docstring_examples_are_what_the_solver_writes(name, data, style, answer):
    fam = tasks.get(name)
    p = Problem(name, 0, 0, 3, "", answer, data)
    _, completion = fam.format_example(p, style)
    doc = importlib.import_module(f"rtt_jax.tasks.{name}").__doc__
    assert textwrap.indent(completion, "    ") in doc
    rep = fam.check_steps(p, completion, style)
    assert rep.all_valid and rep.answer_follows and fam.check_answer(p, completion, style)


def _verdicts(fam, p, text, style):
    return [(v.verdict, v.grounded) for v in fam.check_steps(p, text, style).steps]


def test_skipped_step_is_ungrounded_and_wrong_step_invalid():
    fam = tasks.get("addition")
    p = addition.make_problem(128, 367)
    _, text = fam.format_example(p, "column")
    lines = text.split("\n")
    # Column 2 skipped: column 3 is right arithmetic on unearned inputs.
    assert _verdicts(fam, p, "\n".join(lines[:1] + lines[2:]), "column")[1] == ("valid", False)
    # A wrong sum is invalid, yet the next line, which uses its carry, is grounded.
    bad = text.replace("8 + 7 + carry 0 = 15, write 5", "8 + 7 + carry 0 = 16, write 6")
    assert _verdicts(fam, p, bad, "column")[:2] == [("invalid", True), ("valid", True)]

    fam = tasks.get("gcd_lcm")
    p = Problem("gcd_lcm", 0, 0, 3, "", "21", {"a": 252, "b": 105, "ask": "gcd"})
    _, text = fam.format_example(p, "euclid")
    lines = text.split("\n")
    got = _verdicts(fam, p, "\n".join(lines[:1] + lines[2:]), "euclid")
    assert got[1] == ("valid", False)  # 42 = 2 * 21 + 0 uses a remainder never derived

    fam = tasks.get("multiplication")
    p = Problem("multiplication", 0, 0, 3, "", "56088", {"a": 123, "b": 456})
    _, text = fam.format_example(p, "long")
    lines = text.split("\n")
    rep = fam.check_steps(p, "\n".join(lines[:1] + lines[2:]), "long")
    assert (rep.steps[1].verdict, rep.steps[1].grounded) == ("valid", False)  # Row 3 after Row 1
    assert not rep.answer_follows


def test_unicode_digits_are_not_numbers():
    fam = tasks.get("addition")
    p = addition.make_problem(128, 367)
    _, text = fam.format_example(p, "column")
    arabic = text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    rep = fam.check_steps(p, arabic, "column")
    assert rep.unparseable == len(rep.steps) and not rep.answer_follows
    assert not fam.check_answer(p, arabic, "column")
    assert not fam.check_answer(p, "#### ４９５", "column")  # full-width digits


@pytest.mark.parametrize("a,b", [(128, 367), (999, 1), (8465, 3541)])
def test_lee_detailed_needs_every_line_and_the_end_line(a, b):
    """Dropping any scratch line (a header, a column, the END line) loses the
    credit: the sum is read off an END line that closes the columns built."""
    fam = tasks.get("addition")
    p = addition.make_problem(a, b)
    _, text = fam.format_example(p, "lee_detailed")
    lines = text.split("\n")
    assert fam.check_steps(p, text, "lee_detailed").all_valid
    scratch = [i for i, ln in enumerate(lines) if ln.startswith("[")]
    assert lines[scratch[-1]].endswith(", END")
    for i in scratch:
        rep = fam.check_steps(p, "\n".join(lines[:i] + lines[i + 1:]), "lee_detailed")
        assert not (rep.all_valid and rep.answer_follows), lines[i]
    no_end = "\n".join(lines[:scratch[-1]] + lines[scratch[-1] + 1:])
    assert not fam.check_steps(p, no_end, "lee_detailed").answer_follows
    # An END line whose A list or C disagrees with the columns: no answer follows.
    end = lines[scratch[-1]]
    flipped = re.sub(r"C=([01]) , END", lambda m: f"C={1 - int(m[1])} , END", end)
    for bad in (flipped, end.replace("A=[", "A=[7,", 1)):
        assert bad != end
        rep = fam.check_steps(p, text.replace(end, bad), "lee_detailed")
        assert not rep.answer_follows and not rep.all_valid, bad
