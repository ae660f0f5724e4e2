"""Training: sharding equivalence, accumulation, resume, restore onto other meshes.

The suite's proofs of two end-to-end properties live here, in-process (the
cheapest level): a resumed run equals an uninterrupted one
(``test_six_steps_equal_three_restore_three``), and one device equals eight,
in either layout (``test_sharded_equals_unsharded_and_restores_onto_another_mesh``).
The uninterrupted reference is the suite's shared ``trained_run``. A NaN stop
is tested in test_checkpoint_faults.py (it must name a *verified* step)."""
import json
import os

import jax
import numpy as np
import pytest

from rtt_jax.batch_sharding import global_batch
from rtt_jax.config_validation import validate
from rtt_jax.train import sharding as shd
from rtt_jax.train.checkpoint import final_params
from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
from rtt_jax.train.state import init_state, state_layout
from rtt_jax.train.step import make_train_step
from in_process import pipeline_batches, train_config as train

# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = pytest.mark.xdist_group("training")


def _losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return {r["step"]: r["loss"] for r in map(json.loads, f)}


def _params(config, workdir, devices=None):
    config = config.copy_and_resolve_references()
    config.mesh.update(data=-1, fsdp=1, tensor=1)
    _, params, step = final_params(validate(config), workdir, devices or jax.devices()[:1])
    return step, jax.tree.map(np.asarray, jax.device_get(params))


def _run(cfg, workdir, stop_at, mesh=None, devices=None):
    """Run the 6-step schedule of ``cfg`` up to step ``stop_at`` (checkpointed)."""
    cfg = cfg.copy_and_resolve_references()
    if mesh:
        cfg.mesh.update(mesh)
    train(cfg, str(workdir), devices, stop_at_step=stop_at)
    return cfg


@pytest.fixture(scope="module")
def reference(trained_run):
    """Six steps on one device, checkpointing every 3 (the baseline for all):
    the suite's shared run (conftest.trained_run)."""
    cfg, wd = trained_run.config(), trained_run.workdir
    from rtt_jax.train.checkpoint import Checkpointer
    assert Checkpointer(os.path.join(wd, "checkpoints"), read_only=True).all_steps() == [3, 6]
    return cfg, wd, _losses(wd), _params(cfg, wd)[1]


def _assert_tree_close(a, b, rtol, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)




@pytest.mark.slow
def test_six_steps_equal_three_restore_three(reference, tmp_path):
    cfg, _, ref_losses, ref_params = reference
    _run(cfg, tmp_path, 3, devices=jax.devices()[:1])
    assert sorted(_losses(tmp_path)) == [1, 2, 3]
    _run(cfg, tmp_path, 6, devices=jax.devices()[:1])  # resumes from step 3
    losses = _losses(tmp_path)
    assert sorted(losses) == [1, 2, 3, 4, 5, 6]
    for s in range(1, 7):
        assert losses[s] == pytest.approx(ref_losses[s], rel=1e-6)
    _assert_tree_close(_params(cfg, tmp_path)[1], ref_params, rtol=1e-6, atol=0)


@pytest.mark.parametrize("mesh,n_dev", [(dict(data=1, fsdp=4, tensor=2), 8), (dict(data=-1), 1)],
                         ids=["then_fsdp4_tensor2", "then_1_device"])
@pytest.mark.slow
def test_sharded_equals_unsharded_and_restores_onto_another_mesh(reference, tmp_path, mesh,
                                                                   n_dev):
    """Steps 1-3 on data=8 equal the one-device run (losses, and params at step
    3); restored onto ``mesh`` (fsdp=4 x tensor=2, or one device), steps 4-6
    continue it."""
    cfg, ref_wd, ref_losses, ref_params = reference
    _run(cfg, tmp_path, 3, mesh=dict(data=8, fsdp=1, tensor=1))  # saved on data=8
    losses = _losses(tmp_path)
    for s in (1, 2, 3):
        assert losses[s] == pytest.approx(ref_losses[s], rel=1e-4)
    from rtt_jax.train.checkpoint import Checkpointer
    layout = final_params(validate(cfg), str(tmp_path), jax.devices()[:1])[0]
    ref3, _, _ = Checkpointer(os.path.join(ref_wd, "checkpoints"),
                              read_only=True).restore(layout.abstract, step=3, with_data=False)
    _assert_tree_close(_params(cfg, tmp_path)[1], jax.device_get(ref3["params"]), rtol=1e-4,
                       atol=1e-6)
    cfg2 = _run(cfg, tmp_path, 6, mesh=mesh, devices=jax.devices()[:n_dev])
    losses = _losses(tmp_path)
    for s in range(4, 7):
        assert losses[s] == pytest.approx(ref_losses[s], rel=1e-4)
    _assert_tree_close(_params(cfg2, tmp_path)[1], ref_params, rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_gradient_accumulation_equals_large_batch(tiny_config):
    cfg = tiny_config
    cfg.data.global_batch_size = 16
    mc = validate(cfg).model
    mesh = shd.make_mesh({"data": -1}, jax.devices())
    opt, sched = make_optimizer(cfg.train), learning_rate_schedule(cfg.train)
    layout = state_layout(mc, opt, mesh, cfg.axis_rules, cfg.seed)
    batch = global_batch(pipeline_batches(cfg, 1)[0], mesh)
    results = []
    for m in (1, 4):
        state = init_state(layout, mc, opt, cfg.seed)
        step = make_train_step(layout, opt, sched, microbatches=m)
        for _ in range(2):
            state, metrics = step(state, batch)
        results.append((float(metrics["loss"]), jax.device_get(state["params"])))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    # Adam divides by sqrt(v): float noise in tiny gradients shows at ~1e-6
    # (one element of 24,576 at 1.2e-5 after issue 30's fused QKV matmul).
    _assert_tree_close(results[0][1], results[1][1], rtol=1e-4, atol=2e-5)


def test_golden_first_losses(tiny_config, tmp_path, monkeypatch):
    """nanodo-style golden values: the first steps of `tiny` on one device.

    A change to init, data, loss or optimizer that moves these is a behaviour
    change; update the numbers only on purpose."""
    tiny_config.train.steps = 3
    monkeypatch.chdir(tmp_path)  # a relative workdir works too
    _run(tiny_config, "run", 3, devices=jax.devices()[:1])
    got = [_losses(tmp_path / "run")[s] for s in (1, 2, 3)]
    np.testing.assert_allclose(got, GOLDEN, rtol=2e-4)


# tiny on its two-stage curriculum, rows shuffled within windows (issue 11); the
# data moved with the Grain pipeline (issue 14: Grain's proportional mix, lanes
# reading their own contiguous example ranges).
GOLDEN = [5.9038, 5.8980, 5.2985]


@pytest.mark.slow
def test_the_workdir_keeps_its_config_and_a_resume_names_what_changed(reference, tmp_path,
                                                                       caplog):
    """W/config.json is the run's config; a resume with another config logs the
    differing fields in one line, and one with another model stops at once."""
    import logging
    import shutil
    from rtt_jax import workdir_config
    from rtt_jax.config_error import ConfigError
    cfg, wd, _, _ = reference
    assert workdir_config.differences(workdir_config.load(str(wd)), cfg) == []
    copy = tmp_path / "w"
    shutil.copytree(wd, copy)
    changed = cfg.copy_and_resolve_references()
    changed.train.log_every_steps = 2
    with caplog.at_level(logging.WARNING):
        train(changed, str(copy), jax.devices()[:1])  # resumes at step 6 of 6: nothing to do
    assert [r.getMessage() for r in caplog.records if "config differs" in r.getMessage()] == [
        f"config differs from the saved {copy}/config.json in 1 field: "
        "train.log_every_steps: 1 -> 2"]
    assert workdir_config.load(str(copy)).train.log_every_steps == 2
    wider = cfg.copy_and_resolve_references()
    wider.model.d_model = 128
    with pytest.raises(ConfigError, match=r"another model or tokenizer: model.d_model: 64 -> 128"):
        train(wider, str(copy), jax.devices()[:1])
