"""train.init_from: a fresh run starts from another run's newest verified
params (a fresh optimizer, step 0); a run with its own checkpoint resumes
that; a source without a checkpoint is one line. The source is the suite's
shared ``trained_run`` (read only)."""
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


def _one_step(trained_run, **train):
    c = trained_run.config()
    c.train.update(steps=1, warmup_steps=0, **train)
    c.checkpoint.update(every_steps=1, async_save=False)
    return c


def test_a_fresh_run_starts_from_the_source_params(trained_run, tmp_path):
    source = trained_run.workdir
    spec = validate(trained_run.config())
    _, want, step = final_params(spec, str(source))
    assert step == 6
    layout = state_layout(spec.model, make_optimizer(spec.config.train), run_mesh(spec.config),
                          spec.config.axis_rules, spec.config.seed)
    got, got_step = restore_params(layout, str(source))
    assert got_step == 6
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # One step from the source's params vs one step from a random init: the
    # continued run's first loss is the source's level, not a fresh model's.
    continued = train_config(_one_step(trained_run, init_from=str(source)),
                             tmp_path / "continued", jax.devices()[:1])
    fresh = train_config(_one_step(trained_run), tmp_path / "fresh", jax.devices()[:1])
    assert continued["loss"] < fresh["loss"]


def test_a_source_without_a_checkpoint_is_one_line(trained_run, tmp_path):
    c = _one_step(trained_run, init_from=str(tmp_path / "nothing"))
    with pytest.raises(CheckpointError, match=r"init_from=.*nothing: no checkpoint in"):
        train_config(c, tmp_path / "w", jax.devices()[:1])
