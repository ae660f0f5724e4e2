"""Training on the Grain pipeline: worker processes give the losses of the
in-process pipeline, a SIGKILL at any step resumes the same batches and
losses (with another worker count, too), a mastery-gated stage switch is
checkpointed and resumed at the same step, and a step saved by two hosts
resumes on one.

``test_sigkill_then_restart_...`` is the suite's end-to-end proof that a run
killed at an arbitrary moment (a real SIGKILL of ``python -m rtt_jax.main``)
resumes the uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from hang_guard import hang_guard
from run_outputs import losses as run_losses, metric_rows

# Subprocesses, several processes or real training runs: `make test` only.
pytestmark = pytest.mark.slow

STEPS, EVERY = 20, 3


def _cmd(workdir, workers, *extra):
    return [sys.executable, "-m", "rtt_jax.main", "--config=configs/base.py:tiny",
            f"--workdir={workdir}", f"--config.data.worker_count={workers}",
            f"--config.train.steps={STEPS}", f"--config.checkpoint.every_steps={EVERY}", *extra]


def _run(workdir, workers):
    """(losses, stderr) of a run to the end."""
    r = subprocess.run(_cmd(workdir, workers), cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return run_losses(workdir), r.stderr


def _children(pid):
    """Child pids of ``pid``, whichever of its threads started them."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def _kill_at(workdir, workers, step):
    """Start a run and SIGKILL it once metrics.jsonl shows ``step``; returns the
    pids of its Grain workers (they must exit on their own)."""
    p = subprocess.Popen(_cmd(workdir, workers), cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    with hang_guard(300, f"step {step} never came"):
        while max(run_losses(workdir), default=0) < step:
            assert p.poll() is None, p.stderr.read()[-3000:]
            time.sleep(0.02)
    workers_pids = [c for c in _children(p.pid) if b"spawn_main" in open(
        f"/proc/{c}/cmdline", "rb").read()]
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stderr.close()
    return workers_pids


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, in this process (the in-process pipeline)."""
    from rtt_jax.configs.base import get_config
    from in_process import train_config as train
    cfg = get_config("tiny")
    cfg.train.steps = STEPS
    cfg.checkpoint.every_steps = EVERY
    wd = str(tmp_path_factory.mktemp("ref"))
    train(cfg, wd)
    return run_losses(wd)


def _assert_same(got, ref, what):
    assert sorted(got) == list(range(1, STEPS + 1)), what
    for s, loss in got.items():
        assert loss == pytest.approx(ref[s], rel=1e-6, abs=0), (what, s)


def test_sigkill_then_restart_continues_the_same_losses_across_worker_counts(reference,
                                                                            tmp_path):
    """Killed at step 5 with two Grain workers, then at step 11 (past tiny's
    stage boundary at 10) with the in-process pipeline, then run to the end
    with two workers again: the rows each leg kept (steps 1-3 and 10-20 from
    two workers, 4-9 in-process) are the uninterrupted in-process run's."""
    wd = str(tmp_path / "killed")
    orphans = _kill_at(wd, 2, 5)  # mid-way between saves at 3 and 6
    assert orphans, "expected Grain worker processes"
    _kill_at(wd, 0, 11)
    losses, err = _run(wd, 2)
    assert "resumed from" in err, err[-3000:]
    _assert_same(losses, reference, "killed twice")
    with hang_guard(120, "Grain workers outlived their killed trainer"):
        while any(os.path.exists(f"/proc/{pid}") for pid in orphans):
            time.sleep(0.1)


def test_mastery_gate_switch_is_checkpointed_and_resumed_at_the_same_step(tmp_path):
    from rtt_jax.configs.base import get_config
    from in_process import train_config as train

    def cfg():
        c = get_config("tiny")
        c.train.steps = 9
        c.data.prefetch = 0
        c.checkpoint.update(every_steps=4, async_save=False)
        c.eval.update(every_steps=4, n_per_level=2, levels=[1, 2], trained_levels=[1, 2],
                      batch_size=4, max_new_tokens=8, samples_per_set=0)
        # at_least=0: the first evaluation (step 4) ends stage 0, long before its 10 steps.
        c.data.stages[0]["until"] = dict(metric="eval/addition/L2/answer_accuracy",
                                         at_least=0.0)
        return c

    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    train(cfg(), straight)
    train(cfg(), resumed, stop_at_step=4)  # the switch happens at the step it saves
    with open(os.path.join(resumed, "checkpoints", "4", "data", "process_0-of-1.json")) as f:
        saved = json.load(f)
    assert saved["stage"] == 1 and saved["step_in_stage"] == 0
    assert saved["switches"][0]["reason"] == "metric" and saved["switches"][0]["step"] == 4
    train(cfg(), resumed)
    stage = {w: {r["step"]: r["data/stage"] for r in metric_rows(w) if "loss" in r}
             for w in (straight, resumed)}
    assert stage[straight] == stage[resumed] == {s: float(s > 4) for s in range(1, 10)}
    a, b = run_losses(straight), run_losses(resumed)
    assert a.keys() == b.keys() and all(b[s] == pytest.approx(a[s], rel=1e-6) for s in a)


def test_a_step_saved_by_two_hosts_resumes_on_one_with_the_same_losses(trained_run, tmp_path):
    """Grain's handler keeps one state file per host. A step saved by 2 hosts
    (made here by splitting a 1-host step's lanes in two, checksums updated)
    resumes on 1: each host reads every host's verified state and takes its
    rows. A damaged host file is damage; a pre-Grain JSON data item is one line.
    The uninterrupted run is the suite's shared ``trained_run`` (6 steps, saves
    every 3, one device)."""
    import jax
    from rtt_jax.train.checkpoint import CheckpointError
    from rtt_jax.train.checksum import data_checksum
    from in_process import train_config as train

    def cfg(steps):
        c = trained_run.config()
        c.train.steps = steps
        return c

    def run(config, **kw):
        train(config, wd, jax.devices()[:1], **kw)

    wd = str(tmp_path / "w")
    run(cfg(6), stop_at_step=3)  # the same LR schedule as the straight run
    step = os.path.join(wd, "checkpoints", "3")
    with open(os.path.join(step, "data", "process_0-of-1.json")) as f:
        one = json.load(f)
    lanes = one["grain"]["lanes"]
    halves = [dict(one, grain={"kind": "lane_pack", "lanes": {k: v for k, v in lanes.items()
                                                           if (int(k) < 8) == (i == 0)}})
              for i in range(2)]
    os.remove(os.path.join(step, "data", "process_0-of-1.json"))
    for i, half in enumerate(halves):
        with open(os.path.join(step, "data", f"process_{i}-of-2.json"), "w") as f:
            json.dump(half, f)
    sums_path = os.path.join(step, "checksums", "metadata")
    with open(sums_path) as f:
        sums = json.load(f)
    sums["data"] = [data_checksum(h) for h in halves]
    with open(sums_path, "w") as f:
        json.dump(sums, f)
    run(cfg(6))
    a, b = trained_run.losses, run_losses(wd)
    assert sorted(b) == list(range(1, 7))
    assert all(b[s] == pytest.approx(a[s], rel=1e-6) for s in a)

    # The step saved at 6 by one host: an old-format data item cannot resume.
    data = os.path.join(wd, "checkpoints", "6", "data")
    os.remove(os.path.join(data, "process_0-of-1.json"))
    with open(os.path.join(data, "metadata"), "w") as f:  # what JsonSave wrote before Grain
        f.write("{}")
    with pytest.raises(CheckpointError, match="a JSON data item from before the Grain pipeline"):
        run(cfg(9))
    assert "6" in os.listdir(os.path.join(wd, "checkpoints"))  # a config error: not set aside
