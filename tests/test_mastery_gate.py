"""Mastery-gated curriculum stages (``until``): a stage ends at the first
evaluation where its metric reaches the threshold, or at ``max_steps``; the
decision is logged, saved in the data state and resumed exactly."""
import json

import numpy as np
import pytest

from rtt_jax.config_validation import ConfigError, validate
from in_process import data_pipeline as make_curriculum_data

METRIC = "eval/addition/L2/answer_accuracy"


def _config(until=None, **data):
    from rtt_jax.configs.base import get_config
    c = get_config("tiny")
    c.data.prefetch = 0
    c.data.update(data)
    c.data.stages[0]["until"] = until or dict(metric=METRIC, at_least=0.9, max_steps=30)
    c.eval.update(every_steps=5, n_per_level=4, levels=[1, 2], trained_levels=[1, 2])
    return c


def _take(data, n):
    return [next(data) for _ in range(n)]


def test_stage_ends_when_the_metric_reaches_the_threshold_and_the_state_says_so():
    data = make_curriculum_data(_config(), 0, 1)
    assert [m["data/stage"] for _, m in _take(data, 5)] == [0.0] * 5
    assert data.observe(5, {METRIC: 0.5, "eval/all/answer_accuracy": 0.99}) is False
    assert [m["data/stage"] for _, m in _take(data, 5)] == [0.0] * 5  # past tiny's 10 steps: gated
    assert data.observe(10, {METRIC: 0.9}) is True  # at_least: reaching it is enough
    assert data.stage == 1
    state = json.loads(json.dumps(data.get_state()))
    assert state["stage"] == 1 and state["step_in_stage"] == 0
    assert state["switches"] == [{"from": 0, "to": 1, "after_steps": 10, "reason": "metric",
                                  "step": 10, "metric": METRIC, "value": 0.9, "at_least": 0.9}]
    after = _take(data, 4)
    assert [m["data/stage"] for _, m in after] == [1.0] * 4
    assert data.observe(14, {METRIC: 1.0}) is False  # stage 1 has no gate
    resumed = make_curriculum_data(_config(), 0, 1)
    resumed.set_state(state)
    assert resumed.switches == state["switches"]
    for (a, _), (b, _) in zip(after, _take(resumed, 4)):
        np.testing.assert_array_equal(a["tokens"], b["tokens"])


def test_a_gated_stage_ends_at_max_steps_when_the_metric_never_gets_there():
    data = make_curriculum_data(_config(dict(metric=METRIC, at_least=0.9, max_steps=7)), 0, 1)
    stages = []
    for t in range(1, 10):
        stages.append(next(data)[1]["data/stage"])
        data.observe(t, {METRIC: 0.1})
    assert stages == [0.0] * 7 + [1.0] * 2
    assert data.switches[0]["reason"] == "steps" and data.switches[0]["after_steps"] == 7


def test_the_issue_spelling_of_a_set_name_works_and_a_missing_metric_is_one_line():
    data = make_curriculum_data(_config(dict(metric="eval/addition_L2/answer_accuracy",
                                             at_least=0.5)), 0, 1)
    next(data)
    assert data.observe(1, {METRIC: 0.6}) is True
    data = make_curriculum_data(_config(dict(metric="eval/addition/L9/answer_accuracy",
                                             at_least=0.5)), 0, 1)
    with pytest.raises(ConfigError, match=r"config.data.stages\[0\].until.metric="
                                          r"'eval/addition/L9/answer_accuracy': the evaluation "
                                          r"has no such metric; it has eval/addition/L2/"):
        data.observe(1, {METRIC: 0.6, "eval/addition/L2/step_validity": 1.0})


@pytest.mark.parametrize("until,where,expected", [
    (dict(metric="accuracy", at_least=0.9), "until.metric", "expected an eval metric name"),
    (dict(metric=METRIC, at_least="high"), "until.at_least", "expected a number"),
    (dict(metric=METRIC, at_least=0.9, max_steps=0), "until.max_steps", "positive number"),
    (dict(metric=METRIC, at_least=0.9, patience=3), "until has unknown fields", "['patience']"),
])
def test_bad_gate_is_one_config_line(until, where, expected):
    with pytest.raises(ConfigError, match=r"config.data.stages\[0\]") as e:
        validate(_config(until))
    assert where in str(e.value) and expected in str(e.value) and "\n" not in str(e.value)


def test_a_gate_needs_evaluation_and_an_earlier_stage_than_the_last():
    c = _config()
    c.eval.every_steps = 0
    with pytest.raises(ConfigError, match=r"config.eval.every_steps=0: expected > 0: "
                                          r"data.stages\[0\] ends on an eval metric"):
        validate(c)
    c = _config()
    c.data.stages[1]["until"] = dict(metric=METRIC, at_least=0.9)
    with pytest.raises(ConfigError, match=r"config.data.stages\[1\].until=.*before the last"):
        validate(c)
    c = _config()
    del c.data.stages[0]["steps"]  # max_steps alone sets the stage's length
    validate(c)
    assert make_curriculum_data(c, 0, 1).curriculum.stages[0].steps == 30
