"""W/config.json (rtt_jax.workdir_config): written at a run's start, read by
every reader of the workdir; a --config given as well wins, but not over the
model or tokenizer the checkpoint was trained with."""
from __future__ import annotations

import json

import pytest

from rtt_jax import workdir_config
from rtt_jax.config_error import ConfigError
from rtt_jax.config_validation import validate


@pytest.fixture
def config():
    from rtt_jax.configs.experiments import lee2023  # callables and tuples resolved
    return lee2023.get_config("cpu/reversed_10k")


def test_the_saved_config_round_trips(config, tmp_path):
    path = workdir_config.save(config, str(tmp_path))
    assert path == str(tmp_path / "config.json")
    loaded = workdir_config.load(str(tmp_path))
    assert workdir_config.differences(config, loaded) == []
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads(
        workdir_config.to_json(config))
    a, b = validate(config), validate(loaded)  # tuples came back as lists: the same spec
    assert (a.model, a.data, a.eval) == (b.model, b.data, b.eval)
    assert a.tokenizer.vocab_size == b.tokenizer.vocab_size
    assert workdir_config.load(str(tmp_path / "none")) is None


def test_differences_name_each_field(tiny_config):
    new = tiny_config.copy_and_resolve_references()
    new.train.steps, new.model.d_model, new.eval.families = 7, 128, ("addition", "gcd_lcm")
    diffs = workdir_config.differences(tiny_config, new)
    assert [d[0] for d in diffs] == ["eval.families", "model.d_model", "train.steps"]
    assert workdir_config.bound(diffs) == [("model.d_model", 64, 128)]
    assert workdir_config.describe(diffs[1:]) == "model.d_model: 64 -> 128, train.steps: 40 -> 7"


def test_resolve_reads_the_workdir_and_a_given_config_wins(tiny_config, tmp_path):
    wd = str(tmp_path)
    with pytest.raises(ConfigError, match=r"--config is required: .*config.json does not exist"):
        workdir_config.resolve(None, wd)
    with pytest.raises(ConfigError, match="--config is required: no --workdir given"):
        workdir_config.resolve(None, None)
    workdir_config.save(tiny_config, wd)
    saved = workdir_config.resolve(None, wd)
    assert workdir_config.differences(saved, tiny_config) == [] and saved.is_locked
    other = tiny_config.copy_and_resolve_references()
    other.eval.n_per_level = 3  # an eval setting: the given config wins
    assert workdir_config.resolve(other, wd) is other
    other.data.tokenizer = "some/dir"
    other.model.n_layers = 3
    with pytest.raises(ConfigError) as e:
        workdir_config.resolve(other, wd)
    line = str(e.value)
    assert "\n" not in line and line.startswith("--config differs from ")
    assert "data.tokenizer: 'bytes' -> 'some/dir', model.n_layers: 2 -> 3" in line
    assert workdir_config.resolve(other, wd, check_bound=False) is other


def test_record_start_writes_and_logs_a_resume_in_one_line(tiny_config, tmp_path):
    wd, logged = str(tmp_path), []
    assert workdir_config.record_start(tiny_config, wd, writer=True, resuming=False,
                                       log=logged.append) == []
    assert logged == [] and workdir_config.differences(workdir_config.load(wd), tiny_config) == []
    more = tiny_config.copy_and_resolve_references()
    more.train.steps, more.train.learning_rate = 80, 0.005
    workdir_config.record_start(more, wd, writer=False, resuming=True, log=logged.append)
    assert logged == [f"config differs from the saved {tmp_path}/config.json in 2 fields: "
                      "train.learning_rate: 0.01 -> 0.005, train.steps: 40 -> 80"]
    assert workdir_config.load(wd).train.steps == 40  # only the writer writes
    workdir_config.record_start(more, wd, writer=True, resuming=True, log=logged.append)
    assert workdir_config.load(wd).train.steps == 80  # the config of the latest start
    wider = more.copy_and_resolve_references()
    wider.model.d_model = 128
    with pytest.raises(ConfigError, match=r"trained with another model or tokenizer: "
                                          r"model.d_model: 64 -> 128"):
        workdir_config.record_start(wider, wd, writer=True, resuming=True, log=logged.append)
    assert workdir_config.load(wd).model.d_model == 64  # the workdir still says the truth
    # With no checkpoint to resume (a run that failed before its first save) it is a line.
    workdir_config.record_start(wider, wd, writer=True, resuming=False, log=logged.append)
    assert "model.d_model: 64 -> 128" in logged[-1]


def test_a_config_json_cannot_hold_is_one_line(tiny_config, tmp_path):
    bad = tiny_config.copy_and_resolve_references()
    bad.unlock()
    bad.extra = object()
    with pytest.raises(ConfigError, match="a field holds a value JSON cannot write"):
        workdir_config.save(bad, str(tmp_path))
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="config.json: expected a JSON object"):
        workdir_config.load(str(tmp_path))
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError, match="config.json: not JSON"):
        workdir_config.load(str(tmp_path))
