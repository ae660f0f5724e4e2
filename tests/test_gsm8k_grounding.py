"""GSM8K's step checker on hand-picked lines: wrong arithmetic is rejected,
numbers the prose derives are grounded, numbers from nowhere are not; and the
trace filter keeps the two apart (``filters.require_grounded_steps``)."""
from __future__ import annotations

import json
import pathlib
from fractions import Fraction

import pytest

from rtt_jax.tasks import gsm8k
from rtt_jax.tasks import gsm8k_prose as prose
from rtt_jax.tasks.gsm8k_grounding import ProseFacts
from rtt_jax.tasks.base import Problem
from rtt_jax.traces.card import render_markdown
from rtt_jax.traces.filters import FilterConfig, TraceFilter
from rtt_jax.traces.record import TraceRecord

PICKED = pathlib.Path(__file__).parent / "fixtures" / "gsm8k_train_picked.jsonl"


def _problem(question: str, answer: str = "0", solution: str = "") -> Problem:
    return Problem("gsm8k", 0, 0, 0, question, answer, {"solution": solution})


def _steps(question: str, text: str) -> list[tuple[str, bool]]:
    report = gsm8k.FAMILY.check_steps(_problem(question), text + "\n#### 0")
    return [(v.verdict, v.grounded) for v in report.steps]


# --- real GSM8K train solutions --------------------------------------------

def _picked():
    with open(PICKED) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("record", _picked(), ids=lambda r: f"line{r['train_line']}")
def test_picked_train_solutions(record):
    """Solutions whose numbers the prose derives verify; real slips
    (``192*100=$1920``, ``6/3=.5``, ``$4200+$3000 = $8600``, ``14*20=140``)
    are still wrong arithmetic."""
    p = gsm8k.problem_from_json(record, "picked", record["train_line"] - 1, "train")
    _, text = gsm8k.FAMILY.format_example(p, "calc")
    report = gsm8k.FAMILY.check_steps(p, text)
    if record["expect"] == "verifies":
        assert report.all_valid and report.answer_follows, [
            (v.verdict, v.grounded, v.reason) for v in report.steps]
    else:
        assert report.wrong >= 1, [(v.verdict, v.reason) for v in report.steps]


# --- hand-picked lines ---------------------------------------------------------

Q = "Tom has 16 eggs. He eats 3 and gives away 4. He sells the rest for $2 each."


@pytest.mark.parametrize("question, line, expected", [
    # Wrong arithmetic stays wrong, whatever the grounding.
    (Q, "So it cost 16*100=$1600 and then 192*100=$1920", [("valid", True), ("invalid", False)]),
    ("She runs 6 miles in 3 hours.", "Thus, she should run for 6/3=.5 hour", [("invalid", True)]),
    ("He has 20 eggs and sells 40% of them.", "20 * 40% = 800", [("invalid", True)]),
    # A number used in a calculation that appears nowhere before.
    (Q, "He makes 9 * 2 = 18.", [("valid", False)]),
    # Numbers the prose derives.
    ("The three ships carried 847 people; the second carried twice the first and the third "
     "four times the first.", "S + 2S + 4S = 7S = 847, so S = 847 / 7 = <<847/7=121>>121",
     [("valid", True)] * 4),  # a rewrite, a solved equation, a consistent one, the division
    ("A pen and a pencil cost $6. The pen costs twice as much.",
     "2x + x = 3x, so x = $6 / 3 = $2", [("valid", True), ("valid", True), ("valid", True)]),
    ("A sofa costs $1,250, two chairs $425 each; the bill is $2,430.",
     "The chairs cost $425 x 2 = $<<425*2=850>>850.\n"
     "$2,430 – ($1,250 + $850) = $2,430 – $2,100 = $330",
     [("valid", True), ("valid", True), ("valid", True)]),
    ("A tree is 150 feet; another is 2/3 of it.", "Middle Tree:150(2/3)=300/3=100 feet",
     [("valid", True), ("valid", True)]),
    ("Of 5 oysters, 40% are small.", "100 - 40 = 60, and 5 x .6 = 3",
     [("valid", True), ("valid", True)]),
    ("Jeff runs 60 minutes a day from Monday to Wednesday.", "60 x 3 = <<60*3=180>>180",
     [("valid", True)]),
    ("Ben and his 3 friends share 212 sweets.", "212/4 = 53", [("valid", True)]),
    # Written forms the checker reads as humans mean them.
    ("Each of 12 people drinks 1 and 1/4 cups.", "12 x 1 and 1/4 = 15", [("valid", True)]),
    ("He uses 600 watts for 30 days.", "600 x 30 = 18 000 watts", [("valid", True)]),
    ("6 kids like peas, 9 carrots, 5 corn.", "5 kids / 20 kids * 100% = 25%", [("valid", False)]),
    ("6 kids like peas, 9 carrots, 5 corn.", "6 + 9 + 5 = 20\n5 kids / 20 kids * 100% = 25%",
     [("valid", True), ("valid", True)]),
    ("Paige has 100 stickers for 3 friends.", "100 stickers / 3 friends = 33 each, with 1 remaining",
     [("valid", True)]),
    ("Quarters and 8 nickels.", "8 times .05 equals .4", [("valid", True)]),
    ("He has $1 and spends half.", "$1 / 2 = 50 cents", [("valid", True)]),
    ("He has 600 cards.", "He and 3 siblings share: 600/(3+1=4) = 150",
     [("valid", True), ("valid", True)]),
    # "e = ..." is algebra solved for e, then two calculations.
    ("9 times 10 minus 7.", "e = 9 * 10 - 7 = 90 - 7 = 83",
     [("valid", True), ("valid", True), ("valid", True)]),
    # Not calculations: nothing to judge.
    ("He leaves at 7:50.", "He arrives at 7:50 + 30 minutes = 8:20", []),
    ("4/7 of the money is $24.", "Since 4/7 is equal to $24, each seventh is $6.", []),
    ("Solve it.", "4x + 12 = 56 and B - 35 = 16", []),
])
def test_hand_picked_lines(question, line, expected):
    assert _steps(question, line) == expected


def test_grounding_needs_the_derivation_before_it():
    q = "Three ships carried 847 people; the second twice the first, the third four times it."
    assert _steps(q, "S = 847 / 7 = <<847/7=121>>121") == [("valid", False)]  # 7 from nowhere
    assert _steps(q, "So 7S = 847\nS = 847 / 7 = <<847/7=121>>121") == [("valid", False)]
    # Collected in prose, the 7 is derived: S + 2S + 4S is 7S.
    assert _steps(q, "S + 2S + 4S = 7S\n7S = 847\nS = 847 / 7 = <<847/7=121>>121") == [
        ("valid", True)] * 4


def test_numbers_the_prose_states_are_grounded_after_the_statement():
    q = "Sarah is 9. The game adds the letters of her name and twice her age."
    assert _steps(q, "5 + 18 = 23") == [("valid", False)]
    assert _steps(q, "2 * 9 = 18\nSarah's name has 5 letters.\n5 + 18 = 23") == [
        ("valid", True), ("valid", True)]
    facts = ProseFacts({Fraction(9)})
    facts.state([Fraction(5)])
    assert facts.grounded(5) and facts.by_statement_only(5) and not facts.by_statement_only(9)


def test_chains_and_forms():
    (chain,) = prose.chains("S + 2S + 4S = 7S = 847")
    assert [p.text for p in chain] == ["S + 2S + 4S", "7S", "847"]
    assert [p.form() for p in chain] == [(7, 0), (7, 0), (0, 847)]
    (chain,) = prose.chains("5 snakes/jaguar * 6 jaguars = 30 snakes")
    assert [p.text for p in chain] == ["5 * 6", "30"]
    (chain,) = prose.chains("x * x = 25")
    assert chain[0].form() is None  # not linear: nothing derived from it
    assert prose.statements("There are 3 grades, so 3 grades x 6 = 18").before == (3,)


def test_gsm8k_prose_never_executes_text(tmp_path):
    sentinel = tmp_path / "pwned"
    line = f"__import__('os').system('touch {sentinel}') = 0 and x = eval('1') = 1"
    ProseFacts(set()).absorb(line)
    assert gsm8k.FAMILY.check_steps(_problem(Q), line + "\n#### 0").steps == ()
    assert not sentinel.exists()


# --- the filter keeps wrong arithmetic and ungrounded numbers apart -------------

def _record(question: str, text: str, answer: str) -> TraceRecord:
    return TraceRecord(problem=_problem(question, answer, text.rsplit("\n####", 1)[0]),
                       style="calc", text=text, answer=answer, source="human", teacher="gsm8k")


def test_filter_grounding_switch_and_card():
    ungrounded = _record(Q, "He makes 9 * 2 = 18.\n#### 18", "18")
    wrong = _record(Q, "He has 16 - 3 - 4 = 8 eggs.\nHe makes 8 * 2 = 16.\n#### 16", "16")
    wrong = wrong.replace(problem=_problem(Q, "16"))
    good = _record(Q, "He has 16 - 3 - 4 = 9 eggs.\nHe makes 9 * 2 = 18.\n#### 18", "18")
    for grounded, kept_ungrounded in ((True, False), (False, True)):
        filt = TraceFilter(FilterConfig(require_grounded_steps=grounded))
        kept = list(filt([ungrounded, wrong, good]))
        assert {r.text for r in kept} == {good.text} | ({ungrounded.text} if kept_ungrounded else set())
        dropped = dict(filt.report.dropped)
        assert dropped.get("steps_invalid:wrong_arithmetic") == 1
        assert dropped.get("steps_invalid:ungrounded", 0) == (0 if kept_ungrounded else 1)
        # Every finding is counted, kept records included.
        assert filt.report.step_problems["gsm8k"]["ungrounded"] == 1
        card = {"name": "t", "schema": "s", "created_by": "c", "records": len(kept), "problems": 3,
                "timing": {"seconds": 1.0, "problems_per_sec": 3.0}, "counts": {},
                "filter_report": filt.report.to_json(), "noise": {},
                "diversity": {"style_entropy_bits": 0, "mean_styles_per_problem": 1,
                              "by_family": {}},
                "config": {"filters": {"require_grounded_steps": grounded}}}
        md = render_markdown(card)
        assert "## Step checks" in md and "steps_invalid:wrong_arithmetic" in md
        assert ("are kept" in md) == (not grounded)
