"""GSM8K loader, answer parsing and the step checker for GSM8K-style text."""
from __future__ import annotations

import json
import pathlib
from fractions import Fraction

import pytest

from cli_fork import run_module
from rtt_jax.tasks import answers, gsm8k, gsm8k_steps
from rtt_jax.tasks.base import Problem

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "gsm8k_test_head50.jsonl"
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report():
    return gsm8k.load(str(FIXTURE))


def _problem(question: str, answer: str) -> Problem:
    return Problem("gsm8k", 0, 0, 0, question, answer, {})


# --- loading ---------------------------------------------------------------

def test_fixture_counts(report):
    s = report.summary()
    assert s["problems"] == 50 and s["unparsed"] == 0
    # Every calculator annotation in these 50 solutions is arithmetically right.
    assert s["annotations"] == 157 and s["annotations_valid"] == 157
    assert s["annotations_grounded"] >= 150


def test_first_problem_fields(report):
    p = report.problems[0]
    assert p.question.startswith("Janet")
    assert p.answer == "18" and p.index == 0 and p.data["line"] == 1
    assert p.level == 2  # two annotations
    assert p.data["steps"] == [{"expression": "16-3-4", "claimed": "9"},
                               {"expression": "9*2", "claimed": "18"}]
    assert p.data["split"] == "gsm8k_test_head50"


def test_reference_solutions_verify(report):
    family = gsm8k.FAMILY
    verified = 0
    for p in report.problems:
        for style in family.styles:
            _, completion = family.format_example(p, style)
            assert family.check_answer(p, completion)
            rep = family.check_steps(p, completion)
            verified += rep.all_valid and rep.answer_follows
    # Human solutions sometimes use numbers the question never states, or end
    # on an answer no line computed; those fail the strict check.
    assert verified >= 0.75 * 2 * len(report.problems)  # measured: 79 of 100


def test_plain_style_strips_annotations(report):
    _, completion = gsm8k.FAMILY.format_example(report.problems[0], "plain")
    assert "<<" not in completion
    assert completion.splitlines()[0] == "Janet sells 16 - 3 - 4 = 9 duck eggs a day."
    assert completion.endswith("#### 18")


def test_bad_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = FIXTURE.read_text().splitlines()[:3]
    lines.insert(1, '{"question": "broken", ')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(gsm8k.GSM8KFormatError, match=rf"{path}:2: not valid JSON"):
        gsm8k.load(str(path))
    rep = gsm8k.load(str(path), on_error="skip")
    assert len(rep.problems) == 3 and rep.unparsed == 1
    assert [p.data["line"] for p in rep.problems] == [1, 3, 4]


@pytest.mark.parametrize("line, message", [
    ('["a list"]', "expected a JSON object"),
    ('{"question": "q"}', "field 'answer'"),
    ('{"question": "q", "answer": "no marker here"}', "no '#### <number>'"),
    ('{"question": "q", "answer": "x\\n#### seventy"}', "no '#### <number>'"),
])
def test_bad_records(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(gsm8k.GSM8KFormatError, match=message):
        gsm8k.load(str(path))


@pytest.mark.slow
def test_cli_last_line_is_json():
    proc = run_module("rtt_jax.tasks.gsm8k", [str(FIXTURE)], cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    summary = json.loads(out.strip().splitlines()[-1])
    assert {"problems", "annotations", "annotations_valid", "unparsed"} <= set(summary)
    assert summary["problems"] == 50


# GSM8K train.jsonl lines 395 and 4170, copied (MIT, OpenAI): the only two
# annotations of the 23,716 in train that use floor division, <<560//10=56>>.
FLOOR_DIVISION_RECORDS = [
    {
        "question": (
            "Chad sandwiches 2 crackers with a scoop of peanut butter.  He has 5 of these "
            "crackers a night before bed.  A box of crackers has 4 sleeves with each sleeve "
            "holding 28 crackers.  How many nights will 5 boxes of crackers last him?"
        ),
        "answer": (
            "Chad uses 2 crackers for each \"sandwich\" and has 5 sandwiches a night so he eats"
            " 2*5 = <<2*5=10>>10 crackers a night\n"
            "The box has 4 sleeves of crackers and each sleeve has 28 crackers for a total of"
            " 4*28 = <<4*28=112>>112 crackers\n"
            "1 box has 112 crackers so 5 boxes will have 112*5 = <<112*5=560>>560 crackers\n"
            "He eats 10 crackers a night and 5 boxes have 560 crackers so they will last him "
            "560//10 = <<560//10=56>>56 nights\n"
            "#### 56"
        ),
    },
    {
        "question": (
            "An apple tree has three times as many apples as the number of plums on a plum "
            "tree. If Damien picks 3/5 of the fruits from the trees, calculate the total "
            "number of plums and apples remaining on the tree if there were 180 apples on the"
            " apple tree before Damien picked any of the fruits."
        ),
        "answer": (
            "Initially, the were 180//3= <<180//3=60>>60 plums on the plum tree.\n"
            "When Damien picked 3/5 of the apples from the apple tree, he picked 3/5*180 = "
            "<<3/5*180=108>>108 apples\n"
            "The number of apples remaining on the apple tree is 180-108= <<180-108=72>>72\n"
            "The number of plums that Damien picked from the plum tree is 3/5*60 = "
            "<<3/5*60=36>>36\n"
            "The number of plums remaining on the plum tree is 60-36 = <<60-36=24>>24\n"
            "The total number of fruits remaining on the trees is 72 apples+24 plums = "
            "<<72+24=96>>96\n"
            "#### 96"
        ),
    },
]


def test_floor_division_annotations_verify(tmp_path):
    path = tmp_path / "floor_division.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in FLOOR_DIVISION_RECORDS))
    s = gsm8k.load(str(path)).summary()
    assert s["problems"] == 2 and s["annotations"] == 10
    assert s["annotations_valid"] == 10


@pytest.mark.parametrize("line, verdict", [
    ("so they will last him 560//10 = <<560//10=56>>56 nights", "valid"),
    ("so they will last him 560//10 = <<560//10=57>>57 nights", "invalid"),
    ("there were 180//3= <<180//3=60>>60 plums", "valid"),
    ("left over: 181 % 3 = <<181%3=1>>1 plum", "valid"),
    ("left over: 181 % 3 = <<181%3=2>>2 plums", "invalid"),
])
def test_floor_division_and_remainder_claims(line, verdict):
    verdicts, _ = gsm8k_steps.judge_claims(
        "560 crackers, 10 a night; 180 apples, 181 plums, 3 trees", gsm8k_steps.claims_in_line(line))
    assert [v.verdict for v in verdicts] == [verdict]


# --- answers ---------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("72", 72), ("1,080", 1080), ("-3", -3), ("2.5", Fraction(5, 2)), ("$1,234.50", Fraction(246900, 200)),
    ("18 dollars", 18), ("72.", 72), (" 0.75 ", Fraction(3, 4)), ("-$5", -5),
])
def test_parse_answer(text, value):
    assert answers.parse_answer(text) == value


@pytest.mark.parametrize("text", [None, "", "seventy", "1,23", "abc 5", "٣"])
def test_parse_answer_rejects(text):
    assert answers.parse_answer(text) is None


def test_check_answer_compares_values():
    p = _problem("q", "1080")
    assert gsm8k.FAMILY.check_answer(p, "so\n#### 1,080")
    assert gsm8k.FAMILY.check_answer(p, "#### 1080.0")
    assert not gsm8k.FAMILY.check_answer(p, "#### 1081")
    assert not gsm8k.FAMILY.check_answer(p, "the answer is 1080")  # no marker
    # The last marker counts.
    assert not gsm8k.FAMILY.check_answer(p, "#### 1080\n#### 7")


# --- steps in model text --------------------------------------------------

Q = "Tom has 16 eggs. He eats 3 and gives away 4. He sells the rest for $2 each."


def test_surface_equations_are_checked():
    family = gsm8k.FAMILY
    p = _problem(Q, "18")
    good = "He has 16 - 3 - 4 = 9 eggs left.\nHe makes 9 * 2 = $18.\n#### 18"
    rep = family.check_steps(p, good)
    assert rep.all_valid and rep.answer_follows and len(rep.steps) == 2
    wrong = "He has 16 - 3 - 4 = 8 eggs left.\nHe makes 8 * 2 = $16.\n#### 16"
    rep = family.check_steps(p, wrong)
    assert rep.steps[0].verdict == "invalid" and rep.steps[1].verdict == "valid"
    assert not rep.all_valid


def test_ungrounded_number_is_flagged():
    p = _problem(Q, "18")
    rep = gsm8k.FAMILY.check_steps(p, "He makes 9 * 2 = 18.\n#### 18")  # 9 never derived
    assert rep.steps[0].verdict == "valid" and not rep.steps[0].grounded
    assert not rep.all_valid


def test_annotation_must_match_written_number():
    p = _problem(Q, "18")
    text = "16-3-4=<<16-3-4=9>>9 left\n9*2=<<9*2=18>>81 dollars\n#### 18"
    rep = gsm8k.FAMILY.check_steps(p, text)
    assert [s.verdict for s in rep.steps] == ["valid", "invalid"]


def test_answer_must_follow_from_steps():
    p = _problem(Q, "18")
    rep = gsm8k.FAMILY.check_steps(p, "He has 16 - 3 - 4 = 9 eggs.\n#### 18")
    assert rep.all_valid and not rep.answer_follows


@pytest.mark.parametrize("line, n_claims", [
    ("x = 5 apples", 0),                       # no operator: not a calculation
    ("4x + 12 = 56", 0),                       # algebra
    ("B - 35 = 16 books", 0),                  # starts at a variable
    ("So 100/5 = 5A/5", 0),                    # right side is algebra
    ("She pays 3 x 4 = $12 in total", 1),      # spaced x is times
    ("The share is 1/2 * 1/2 = 1/4 of it", 1), # fraction result
    ("It needs 2 + 1 1/2 = 3 1/2 feet", 1),    # mixed number result
    ("After 3 days, 4+5=9 remain", 1),         # sentence break before the expression
])
def test_surface_claim_extraction(line, n_claims):
    assert len(gsm8k_steps.claims_in_line(line)) == n_claims


def test_mixed_number_and_fraction_results_are_valid():
    p = _problem("A present needs 2 feet and another 1 1/2 feet; a third of 1/2 of 1/2.", "3.5")
    rep = gsm8k.FAMILY.check_steps(p, "It needs 2 + 1 1/2 = 3 1/2 feet\n#### 3.5")
    assert rep.steps[0].verdict == "valid"
    rep = gsm8k.FAMILY.check_steps(p, "It needs 2 + 1 1/2 = 3 1/4 feet\n#### 3.25")
    assert rep.steps[0].verdict == "invalid"


def test_rounded_claims_follow_shown_precision():
    p = _problem("Split 10 among 3.", "3.33")
    assert gsm8k.FAMILY.check_steps(p, "10/3 = 3.33\n#### 3.33").steps[0].verdict == "valid"
    assert gsm8k.FAMILY.check_steps(p, "10/3 = 3.34\n#### 3.34").steps[0].verdict == "invalid"


HOSTILE = [
    "", "####", "#### " + "9" * 5000, "(" * 5000 + "1" + ")" * 5000 + " = 1\n#### 1",
    "10**10**10 = 5\n#### 5", "<<" * 3000 + "1+1=2" + ">>" * 3000, "=" * 20000,
    "1 " + "+ 1 " * 3000 + "= 3001\n#### 3001", "\x00\x01 = 2\n#### 2", "٣ + ٤ = ٧\n#### ٧",
    "__import__('os').system('true') = 0\n#### 0", "a" * 30000,
    "2/0 = 1\n#### 1", "<<2/0=1>>1\n#### 1", "$$$ = $$$", "1e9999 = 1\n#### 1e9999",
    "\n".join(["1+1=2"] * 5000),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_scored_wrong_and_never_crashes(text):
    p = _problem(Q, "18")
    assert gsm8k.FAMILY.check_answer(p, text) is False
    rep = gsm8k.FAMILY.check_steps(p, text)
    assert not (rep.all_valid and rep.answer_follows)


def test_non_string_input():
    p = _problem(Q, "18")
    assert gsm8k.FAMILY.check_answer(p, None) is False  # type: ignore[arg-type]
    assert not gsm8k.FAMILY.check_steps(p, b"bytes").all_valid  # type: ignore[arg-type]


def test_generate_needs_a_file(report):
    with pytest.raises(ValueError, match="path"):
        gsm8k.FAMILY.generate(0, 0, 0)
    family = gsm8k.GSM8KFamily(str(FIXTURE))
    assert family.generate(0, 3).question == report.problems[3].question
