"""Tests for the reasoning families: expressions, linear_equation, word_problem,
logic and counting.

The main property: every trace a family's own solver writes passes the
family's own checker (all steps valid and grounded, the answer follows, the
answer is right), for 1,000 problems per (family, level, style); and a trace
with one error in it (a wrong step result, a skipped step, a wrong final
answer) does not.
"""
from __future__ import annotations

import builtins
import functools
import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hang_guard import hang_guard
from rtt_jax import tasks
from rtt_jax.tasks.base import Problem, StepReport, TaskFamily

NAMES = ("expressions", "linear_equation", "word_problem", "logic", "counting")
PER_LEVEL = 1_000  # problems per (family, level, style) whose traces must verify
CORRUPT_PER_LEVEL = 40  # problems per (family, level, style) to corrupt three ways
SEED = 1234
CASES = [(n, s) for n in NAMES for s in tasks.get(n).styles]


@functools.lru_cache(maxsize=None)
def problems(name: str, level: int, n: int = PER_LEVEL) -> tuple[Problem, ...]:
    fam = tasks.get(name)
    return tuple(fam.generate(SEED, i, level) for i in range(n))


def completion(fam, problem: Problem, style: str) -> str:
    return fam.format_example(problem, style)[1]


# --- the protocol and the determinism contract ---------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_family_satisfies_protocol(name):
    fam = tasks.get(name)
    assert isinstance(fam, TaskFamily)
    assert fam.name == name
    assert len(fam.styles) >= 2 and len(set(fam.styles)) == len(fam.styles)
    assert set(fam.train_levels) < set(fam.levels)
    with pytest.raises(ValueError):
        fam.generate(0, 0, max(fam.levels) + 1)
    with pytest.raises(ValueError):
        fam.solve(fam.generate(0, 0, min(fam.levels)), "no_such_style")


_DUMP = """
import json, sys
from rtt_jax import tasks
out = []
for name in {names!r}:
    fam = tasks.get(name)
    for level in fam.levels:
        for index in (0, 7, 123456789):
            p = fam.generate(99, index, level)
            out.append([p.to_json()] + [fam.format_example(p, s) for s in fam.styles])
print(json.dumps(out, sort_keys=True))
"""


@pytest.mark.slow
def test_generation_is_identical_across_processes():
    """Example i is a pure function of (seed, family, level, i): not of the
    process (hash salt), the order of calls, or what was generated before."""
    code = _DUMP.format(names=NAMES)
    runs = []
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for salt in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=salt,
                   PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=600, check=True, cwd=repo)
        runs.append(json.loads(res.stdout))
    # And in this process, in reverse order, after other generation happened.
    problems("expressions", 1, 5)
    here = []
    for name in NAMES:
        fam = tasks.get(name)
        for level in fam.levels:
            for index in (0, 7, 123456789):
                p = fam.generate(99, index, level)
                here.append([p.to_json()] + [list(fam.format_example(p, s)) for s in fam.styles])
    here = json.loads(json.dumps(here, sort_keys=True))
    assert runs[0] == runs[1] == here


@pytest.mark.parametrize("name", NAMES)
def test_problems_vary_and_survive_json(name):
    fam = tasks.get(name)
    for level in (min(fam.levels), max(fam.levels)):
        batch = problems(name, level, 200)
        # Not a handful of templates repeated (level 1 is small by nature).
        assert len({p.question for p in batch}) > (190 if level == max(fam.levels) else 10)
        for p in batch[:20]:
            again = Problem(**json.loads(json.dumps(p.to_json())))
            for style in fam.styles:
                assert fam.format_example(again, style) == fam.format_example(p, style)


@pytest.mark.parametrize("name,style", CASES)
def test_higher_levels_need_more_steps(name, style):
    fam = tasks.get(name)
    means = []
    for level in fam.levels:
        batch = problems(name, level, 100)
        means.append(sum(len(fam.solve(p, style).steps) for p in batch) / len(batch))
    assert means[-1] > 2 * means[0], means
    # Roughly monotone: no level is easier than two levels below it. (Balance
    # simplifies each side in one line, so its count levels off near 3.5.)
    assert all(means[i] >= means[i - 2] - 0.25 for i in range(2, len(means))), means


# --- solved traces verify; corrupted ones do not ---------------------------------

@pytest.mark.slow  # the fast tier stays under 2 minutes
@pytest.mark.parametrize("name,style", CASES)
def test_solved_traces_verify_fully(name, style):
    fam = tasks.get(name)
    failures = []
    for level in fam.levels:
        for p in problems(name, level):
            text = completion(fam, p, style)
            report = fam.check_steps(p, text, style)
            if not (report.all_valid and report.answer_follows and fam.check_answer(p, text, style)):
                failures.append((p.question, text, report))
    assert not failures, f"{len(failures)} traces failed; first: {failures[0]}"


_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?!.*\d)")  # the last number in a line
_BOOL_RE = re.compile(r"\b(True|False)\b(?!.*\b(?:True|False)\b)")


def _corrupt_line(line: str) -> str | None:
    """The line with its last result changed (a number + 1, or a flipped truth value)."""
    if (m := _BOOL_RE.search(line)) is not None:
        flipped = "False" if m.group(1) == "True" else "True"
        return line[:m.start()] + flipped + line[m.end():]
    if (m := _NUMBER_RE.search(line)) is not None:
        return line[:m.start()] + str(int(float(m.group())) + 1) + line[m.end():]
    return None


def _reassemble(lines: list[str], answer: str) -> str:
    return "\n".join(lines) + f"\n#### {answer}"


@pytest.mark.parametrize("name,style", CASES)
def test_corrupted_traces_are_detected(name, style):
    fam = tasks.get(name)
    checked = {"result": 0, "drop": 0, "answer": 0}
    for level in fam.levels:
        for p in problems(name, level)[:CORRUPT_PER_LEVEL]:
            trace = fam.solve(p, style)
            lines = [s.text for s in trace.steps]
            # Steps that compute something (plans in backward chaining do not).
            computing = [i for i, s in enumerate(trace.steps) if s.op != "plan"]

            # 1. One step's result is wrong.
            i = computing[len(computing) // 2]
            bad = _corrupt_line(lines[i])
            assert bad is not None and bad != lines[i]
            report = fam.check_steps(p, _reassemble(lines[:i] + [bad] + lines[i + 1:], trace.answer))
            assert not report.all_valid, (p.question, bad, report)
            checked["result"] += 1

            # 2. A middle step is skipped (its result is needed later).
            if len(computing) >= 2:
                j = computing[(len(computing) - 1) // 2]
                report = fam.check_steps(p, _reassemble(lines[:j] + lines[j + 1:], trace.answer))
                assert not report.all_valid, (p.question, lines[j], report)
                checked["drop"] += 1

            # 3. The final answer does not match the steps.
            wrong = _corrupt_line(trace.answer)
            text = _reassemble(lines, wrong)
            assert not fam.check_answer(p, text)
            assert not fam.check_steps(p, text).answer_follows
            checked["answer"] += 1
    assert min(checked.values()) >= CORRUPT_PER_LEVEL * len(fam.levels) // 2, checked


@pytest.mark.parametrize("name", NAMES)
def test_check_answer_is_canonical(name):
    fam = tasks.get(name)
    p = fam.generate(SEED, 3, 3)
    assert fam.check_answer(p, f"blah\n#### {p.answer}")
    assert fam.check_answer(p, f"#### 0\nsome text\n####   {p.answer}  ")  # the last marker wins
    assert not fam.check_answer(p, f"the answer is {p.answer}")  # no marker, no answer
    assert not fam.check_answer(p, f"#### {p.answer}\n#### nonsense")
    if name != "logic":
        assert fam.check_answer(p, f"#### {p.answer}.0")  # numerically equal
        assert not fam.check_answer(p, f"#### {p.answer}0")
    else:
        assert fam.check_answer(p, f"#### {p.answer.lower()}")


def test_checkers_accept_reasonable_variants():
    """Free text is parsed, not string-matched: equivalent spellings pass."""
    fam = tasks.get("expressions")
    p = fam.generate(SEED, 0, 2)
    expr = p.data["expression"]
    lines = [ln.replace(" ", "") for ln in completion(fam, p, "precedence").splitlines()]
    assert fam.check_steps(p, "\n".join(lines)).all_valid
    # A correct jump over two operations is valid, but not grounded.
    report = fam.check_steps(p, f"= {p.answer}\n#### {p.answer}")
    assert report.steps[0].verdict == "valid" and not report.steps[0].grounded
    assert report.answer_follows and not report.all_valid
    assert expr  # the expression is kept for checkers
    lin = tasks.get("linear_equation")
    q = lin.generate(SEED, 0, 1)
    assert lin.check_answer(q, f"#### x = {q.answer}")


# --- untrusted text -------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('touch /tmp/rtt_pwned')",
    "#### __import__('os').system('touch /tmp/rtt_pwned')",
    "= __import__('os').system('x')\n#### -987654321",
    "10**10**10 = 1\n#### 10**10**10",
    "= 10**10**10\n= 9**9**9**9\n#### -987654321",
    "= " + "(" * 5000 + "1" + ")" * 5000 + "\n#### -987654321",
    "(" * 5000 + "1" + ")" * 5000 + " = 1",
    "= " + "(" * 900 + "1" + ")" * 900,
    "x = " + "(" * 900 + "1" + ")" * 900,
    "not " * 3000 + "p = True",
    "= " + "not " * 190 + "True",
    "٣ + ٤ = ٧\n#### ٧",
    "#### ３",
    "1" * 1_000_000,
    "= " + "9" * 1_000_000 + "\n#### " + "9" * 1_000_000,
    ("= 1 + 1\n" * 100_000) + "#### -987654321",
    "Tom has " + "9" * 5000 + " * 9 = 1 apples.",
    "Tom has 99999999999999999999999999999999999999 ** 64 = 1 apples.",
    "x = 99999999999999999999999999999999999999 * " * 40 + "1",
    "After the cows: 1e309 = 1 legs.",
    "\x00\x01\u202e#### \u202e5",
    "",
    "####",
]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_text_is_wrong_bounded_and_runs_nothing(name, monkeypatch, tmp_path):
    fam = tasks.get(name)
    p = fam.generate(SEED, 0, 3)

    def tripwire(*args, **kwargs):
        raise AssertionError("untrusted text reached eval/exec/system")

    for fn in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, fn, tripwire)
    monkeypatch.setattr(os, "system", tripwire)
    for text in HOSTILE:
        with hang_guard(300, repr(text[:40])):  # bench/parse_worst_case.py times it
            ok = fam.check_answer(p, text)
            report = fam.check_steps(p, text)
        assert ok is False
        assert isinstance(report, StepReport) and not report.all_valid and not report.answer_follows
    assert not os.path.exists("/tmp/rtt_pwned")


_PIECES = st.sampled_from([
    "=", " = ", "####", "\n", "(", ")", "+", "-", "*", "/", "**", "^", "x", "×", "÷", ":",
    "1", "7", "12", "-3", "0", "0.5", "1,000", "99999999999999999999", "True", "False",
    "not", "and", "or", " p ", " q ", "Tom has ", " apples.", "To find ", "'s", " we need ",
    "After the cows: ", "In total: ", " legs.", " chickens have ", "subtract ", "divide both sides by ",
    "٣", "\u00a0", " ", ".",
])
_TEXTS = st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=80).map("".join))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS, index=st.integers(0, 10**6), level_pick=st.integers(0, 9))
def test_fuzzed_text_never_crashes(name, text, index, level_pick):
    fam = tasks.get(name)
    p = fam.generate(SEED, index, list(fam.levels)[level_pick % len(fam.levels)])
    with hang_guard(300, repr(text[:40])):
        assert fam.check_answer(p, text) in (True, False)
        report = fam.check_steps(p, text)
    assert isinstance(report, StepReport)
    assert all(v.verdict in ("valid", "invalid", "unparseable") for v in report.steps)


@pytest.mark.parametrize("name,style", CASES)
@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 10**9), cut=st.integers(0, 2_000), level_pick=st.integers(0, 9))
def test_truncated_or_spliced_traces_never_crash(name, style, index, cut, level_pick):
    """Half-finished model output: a real trace cut anywhere, with noise."""
    fam = tasks.get(name)
    p = fam.generate(SEED, index, list(fam.levels)[level_pick % len(fam.levels)])
    text = completion(fam, p, style)
    for variant in (text[:cut], text[cut:], text[:cut] + "\n= (" + text[cut:], text.replace("=", "")):
        report = fam.check_steps(p, variant)
        answer = fam.extract_answer(p, variant)
        # Every line gets exactly one verdict; an answer follows only if there is one.
        assert report.valid + report.invalid + report.unparseable == len(report.steps)
        assert answer is not None or not report.answer_follows
        # The answer is read from the "####" line alone: cut off, it is wrong.
        assert fam.check_answer(p, variant) == (answer is not None and fam.check_answer(
            p, f"#### {answer}"))
        if "####" not in variant:
            assert answer is None and not fam.check_answer(p, variant)


# --- hand-written model text: the verdicts say what went wrong -------------------

def _verdicts(fam, problem, text):
    report = fam.check_steps(problem, text)
    return [(v.verdict, v.grounded) for v in report.steps], report


def test_expressions_verdicts():
    fam = tasks.get("expressions")
    p = Problem("expressions", 0, 0, 2, "Evaluate: 2 + 3 * 4", "14", {"expression": "2 + 3 * 4"})
    # Right arithmetic, wrong order of operations: 2 + 3 is not ready yet.
    got, report = _verdicts(fam, p, "2 + 3 = 5\n5 * 4 = 20\n#### 20")
    assert got == [("valid", False), ("valid", False)]
    assert not fam.check_answer(p, "#### 20")
    assert _verdicts(fam, p, "= 5 * 4\n= 20\n#### 20")[0][0] == ("invalid", False)
    got, report = _verdicts(fam, p, "3 * 4 = 13\n2 + 13 = 15\n#### 15")
    assert got == [("invalid", True), ("valid", True)]  # the error is counted once
    assert report.answer_follows and not fam.check_answer(p, "#### 15")
    got, _ = _verdicts(fam, p, "= 2 + 12\n= 14\nso the answer is fourteen\n#### 14")
    assert got == [("valid", True), ("valid", True), ("unparseable", False)]


def test_linear_equation_verdicts():
    fam = tasks.get("linear_equation")
    p = Problem("linear_equation", 0, 0, 2, "Solve for x: 3x + 7 = 22", "5", {"equation": "3x + 7 = 22"})
    ok = "subtract 7 from both sides: 3x = 15\ndivide both sides by 3: x = 5\n#### 5"
    assert _verdicts(fam, p, ok)[0] == [("valid", True), ("valid", True)]
    assert _verdicts(fam, p, "3x = 22 - 7 = 16\n#### 5")[0] == [("invalid", False)]
    assert _verdicts(fam, p, "x = 5\n#### 5")[0] == [("valid", False)]  # a jump
    assert _verdicts(fam, p, "subtract 7 from both sides: 3x = 29\n#### 5")[0][0][0] == "invalid"
    assert _verdicts(fam, p, "3x + 7 = 22\n7 + 3x = 22\n#### 5")[0] == [("valid", True)] * 2
    assert _verdicts(fam, p, "x^2 = 25\n#### 5")[0] == [("unparseable", False)]  # not linear


def test_word_problem_verdicts():
    fam = tasks.get("word_problem")
    p = fam.generate(SEED, 0, 1)
    node = next(n for n in p.data["nodes"] if n["op"] != "given")
    parent = p.data["nodes"][node["args"][0]]
    item, name = p.data["item"], node["name"]
    right = fam.solve(p, "forward").steps[0].text
    assert _verdicts(fam, p, right)[0] == [("valid", True)]
    wrong_op = f"{name} has {parent['value']} + 1000 = {parent['value'] + 1000} {item}."
    assert _verdicts(fam, p, wrong_op)[0] == [("invalid", False)]  # 1000 is from nowhere
    plan = f"To find {name}'s {item}, we need {parent['name']}'s."
    assert _verdicts(fam, p, plan)[0] == [("valid", True)]
    assert _verdicts(fam, p, f"To find {name}'s {item}, we need Nobody's.")[0] == [("invalid", True)]


def test_logic_verdicts():
    fam = tasks.get("logic")
    p = Problem("logic", 0, 0, 1, "Given p = True, q = False, evaluate: p and q", "False",
                {"formula": "p and q", "facts": {"p": True, "q": False}})
    assert _verdicts(fam, p, "p and q = True")[0] == [("invalid", True)]  # facts, wrong value
    p2 = Problem("logic", 0, 0, 2, "Given p = True, q = False, evaluate: not p or q", "False",
                 {"formula": "not p or q", "facts": {"p": True, "q": False}})
    assert _verdicts(fam, p2, "not p or q = False")[0] == [("valid", False)]  # skipped not p
    assert _verdicts(fam, p2, "not p = False\nnot p or q = False")[0] == [("valid", True)] * 2
    assert _verdicts(fam, p, "q = False\np and q = False")[0] == [("valid", True)] * 2
    assert _verdicts(fam, p, "= True and False\n= False")[0] == [("valid", True)] * 2
    assert _verdicts(fam, p, "= True and True\n= True")[0] == [("invalid", False), ("valid", True)]
    assert _verdicts(fam, p, "q or p = True")[0] == [("invalid", False)]  # not in the formula


def test_counting_verdicts():
    fam = tasks.get("counting")
    p = fam.generate(SEED, 0, 2)
    (k1, n1), (k2, n2) = p.data["counts"].items()
    l1, l2 = p.data["legs"][k1], p.data["legs"][k2]
    wrong_legs = f"{n1} {k1} have {n1} * {l1 + 1} = {n1 * (l1 + 1)} legs."
    assert _verdicts(fam, p, wrong_legs)[0] == [("invalid", False)]
    skipped = (f"After the {k1}: {n1} * {l1} = {n1 * l1} legs.\n"
               f"In total: {n1 * l1} + {n2 * l2} = {n1 * l1 + n2 * l2} legs.")
    assert _verdicts(fam, p, skipped)[0] == [("valid", True), ("valid", False)]


@pytest.mark.parametrize("style", ("balance", "inverse"))
def test_linear_equation_stopping_one_step_early_gets_no_credit(style):
    """The last line must isolate x: "9x = 81" then "#### 9" has the right
    solution set, but the step that finds the answer was never written."""
    fam = tasks.get("linear_equation")
    p = Problem("linear_equation", 0, 0, 2, "Solve for x: 9x + 4 = 85", "9",
                {"equation": "9x + 4 = 85"})
    early = {"balance": "subtract 4 from both sides: 9x = 81\n#### 9",
             "inverse": "9x = 85 - 4 = 81\n#### 9"}[style]
    rep = fam.check_steps(p, early, style)
    assert rep.all_valid and not rep.answer_follows
    for done in ("divide both sides by 9: x = 9", "x = 81 / 9 = 9", "9 = x"):
        assert fam.check_steps(p, early.replace("\n####", f"\n{done}\n####"), style).answer_follows
    for level in fam.train_levels:
        for index in range(4):
            q = fam.generate(SEED, index, level)
            _, text = fam.format_example(q, style)
            lines = text.split("\n")
            assert fam.check_steps(q, text, style).answer_follows
            rep = fam.check_steps(q, "\n".join(lines[:-2] + lines[-1:]), style)
            assert not rep.answer_follows, (q.question, lines[-2])
