"""Rewards from the family checkers: outcome, process (the share of valid
grounded steps of max(written, needed)), the format penalty, and hostile
text, which runs nothing and is scored wrong."""
import os

import pytest

from rtt_jax import tasks
from rtt_jax.rl.rewards import reward_metrics, reward_sums, score

MOD = tasks.get("modular")
STYLE = "running"


def _problem(level=4, index=3):
    return MOD.generate(0, index, level)


def _outcome(p, text):
    return score(MOD, p, STYLE, text, steps_weight=0.0, format_penalty=0.5)


def _process(p, text):
    return score(MOD, p, STYLE, text, steps_weight=1.0, format_penalty=0.5)


def test_the_programs_trace_earns_every_reward():
    p = _problem()
    text = MOD.format_example(p, STYLE)[1]
    r = _process(p, text)
    assert r.correct and r.all_valid and not r.hacked and not r.unparsed
    assert r.steps_valid == r.steps_written == r.steps_expected == 4
    assert r.value == 2.0
    assert _outcome(p, text).value == 1.0


def test_process_reward_pays_each_needed_step_once():
    p = _problem()
    lines = MOD.format_example(p, STYLE)[1].splitlines()
    answer = lines[-1]
    # Two valid steps then the (right) answer: the share is of the 4 needed.
    short = "\n".join(lines[:2] + [answer])
    r = _process(p, short)
    assert r.steps_valid == 2 and r.steps_expected == 4
    assert r.step_share == 0.5 and r.correct and r.hacked  # right answer, steps missing
    assert r.value == 1.5
    # Padding with extra lines cannot raise the share above 1, and lowers it.
    padded = "\n".join(lines[:-1] + ["1+1=2", "3+4=7", answer])
    assert _process(p, padded).step_share < 1.0


def test_wrong_and_unparsed_answers():
    p = _problem()
    lines = MOD.format_example(p, STYLE)[1].splitlines()
    wrong_digit = str((int(p.answer) + 1) % 10)
    wrong = _process(p, "\n".join(lines[:-1] + [f"#### {wrong_digit}"]))
    assert not wrong.correct and not wrong.unparsed and wrong.steps_valid == 4
    assert wrong.value == 1.0  # the steps still count under the process reward
    assert _outcome(p, "\n".join(lines[:-1] + [f"#### {wrong_digit}"])).value == 0.0
    unparsed = _outcome(p, "\n".join(lines[:-1]))  # no answer line
    assert unparsed.unparsed and unparsed.value == -0.5
    assert _outcome(p, "#### ").unparsed


HOSTILE = [
    "__import__('os').system('touch {marker}')\n#### {answer}x",
    "eval(\"open('{marker}', 'w')\")\n#### __import__('os')",
    "exec(compile('open(\"{marker}\",\"w\")', 'x', 'exec'))",
    "9" * 5000 + "**" + "9" * 5000 + "=1\n#### 1e999999999",
    "(" * 10000 + "1" + ")" * 10000 + "\n#### (((((",
    "\x00\udcff\u202e#### {answer}\u200b",
    "x" * 2_000_000 + "\n#### {answer}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_text_runs_nothing_and_is_scored_wrong(template, tmp_path):
    p = _problem()
    marker = tmp_path / "ran"
    text = template.format(marker=marker, answer=p.answer)
    for r in (_outcome(p, text), _process(p, text)):
        assert not r.correct and not marker.exists()
        assert r.value <= 0.5  # no answer reward; at most a stray valid step's share
    assert not os.path.exists(marker)


def test_not_text_is_scored_wrong_and_penalised():
    p = _problem()
    for junk in (None, 42, b"#### 3", ["#### 3"]):
        r = _process(p, junk)
        assert not r.correct and r.unparsed and r.value == -0.5


def test_reward_metrics_over_a_batch():
    p = _problem()
    good = MOD.format_example(p, STYLE)[1]
    rs = [_process(p, good), _process(p, "#### 0"), _process(p, "no answer")]
    m = reward_metrics(reward_sums(rs, [10, 2, 3]))
    assert m["accuracy"] == pytest.approx(sum(r.correct for r in rs) / 3)
    assert m["reward"] == pytest.approx(sum(r.value for r in rs) / 3)
    assert m["response_length"] == 5.0 and m["unparsed"] == pytest.approx(1 / 3)
    written = sum(r.steps_written for r in rs)
    assert m["step_validity"] == pytest.approx(4 / written)
