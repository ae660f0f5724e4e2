"""config.rl checked into one-line errors; the runner plans an RL arm (its
entry module, --init_from from the arm it needs) and holds arms to equal
planned FLOPs."""
import os

import pytest

from rtt_jax.config_error import ConfigError
from rtt_jax.configs.base import get_config
from rtt_jax.experiments import Arm, Experiment, ExperimentError, definition, plan
from rtt_jax.rl import accounting
from rtt_jax.rl.spec import check_mesh, rl_spec


def _config(**rl):
    c = get_config("tiny")
    c.train.init_from = "/sft"
    c.rl.update(**rl)
    return c


def test_the_base_rl_section_is_valid():
    r = rl_spec(_config())
    assert r.rows == 64 and r.seq_len == 64 and r.steps_weight == 0.0
    assert rl_spec(_config(reward="process")).steps_weight == 1.0
    assert rl_spec(_config(reward="mix", steps_weight=0.25)).steps_weight == 0.25


@pytest.mark.parametrize("field,value,expected", [
    ("group_size", 1, "config.rl.group_size=1: expected an integer >= 2"),
    ("temperature", 0.0, "config.rl.temperature=0.0: expected > 0"),
    ("reward", "vibes", "config.rl.reward='vibes': expected one of"),
    ("minibatches", 3, "config.rl.minibatches=3: expected a divisor of"),
    ("max_new_tokens", 64, "config.rl.seq_len=64: expected > rl.max_new_tokens=64"),
    ("seq_len", -1, "config.rl.seq_len=-1: expected an integer >= 0"),
    ("clip_eps", 1.5, "config.rl.clip_eps=1.5: expected in (0, 1)"),
    ("length_norm", "row", "config.rl.length_norm='row': expected one of"),
])
def test_bad_fields_are_one_line(field, value, expected):
    with pytest.raises(ConfigError) as e:
        rl_spec(_config(**{field: value}))
    assert str(e.value).startswith(expected) and "\n" not in str(e.value)


def test_what_rl_needs_of_the_rest_of_the_config():
    c = _config()
    c.train.init_from = ""
    with pytest.raises(ConfigError, match=r"config.train.init_from='': expected the workdir"):
        rl_spec(c)
    c = _config()
    c.data.sources.addition.kind = "textbook"
    with pytest.raises(ConfigError, match=r"config.data.sources.addition.kind='textbook'"):
        rl_spec(c)
    c = _config()
    c.data.stages[0]["until"] = dict(metric="eval/x", at_least=0.5)
    with pytest.raises(ConfigError, match=r"config.data.stages\[0\].until"):
        rl_spec(c)
    with pytest.raises(ConfigError, match="divisible by the mesh's 8 batch shards"):
        check_mesh(rl_spec(_config(prompts_per_step=3, group_size=2)), 8, 1)


def _experiment():
    return Experiment(
        name="x", claim="c", budget="flops", baseline="more", seeds={"cpu": (0, 1)},
        arms=(Arm("sft", {}, in_budget=False),
              Arm("more", {}, needs=("sft",), run_sets={"train.init_from": "{runs}/sft/seed_{seed}"}),
              Arm("grpo", {}, needs=("sft",), module="rtt_jax.rl",
                  args={"init_from": "{runs}/sft/seed_{seed}"})))


def test_the_runner_plans_an_rl_arm_after_the_arm_it_starts_from(tmp_path):
    runs = plan.plan(str(tmp_path / "x.py"), _experiment(), "cpu", str(tmp_path / "out"),
                     seeds=[1], arms=["grpo"])
    assert [r.key for r in runs] == ["sft/seed_1", "grpo/seed_1"]
    sft, grpo = runs
    assert grpo.argv[:2] == ("-m", "rtt_jax.rl") and sft.argv[:2] == ("-m", "rtt_jax.main")
    assert f"--init_from={sft.workdir}" in grpo.argv and "--mode=train_eval" in grpo.argv
    assert grpo.needs == ("sft/seed_1",)
    from rtt_jax.experiments.execute import tpu_commands
    with pytest.raises(ExperimentError, match="runs rtt_jax.rl"):
        tpu_commands(runs)


def test_a_flops_budget_holds_rl_and_training_arms_to_the_same_compute():
    def cfg(steps):
        c = get_config("tiny")
        c.train.steps = steps
        return c
    rl_flops = accounting.rl_run_flops(cfg(1))
    per_step = accounting.train_run_flops(cfg(1))
    equal = round(rl_flops / per_step)
    b = definition.check_budget(_experiment(), {"sft": cfg(5), "more": cfg(equal), "grpo": cfg(1)})
    assert b["flops_per_run"]["grpo"] == rl_flops and b["steps"]["grpo"] == 100
    with pytest.raises(ExperimentError, match="plan different FLOPs"):
        definition.check_budget(_experiment(), {"sft": cfg(5), "more": cfg(equal * 2), "grpo": cfg(1)})


def test_planned_flops_count_sampling_the_reference_and_the_update():
    c = get_config("tiny")
    model = __import__("rtt_jax.config_validation", fromlist=["model_config"]).model_config(c)
    one = accounting.iteration_flops(model, rows=8, seq_len=64)
    fwd = accounting.forward_flops_per_token(model, 64)
    from rtt_jax.model import train_flops_per_token
    assert one == pytest.approx(8 * 65 * accounting.forward_flops_per_token(model, 65)
                                + 8 * 64 * (train_flops_per_token(model, 64) + fwd))
    assert accounting.iteration_flops(model, 8, 64, minibatches=2) == pytest.approx(
        one + 8 * 64 * fwd)  # the old policy's forward pass, when off-policy


def test_an_rl_run_on_a_held_workdir_stops_before_any_work(tmp_path):
    from rtt_jax.config_validation import validate
    from rtt_jax.rl.loop import train_rl
    from rtt_jax.train import workdir_lock
    c = _config()
    with workdir_lock.hold(str(tmp_path)):
        with pytest.raises(workdir_lock.WorkdirLockedError):
            train_rl(validate(c), rl_spec(c), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["run.lock"]  # nothing else touched
