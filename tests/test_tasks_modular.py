"""Tests for the ``modular`` family: chains of one-digit additions and
subtractions, mod 10 (``rtt_jax.tasks.modular``).

The main property: every trace the family's own solver writes passes the
family's own checker at every level and style (with and without the style
named), and a trace with one error in it (a wrong digit in a line, a deleted
line, a wrong final answer) does not. Tests read the style list from
``FAMILY.styles`` so that a style added or renamed is covered by them.
"""
from __future__ import annotations

import builtins
import collections
import json
import os
import random
import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtt_jax import tasks
from rtt_jax.tasks import modular
from rtt_jax.tasks.answers import MAX_CHECK_CHARS
from rtt_jax.tasks.base import Problem, StepReport, TaskFamily
from rtt_jax.traces import noise
from rtt_jax.traces.record import NOISE_KINDS
from rtt_jax.traces.teachers import ProgramTeacher
from rtt_jax.traces.verify import check_record

FAMILY = tasks.get("modular")
STYLES = tuple(FAMILY.styles)
LEVELS = tuple(FAMILY.levels)
# The random corruption sweeps draw from levels 1-16 (the family's levels
# before 17-32 were added, issue 27): longer chains hold lines of the same
# kinds, and a sweep's cost grows with the square of the level. Every level
# is still solved and verified in every style (the first sweep below).
SWEPT = tuple(range(1, 17))
SEED = 2024
PER_LEVEL = 60  # problems per (level, style) whose traces must verify
_NUM = re.compile(r"(?<![0-9])(?<!mod )[0-9]+")  # the numbers a line claims (not the modulus)


def make(terms: list[int], ops: list[str]) -> Problem:
    """A problem with the given terms and signs, built independently of the generator."""
    question = str(terms[0]) + "".join(f"{o}{t}" for o, t in zip(ops, terms[1:])) + " mod 10"
    total = terms[0] + sum(t if o == "+" else -t for o, t in zip(ops, terms[1:]))
    return Problem("modular", 0, 0, len(ops), question, str(total % 10),
                   {"terms": list(terms), "ops": list(ops), "modulus": 10})


def completion(p: Problem, style: str) -> str:
    return FAMILY.format_example(p, style)[1]


def lines_of(p: Problem, style: str) -> list[str]:
    return [s.text for s in FAMILY.solve(p, style).steps]


def text_of(lines, answer) -> str:
    return "\n".join(lines) + f"\n#### {answer}"


def verdicts(p: Problem, text: str, style: str | None) -> list[tuple[str, bool]]:
    return [(v.verdict, v.grounded) for v in FAMILY.check_steps(p, text, style).steps]


def verified(p: Problem, text: str, style: str | None) -> bool:
    rep = FAMILY.check_steps(p, text, style)
    return rep.all_valid and rep.answer_follows and FAMILY.check_answer(p, text, style)


# --- the protocol, the levels and the prompt ---------------------------------

def test_family_satisfies_protocol():
    assert "modular" in tasks.names() and FAMILY is modular.FAMILY
    assert isinstance(FAMILY, TaskFamily) and FAMILY.name == "modular"
    assert len(STYLES) >= 2 and len(set(STYLES)) == len(STYLES)
    assert {"running", "pairwise"} <= set(STYLES)
    # Levels 17-32 were added for length generalisation (issue 27).
    assert LEVELS == tuple(range(1, 33)) and tuple(FAMILY.train_levels) == tuple(range(1, 9))
    with pytest.raises(ValueError):
        FAMILY.generate(0, 0, 0)
    with pytest.raises(ValueError):
        FAMILY.generate(0, 0, LEVELS[-1] + 1)
    p = FAMILY.generate(0, 0, 1)
    with pytest.raises(ValueError):
        FAMILY.solve(p, "no_such_style")
    with pytest.raises(ValueError):
        FAMILY.check_steps(p, completion(p, STYLES[0]), "no_such_style")
    # Every style has its own cue line, and the prompt is question + cue.
    cues = [FAMILY.style_cues[s] for s in STYLES]
    assert len(set(cues)) == len(cues)
    for s in STYLES:
        prompt, comp = FAMILY.format_example(p, s)
        question = modular.hinted_question(p) if s == "hinted" else p.question
        assert prompt == f"{question}\n{FAMILY.style_cues[s]}\n"
        assert comp.endswith(f"\n#### {p.answer}")


@pytest.mark.parametrize("level", [1, 2, 5, 8, 9, 16])
def test_level_is_the_number_of_operations(level):
    for i in range(50):
        p = FAMILY.generate(SEED, i, level)
        terms, ops = p.data["terms"], p.data["ops"]
        assert len(terms) == level + 1 and len(ops) == level
        assert all(0 <= t <= 9 for t in terms) and set(ops) <= {"+", "-"}
        assert p.question == make(terms, ops).question
        assert p.answer == make(terms, ops).answer
        assert p.answer in tuple("0123456789")
        json.dumps(p.to_json())  # JSON-able
        for s in STYLES:
            # One line per operation, plus at most one final reduction.
            assert level <= len(FAMILY.solve(p, s).steps) <= level + 1, s


# --- every trace of the solver verifies ----------------------------------------

@pytest.mark.parametrize("style", STYLES)
def test_solved_traces_verify_at_every_level(style):
    minus_zero = 0
    for level in LEVELS:
        for i in range(PER_LEVEL):
            p = FAMILY.generate(SEED, i, level)
            trace = FAMILY.solve(p, style)
            assert trace.answer == p.answer and trace.style == style
            text = completion(p, style)
            for s in (style, None):
                rep = FAMILY.check_steps(p, text, s)
                if not (rep.all_valid and rep.answer_follows and FAMILY.check_answer(p, text, s)):
                    pytest.fail(f"L{level} {style} (checked as {s}) index {i}:\n"
                                f"{p.question}\n{text}\n{rep}")
                assert rep.valid == len(trace.steps) and rep.unparseable == 0
            minus_zero += "-0" in p.question
    assert minus_zero > 50  # the sweep covers subtractions of zero


def test_check_steps_without_style_finds_each_style():
    for style in STYLES:
        for level in (3, 6, 11):
            p = FAMILY.generate(9, level, level)
            rep = FAMILY.check_steps(p, completion(p, style))
            assert rep.all_valid and rep.answer_follows, (style, level)


def test_docstring_examples_are_what_the_solver_writes():
    p = make([7, 5, 9, 3], ["+", "-", "+"])
    assert p.question == "7+5-9+3 mod 10" and p.answer == "6"
    doc = modular.__doc__
    shown = 0
    for style in STYLES:
        block = textwrap.indent(completion(p, style), "    ")
        if f"``{style}``" in doc:
            assert block in doc, style
            shown += 1
        assert verified(p, completion(p, style), style)
    assert shown == len(STYLES)  # the docstring shows every style


# --- determinism and the answer distribution -----------------------------------

_DUMP = """
import json
from rtt_jax import tasks
fam = tasks.get("modular")
out = []
for level in fam.levels:
    for index in (0, 7, 123456789):
        p = fam.generate(99, index, level)
        out.append([p.to_json()] + [fam.format_example(p, s) for s in fam.styles])
print(json.dumps(out, sort_keys=True))
"""


def test_generation_is_deterministic():
    for level in (1, 8, 16):
        for i in (0, 1, 17, 10**9):
            a, b = FAMILY.generate(5, i, level), FAMILY.generate(5, i, level)
            assert a == b
            assert [FAMILY.format_example(a, s) for s in STYLES] == \
                [FAMILY.format_example(b, s) for s in STYLES]
    # Order of calls does not matter: a problem does not depend on what came before.
    forward = [FAMILY.generate(3, i, 6) for i in range(30)]
    backward = [FAMILY.generate(3, i, 6) for i in reversed(range(30))][::-1]
    assert forward == backward
    # Different seeds, indices and levels give different problems.
    for level in (4, 8, 16):
        s0 = [FAMILY.generate(0, i, level).question for i in range(50)]
        s1 = [FAMILY.generate(1, i, level).question for i in range(50)]
        assert sum(a != b for a, b in zip(s0, s1)) >= 45, level
        assert len(set(s0)) >= 45


@pytest.mark.slow
def test_generation_is_identical_across_processes():
    """Example i is a pure function of (seed, level, i), not of the hash salt."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = []
    for salt in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=salt)
        out = subprocess.run([sys.executable, "-c", _DUMP], capture_output=True, text=True,
                             env=env, cwd=repo, check=True)
        runs.append(out.stdout)
    assert runs[0] == runs[1]
    here = [[FAMILY.generate(99, i, lv).to_json()] + [list(FAMILY.format_example(
        FAMILY.generate(99, i, lv), s)) for s in STYLES]
        for lv in LEVELS for i in (0, 7, 123456789)]
    assert json.loads(runs[0]) == json.loads(json.dumps(here, sort_keys=True))


@pytest.mark.parametrize("level", [8, 16])
def test_answers_are_uniform_over_digits(level):
    n = 5_000
    counts = collections.Counter(FAMILY.generate(SEED, i, level).answer for i in range(n))
    assert set(counts) == set("0123456789")
    # Chance is 10%: no digit should be much more (or less) common.
    assert max(counts.values()) <= 0.14 * n, counts
    assert min(counts.values()) >= 0.06 * n, counts
    ops = collections.Counter(o for i in range(500) for o in FAMILY.generate(SEED, i, level).data["ops"])
    assert 0.4 < ops["+"] / sum(ops.values()) < 0.6


# --- corruptions are caught ------------------------------------------------------

def _change_digit(line: str, k: int, rng: random.Random) -> str:
    """``line`` with the last digit of its ``k``-th number changed."""
    m = list(_NUM.finditer(line))[k]
    end = m.end() - 1
    new = rng.choice([d for d in "0123456789" if d != line[end]])
    return line[:end] + new + line[end + 1:]


@pytest.mark.parametrize("style", STYLES)
def test_a_wrong_digit_makes_its_line_invalid(style):
    """Any number in any line with its last digit changed: that line is invalid
    (the arithmetic no longer holds, mod 10 or exactly), so the trace fails."""
    rng = random.Random(11)
    for i in range(400):
        p = FAMILY.generate(SEED, i, rng.choice(SWEPT))
        lines = lines_of(p, style)
        j = rng.randrange(len(lines))
        k = rng.randrange(len(_NUM.findall(lines[j])))
        bad = lines[:j] + [_change_digit(lines[j], k, rng)] + lines[j + 1:]
        rep = FAMILY.check_steps(p, text_of(bad, p.answer), style)
        assert rep.steps[j].verdict == "invalid", (style, lines, bad[j])
        assert not rep.all_valid
        # Without the style named, the best reading still does not credit it
        # (it may read the line as another style's unparseable text).
        rep = FAMILY.check_steps(p, text_of(bad, p.answer))
        assert not rep.all_valid and rep.steps[j].verdict != "valid", (style, lines, bad[j])
    # Exhaustively on a few problems: every number, every other digit.
    for level in (1, 4, 9):
        p = FAMILY.generate(SEED + 1, level, level)
        lines = lines_of(p, style)
        for j, line in enumerate(lines):
            for m in _NUM.finditer(line):
                for d in "0123456789":
                    if d == line[m.end() - 1]:
                        continue
                    bad_line = line[:m.end() - 1] + d + line[m.end():]
                    rep = FAMILY.check_steps(p, text_of(lines[:j] + [bad_line] + lines[j + 1:],
                                                        p.answer), style)
                    assert rep.steps[j].verdict == "invalid", (style, line, bad_line)


def _redundant(p: Problem, style: str, j: int) -> bool:
    """The exact style's final ``t mod 10=t`` when the total is already a digit:
    dropping it leaves a complete derivation (the reduction did nothing)."""
    step = FAMILY.solve(p, style).steps[j]
    return step.op == "mod" and step.inputs[0] == step.result


@pytest.mark.parametrize("style", STYLES)
def test_a_deleted_line_leaves_a_later_line_ungrounded_or_the_answer_unfollowed(style):
    rng = random.Random(12)
    tried = 0
    for i in range(300):
        p = FAMILY.generate(SEED, i, rng.choice(SWEPT))
        lines = lines_of(p, style)
        for j in range(len(lines)):
            if _redundant(p, style, j):
                continue
            tried += 1
            rep = FAMILY.check_steps(p, text_of(lines[:j] + lines[j + 1:], p.answer), style)
            later_ungrounded = any(not v.grounded for v in rep.steps[j:])
            assert later_ungrounded or not rep.answer_follows, (style, lines, j)
            assert not (rep.all_valid and rep.answer_follows)
            # Without the style named, no other reading credits it either, except
            # that exact without its final mod line is a complete running trace.
            if FAMILY.solve(p, style).steps[j].op == "mod":
                continue
            free = FAMILY.check_steps(p, text_of(lines[:j] + lines[j + 1:], p.answer))
            assert not (free.all_valid and free.answer_follows), (style, lines, j)
    assert tried > 1000


@pytest.mark.parametrize("style", STYLES)
def test_a_wrong_final_answer_fails_and_does_not_follow(style):
    for i in range(100):
        level = SWEPT[i % len(SWEPT)]
        p = FAMILY.generate(SEED, i, level)
        lines = lines_of(p, style)
        for wrong in "0123456789":
            if wrong == p.answer:
                continue
            text = text_of(lines, wrong)
            for s in (style, None):
                rep = FAMILY.check_steps(p, text, s)
                assert not FAMILY.check_answer(p, text, s)
                assert not rep.answer_follows and rep.all_valid  # the lines are still right
        for wrong in (p.answer + "0", "-" + p.answer, str(int(p.answer) + 10), p.answer + ".0"):
            assert not FAMILY.check_answer(p, text_of(lines, wrong), style), wrong
            assert not FAMILY.check_steps(p, text_of(lines, wrong), style).answer_follows


def test_an_answer_alone_earns_no_steps():
    for level in (1, 2, 8, 16):
        p = FAMILY.generate(SEED, 3, level)
        for d in "0123456789":
            for text in (f"#### {d}", f"The answer is {d}.\n#### {d}", f"{d}\n#### {d}"):
                for s in STYLES + (None,):
                    rep = FAMILY.check_steps(p, text, s)
                    assert rep.valid == 0 and not rep.all_valid and not rep.answer_follows, (text, s)
            # The answer checker alone judges only the answer.
            assert FAMILY.check_answer(p, f"#### {d}") == (d == p.answer)


# --- hand-written traces: what each verdict means --------------------------------

P7 = make([7, 5, 9, 3], ["+", "-", "+"])  # 7+5-9+3 mod 10 = 6


def test_running_verdicts():
    assert verdicts(P7, "7+5=2\n2-9=3\n3+3=6\n#### 6", "running") == [("valid", True)] * 3
    # A skipped operation: right arithmetic on an operand never derived.
    assert verdicts(P7, "7+5=2\n3+3=6\n#### 6", "running")[1] == ("valid", False)
    # A wrong line is counted once; the next line builds on what it claimed.
    text = "7+5=3\n3-9=4\n4+3=7\n#### 7"
    assert verdicts(P7, text, "running") == [("invalid", True), ("valid", True), ("valid", True)]
    assert FAMILY.check_steps(P7, text, "running").answer_follows
    assert not FAMILY.check_answer(P7, text, "running")
    # Neither the exact value nor its last digit: invalid.
    assert verdicts(P7, "7+5=22\n#### 2", "running")[0] == ("invalid", True)
    # Spaces and a full stop are fine; another order of the terms is not grounded.
    assert verified(P7, "7 + 5 = 2.\n2 - 9 = 3.\n3 + 3 = 6.\n#### 6", "running")
    assert verdicts(P7, "5+7=2\n#### 2", "running")[0] == ("valid", False)
    # A sign read wrongly (+9 for -9) is not the problem's term.
    assert verdicts(P7, "7+5=2\n2+9=1\n#### 1", "running")[1] == ("valid", False)


def test_exact_values_and_reductions_are_accepted_everywhere():
    """A line may state x±y exactly or reduced mod 10 (both are true), and a
    ``t mod 10=r`` line reduces the total so far, at the end or along the way."""
    exact = "7+5=12\n12-9=3\n3+3=6\n6 mod 10=6\n#### 6"
    mixed = "7+5=12\n12 mod 10=2\n2-9=-7\n-7+3=-4\n-4 mod 10=6\n#### 6"
    for style in ("running", "exact"):
        assert verified(P7, exact, style) and verified(P7, mixed, style), style
    # An exact total out of 0-9 is not an answer until it is reduced.
    rep = FAMILY.check_steps(P7, "7+5=12\n12-9=3\n3+3=-4\n#### 6", "exact")
    assert rep.steps[2].verdict == "invalid"
    rep = FAMILY.check_steps(P7, "7+5=12\n12-9=3\n3+13=16\n#### 6", "exact")
    assert not rep.all_valid
    q = make([9, 8, 7], ["+", "+"])  # 24 -> 4
    assert not FAMILY.check_steps(q, "9+8=17\n17+7=24\n#### 4", "exact").answer_follows
    assert verified(q, "9+8=17\n17+7=24\n24 mod 10=4\n#### 4", "exact")
    # A reduction of something that is not the running total is ungrounded;
    # a wrong reduction is invalid (-3 mod 10 is 7, not 3).
    assert verdicts(q, "9+8=17\n18 mod 10=8\n#### 8", "exact")[1] == ("valid", False)
    n = make([1, 4], ["-"])
    assert verdicts(n, "1-4=-3\n-3 mod 10=3\n#### 3", "exact")[1] == ("invalid", True)
    assert verified(n, "1-4=-3\n-3 mod 10=7\n#### 7", "exact")
    # Rewrite: an exact head, even a negative one, is the operation done exactly.
    assert verified(P7, "=12-9+3\n=3+3\n=6\n#### 6", "rewrite")
    assert verified(P7, "=2-9+3\n=-7+3\n=6\n#### 6", "rewrite")
    # Pairwise: exact partial sums, and a negative one used as the second operand.
    r = make([1, 3, 5, 9], ["+", "+", "-"])  # (1+3) + (5-9) = 0
    assert FAMILY.solve(r, "pairwise").text == "1+3=4\n5-9=-4\n4+6=10"
    assert verified(r, "1+3=4\n5-9=-4\n4-4=0\n#### 0", "pairwise")
    assert verified(r, "1+3=4\n5-9=-4\n4+6=0\n#### 0", "pairwise")  # -4 carried on as 6
    assert verdicts(r, "1+3=4\n5-9=-4\n4+4=8\n#### 8", "pairwise")[2] == ("valid", False)


def test_rewrite_verdicts():
    assert FAMILY.solve(P7, "rewrite").text == "=12-9+3\n=-7+3\n=6"
    # Jumping straight to the end: the value is right, the line is not earned.
    assert verdicts(P7, "=6\n#### 6", "rewrite") == [("valid", False)]
    # A skipped operation: the tail no longer matches.
    assert verdicts(P7, "=2-9+3\n=6\n#### 6", "rewrite")[1] == ("valid", False)
    # A changed tail keeps the value but is not the previous line.
    assert verdicts(P7, "=2-8+2\n#### 6", "rewrite")[0] == ("valid", False)
    # A wrong head changes the value.
    assert verdicts(P7, "=3-9+3\n#### 7", "rewrite")[0] == ("invalid", False)
    # An unfinished rewrite computes no answer.
    assert not FAMILY.check_steps(P7, "=2-9+3\n=3+3\n#### 6", "rewrite").answer_follows
    # Too many terms for one line is unparseable, not slow.
    long = "=" + "+1" * 200
    assert verdicts(P7, long[0] + long[2:] + "\n#### 6", "rewrite") == [("unparseable", False)]


def test_pairwise_odd_one_out_moves_up():
    # 5 terms: two pairs and the odd one out, which joins the next round.
    p = make([1, 3, 9, 2, 7], ["+", "+", "-", "+"])
    assert FAMILY.solve(p, "pairwise").text == "1+3=4\n9-2=7\n4+7=11\n1+7=8"
    assert verified(p, completion(p, "pairwise"), "pairwise")
    # A subtracted odd one out keeps its sign when it moves up.
    q = make([1, 3, 9, 2, 7], ["+", "+", "-", "-"])
    assert FAMILY.solve(q, "pairwise").text == "1+3=4\n9-2=7\n4+7=11\n1-7=-6"
    assert verified(q, completion(q, "pairwise"), "pairwise")
    assert verdicts(q, "1+3=4\n9-2=7\n4+7=1\n1+7=8\n#### 8", "pairwise")[3] == ("valid", False)
    # Pairing the odd one out in the first round (a running total) is not this method.
    assert verdicts(p, "1+3=4\n9-2=7\n7+7=4\n#### 4", "pairwise")[2] == ("valid", False)
    # Moving the odd one out to the front of the next round is not either.
    assert verdicts(p, "1+3=4\n9-2=7\n7+4=1\n#### 1", "pairwise")[2] == ("valid", False)
    # 7 terms: the odd one out is paired in round 2; 6 terms: in round 3.
    seven = make([1, 2, 3, 4, 5, 6, 7], ["+", "-", "+", "-", "+", "-"])
    assert FAMILY.solve(seven, "pairwise").text == "1+2=3\n-3+4=1\n-5+6=1\n3+1=4\n1-7=-6\n4+4=8"
    six = make([1, 2, 3, 4, 5, 6], ["+", "+", "+", "+", "+"])
    assert FAMILY.solve(six, "pairwise").text == "1+2=3\n3+4=7\n5+6=11\n3+7=10\n0+1=1"
    for r in (seven, six):
        assert verified(r, completion(r, "pairwise"), "pairwise")
    # Every level: a tree over L+1 leaves has L additions, and its rounds halve.
    for level in LEVELS:
        p = FAMILY.generate(SEED, 0, level)
        rounds = modular.pairwise_rounds(modular.signed_terms(p))
        assert sum(map(len, rounds)) == level
        sizes, n = [], level + 1
        while n > 1:
            sizes.append(n // 2)
            n = n // 2 + n % 2
        assert [len(r) for r in rounds] == sizes
    # A last round left unfinished computes no answer.
    assert not FAMILY.check_steps(p, "1+3=4\n9-2=7\n4+7=1\n#### 1", "pairwise").answer_follows


def test_lines_past_the_end_compute_no_answer():
    """An operation after the last term (running) or the last round (pairwise)
    is ungrounded, and the text then computes no answer for its marker to follow."""
    for style, body in (("running", "7+5=2\n2-9=3\n3+3=6"), ("pairwise", "7+5=2\n-9+3=4\n2+4=6")):
        assert verified(P7, body + "\n#### 6", style)
        for answer in ("6", "7"):
            rep = FAMILY.check_steps(P7, body + f"\n6+1=7\n#### {answer}", style)
            assert rep.steps[-1].grounded is False and not rep.answer_follows, (style, answer)


def test_subtracting_zero_stays_a_subtraction():
    # Pairwise: a ``-0`` term that opens a pair is written ``-0``.
    p = make([4, 7, 0, 2], ["+", "-", "+"])  # (4+7) + (-0+2) = 3
    assert FAMILY.solve(p, "pairwise").text == "4+7=11\n-0+2=2\n1+2=3"
    assert verified(p, completion(p, "pairwise"), "pairwise")
    assert verdicts(p, "4+7=1\n0+2=2\n1+2=3\n#### 3", "pairwise")[1] == ("valid", False)
    # ... and one that closes a pair.
    q = make([5, 0, 3], ["-", "+"])
    assert FAMILY.solve(q, "pairwise").text == "5-0=5\n5+3=8"
    assert verdicts(q, "5+0=5\n5+3=8\n#### 8", "pairwise")[0] == ("valid", False)
    for style in ("running", "exact"):
        assert FAMILY.solve(q, style).text.startswith("5-0=5")
        assert verdicts(q, "5+0=5\n5+3=8\n8 mod 10=8\n#### 8", style)[0] == ("valid", False)
    # Rewrite: the tail keeps its ``-0``.
    r = make([5, 3, 0], ["+", "-"])
    assert FAMILY.solve(r, "rewrite").text == "=8-0\n=8"
    assert verdicts(r, "=8+0\n=8\n#### 8", "rewrite")[0] == ("valid", False)
    for s in STYLES:
        for x in (p, q, r):
            assert verified(x, completion(x, s), s), (s, x.question)


# --- untrusted text ----------------------------------------------------------------

HOSTILE = [  # the problem's answer is 6: every marker here is wrong or malformed
    "",
    "####",
    "\n\n\n#### ",
    "9" * 1_000_000,
    "#### " + "9" * 1_000_000,
    "7+" + "9" * 1_000_000 + "=6\n#### 5",
    "=" + "9" * 1_000_000 + "\n#### 5",
    "x" * 10_000_000,
    "#### ٦",
    "#### ６",
    "٧+٥=٢\n٢-٩=٣\n٣+٣=٦\n#### ٦",
    "__import__('os').system('touch /tmp/rtt_modular_pwned')",
    "#### __import__('os').system('touch /tmp/rtt_modular_pwned')",
    "__import__('os').system('x') mod 10=5\n#### 5",
    "eval('7+5-9+3') = 5\n#### 5",
    "(" * 5000 + "7+5" + ")" * 5000 + "=2\n#### 2",
    "[[[{{{((7+5))}}}]]]=2\n#### 2",
    "10**10**10 mod 10=0\n#### 0",
    "7+5=2\n" * 3000 + "#### 2",
    "=" + "+1" * 5000 + "\n#### 5",
    "=" + "+".join(["9" * 40] * 64) + "\n#### 5",
    "9" * 41 + "+1=" + "0" * 41 + "\n#### 0",
    "-" * 19_999,
    "\x00\x01\u202e#### \u202e6",
    "\ud800\n#### 5",
    "#### 6e0",
    "#### 0x6",
    "#### 6.0",
    "#### +6",
    "#### 06",
]
NOT_TEXT = [None, 6, 6.0, b"#### 6", ["#### 6"], {"text": "#### 6"}]


def test_hostile_text_is_wrong_fast_and_runs_nothing(monkeypatch):
    def tripwire(*args, **kwargs):
        raise AssertionError("untrusted text reached eval/exec/system")

    for fn in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, fn, tripwire)
    monkeypatch.setattr(os, "system", tripwire)
    wrong = []  # collected, and asserted once the tripwires are gone (pytest compiles)
    for level in (3, 16):
        p = make([7, 5, 9, 3] + [0] * (level - 3), ["+", "-", "+"] + ["+"] * (level - 3))
        for text in HOSTILE + NOT_TEXT:
            for s in (None,) + STYLES:
                ok = FAMILY.check_answer(p, text, s)
                rep = FAMILY.check_steps(p, text, s)
                if not (ok is False and isinstance(rep, StepReport) and not rep.all_valid
                        and not rep.answer_follows and rep.valid <= 1):  # "7+5=2" once, at most
                    wrong.append((level, repr(text)[:60], s, ok, rep))
    monkeypatch.undo()
    assert p.answer == "6"
    assert not wrong, wrong
    assert not os.path.exists("/tmp/rtt_modular_pwned")


def test_unicode_digits_are_not_numbers():
    p = FAMILY.generate(SEED, 0, 5)
    for style in STYLES:
        arabic = completion(p, style).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        rep = FAMILY.check_steps(p, arabic, style)
        assert rep.unparseable == len(rep.steps) > 0 and not rep.answer_follows
        assert not FAMILY.check_answer(p, arabic, style)
        assert FAMILY.extract_answer(p, arabic, style) != p.answer


def test_a_correct_trace_padded_past_the_cap_is_refused():
    p = FAMILY.generate(SEED, 0, 4)
    for style in STYLES:
        padded = "x" * (MAX_CHECK_CHARS + 1) + "\n" + completion(p, style)
        assert not FAMILY.check_answer(p, padded, style)
        assert not FAMILY.check_steps(p, padded, style).all_valid


_PIECES = st.sampled_from([
    "=", "####", "\n", "+", "-", " ", "mod", " mod 10", "10", "0", "7", "12", "-3", "-0",
    "9" * 40, "9" * 41, ".", "٣", "(", ")", "**", "x",
])
_TEXTS = st.one_of(st.text(max_size=200), st.lists(_PIECES, max_size=60).map("".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS, index=st.integers(0, 10**6), level=st.sampled_from(LEVELS),
       style=st.sampled_from(STYLES), cut=st.integers(0, 400))
def test_fuzzed_and_spliced_text_never_crashes(text, index, level, style, cut):
    p = FAMILY.generate(SEED, index, level)
    real = completion(p, style)
    for variant in (text, real[:cut] + text + real[cut:], real[:cut], real.replace("=", "")):
        for s in (None, style):
            assert FAMILY.check_answer(p, variant, s) in (True, False)
            rep = FAMILY.check_steps(p, variant, s)
            assert all(v.verdict in ("valid", "invalid", "unparseable") for v in rep.steps)
            assert isinstance(rep.answer_follows, bool)


# --- noise injection (the flawed-traces experiment) is caught ---------------------

def test_injected_noise_is_caught():
    teacher = ProgramTeacher()
    records = [r for level in LEVELS for i in range(6)
               for r in teacher.teach(FAMILY.generate(SEED, i, level))]
    assert {r.style for r in records} == set(STYLES)
    assert all(check_record(r, FAMILY).verified for r in records)
    rng = random.Random(0)
    for kind in NOISE_KINDS:
        tried = 0
        for r in records:
            bad = noise.corrupt(r, kind, rng)
            if bad is None:
                continue
            tried += 1
            assert bad.text != r.text
            v = check_record(bad, FAMILY)
            assert not v.verified, (kind, r.style, bad.text)
            rep = FAMILY.check_steps(bad.problem, bad.text, bad.style)
            if kind == "wrong_answer":
                assert not v.answer_correct and not rep.answer_follows
            elif kind == "wrong_step":
                assert not rep.all_valid
            else:  # skipped_step
                assert not (rep.all_valid and rep.answer_follows)
        assert tried >= 0.9 * len(records), (kind, tried)
    rates = noise.catch_rates("modular", problems_per_level=5)
    assert all(rates[k]["rate"] == 1.0 for k in NOISE_KINDS), rates


# --- textbook support --------------------------------------------------------------

_SUM = re.compile(r"(?<![\w-])(-?[0-9]+) ([+-]) ([0-9]+) = (-?[0-9]+)")
_MOD = re.compile(r"(?<![\w-])(-?[0-9]+) mod 10 (?:=|is) (-?[0-9]+)")
_CARRY = re.compile(r"(?<![\w-])(-?[0-9]+) carries on as (?:its last digit, )?(-?[0-9]+)")


def test_textbook_explains_every_step_truthfully():
    """Every equation an explanation states is true, the step's exact result
    is named, and, given the trace, every carry it names is the earlier result
    mod 10 that the line starts from."""
    from rtt_jax.textbook import skills
    assert {s.style for s in skills.skills("modular")} == set(STYLES)
    carries = 0
    for level in (1, 5, 16):
        for i in range(20):
            p = FAMILY.generate(SEED, i, level)
            for style in STYLES:
                trace = FAMILY.solve(p, style)
                for k, step in enumerate(trace.steps):
                    for variant in range(4):
                        for words in (skills.explain(step, variant, "modular"),
                                      skills.explain(step, variant, "modular", trace, k)):
                            assert str(step.result) in words and "This step" not in words, words
                            for a, op, b, c in _SUM.findall(words):
                                assert int(a) + (int(b) if op == "+" else -int(b)) == int(c), words
                            for t, r in _MOD.findall(words):
                                assert int(t) % 10 == int(r), words
                            for z, v in _CARRY.findall(words):
                                assert int(z) % 10 == int(v) and int(v) in {
                                    int(str(x)) for x in step.inputs}, words
                                carries += 1
                            if step.op != "mod":
                                x, y = (int(str(v)) for v in step.inputs)
                                exact = x - y if step.op == "sub" else x + y
                                assert exact == step.result and str(exact) in words, words
                    if style != "exact" and k == len(trace.steps) - 1:  # names the answer
                        assert trace.answer in skills.explain(step, 0, "modular", trace, k)
    assert carries > 100


# Textbook sections are written for a family's train_levels unless a config
# names others; levels 17-32 (issue 27) are left out here: their long
# solutions, un-narrated, can fall under the punctuation rule (pairwise at
# level 24: 0.169 of lines, min 0.2).
@pytest.mark.parametrize("level", SWEPT)
def test_textbook_sections_at_every_level(level):
    from rtt_jax.textbook import quality, sections
    for index in range(2):
        sec = sections.section("modular", 0, index, level)
        assert quality.check(sec.text).passed, quality.check(sec.text).failures
        # A section has the parts its template drew (not always worked examples or exercises).
        recs = list(sec.parts.get("worked", [])) + list(sec.parts.get("exercises", []))
        if sec.parts["mistake"] is not None:
            recs.append(sec.parts["mistake"])
        for rec in recs:
            p = FAMILY.generate(rec["seed"], rec["index"], rec["level"])
            # The section may word the question its own way (questions.restate),
            # always copying the chain itself.
            assert rec["asked"] in sec.text and rec["level"] == level
            assert p.question.removesuffix(" mod 10") in rec["asked"]
            assert verified(p, text_of(rec["lines"], rec["answer"]), rec["style"])
        m = sec.parts["mistake"]
        if m is not None:
            p = FAMILY.generate(m["seed"], m["index"], m["level"])
            bad = list(m["lines"])
            bad[m["step_index"]] = m["wrong_line"]
            rep = FAMILY.check_steps(p, text_of(bad, m["answer"]), m["style"])
            # A wrong result is invalid; a line started from a result carried on
            # wrongly (-7 as 7) may be true arithmetic, but it is not grounded.
            v = rep.steps[m["step_index"]]
            assert v.verdict == "invalid" or not v.grounded, m
