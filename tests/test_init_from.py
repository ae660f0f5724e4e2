"""train.init_from: a fresh run starts from another run's newest verified
params (a fresh optimizer, step 0); a run with its own checkpoint resumes
that; a source without a checkpoint is one line."""
import copy

import jax
import numpy as np
import pytest

from in_process import train_config
from rtt_jax.config_validation import validate
from rtt_jax.train.checkpoint import CheckpointError, final_params
from rtt_jax.train.init_from import restore_params
from rtt_jax.train.optimizer import make_optimizer
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import state_layout


def _config(tiny_config, steps):
    c = copy.deepcopy(tiny_config)
    c.model.update(d_model=32, n_layers=1, n_heads=2, n_kv_heads=1)
    c.train.update(steps=steps, warmup_steps=0)
    c.checkpoint.every_steps = steps
    return c


def test_a_fresh_run_starts_from_the_source_params(tiny_config, tmp_path):
    source = tmp_path / "source"
    train_config(_config(tiny_config, 2), source)
    spec = validate(_config(tiny_config, 2))
    _, want, step = final_params(spec, str(source))
    assert step == 2
    layout = state_layout(spec.model, make_optimizer(spec.config.train), run_mesh(spec.config),
                          spec.config.axis_rules, spec.config.seed)
    got, got_step = restore_params(layout, str(source))
    assert got_step == 2
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # One step from the source's params vs one step from a random init: the
    # continued run's first loss is the source's level, not a fresh model's.
    c = _config(tiny_config, 1)
    c.train.init_from = str(source)
    continued = train_config(c, tmp_path / "continued")
    fresh = train_config(_config(tiny_config, 1), tmp_path / "fresh")
    assert continued["loss"] < fresh["loss"]


def test_a_source_without_a_checkpoint_is_one_line(tiny_config, tmp_path):
    c = _config(tiny_config, 1)
    c.train.init_from = str(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match=r"init_from=.*nothing: no checkpoint in"):
        train_config(c, tmp_path / "w")
