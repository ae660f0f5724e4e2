"""The training loop, on one page.

config -> mesh -> sharded state (fresh, or restored from the latest checkpoint)
-> for each step: host batch -> global sharded batch -> jitted step. Metrics
are read back one step late so the host never waits on the device, except at
checkpoint steps, where the loss of the state about to be saved is checked
first: a checkpoint never holds a state that came from a NaN step.

At an eval step the evaluation runs before that step's checkpoint, and its
metrics go to ``data.observe``: a mastery-gated curriculum stage that ends
there is already in the saved data state, so a resume lands in the same stage
at the same step.

The loop takes the run's checked config (``config_validation.RunSpec``: the
model, data and eval pieces and the run's tokenizer) and imports nothing from
evaluation: the entry point passes ``make_eval`` (for ``rtt_jax.main``,
``evaluation.during_training.make_periodic_eval``), which builds the periodic
evaluation once the state layout is known.

The run holds ``<workdir>/run.lock`` (workdir_lock.py) from before it touches
the workdir until it returns, so a second run on the same workdir stops at
once. First under the lock, process 0 writes ``<workdir>/config.json``, the
resolved config (``rtt_jax.workdir_config``), so every reader of the workdir
needs only ``--workdir``; a resume whose config differs logs the differing
fields in one line. It resumes from the newest checkpoint that verifies against its
checksums (checkpoint.py sets damaged steps aside), and a NaN stop names the
newest *verified* step. A fresh run with ``train.init_from`` starts from that
workdir's params (init_from.py).
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time

import jax
from absl import logging
from jax.experimental import multihost_utils

from rtt_jax import paths, workdir_config
from rtt_jax.batch_sharding import global_batch
from rtt_jax.data.pipeline import make_curriculum_data
from rtt_jax.data.tokenizer import save_run_tokenizer
from rtt_jax.model import train_flops_per_token
from rtt_jax.train.checkpoint import Checkpointer
from rtt_jax.train.init_from import restore_params, state_from_params
from rtt_jax.train.metrics import MetricWriter, Progress
from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
from rtt_jax.train.peak_flops import peak_flops
from rtt_jax.train import gpu_determinism, workdir_lock
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import init_state, state_layout
from rtt_jax.train.step import make_train_step


class NonFiniteLossError(RuntimeError):
    pass


class _Preemption:
    """SIGTERM sets a flag; the loop saves at the next step boundary and exits."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread (e.g. a notebook worker)
            self._previous = None
        return self

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received: checkpointing at the next step boundary")
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def check(self, step: int) -> bool:
        if jax.process_count() > 1:
            # Every host must agree to stop at the same step.
            return self.requested or multihost_utils.reached_preemption_sync_point(step)
        return self.requested


def train(spec, workdir: str, devices=None, stop_at_step: int | None = None,
          make_eval=None) -> dict:
    """Train to ``config.train.steps``, resuming from ``workdir`` if it holds a
    checkpoint. Returns the last read-back metrics.

    ``spec`` is the checked config (``config_validation.validate(config)``).
    ``devices`` restricts the mesh to a subset (tests, notebooks); by default
    all devices are used. ``stop_at_step`` checkpoints and returns early at
    that step, as a preemption would, without changing the LR schedule.
    ``make_eval(layout) -> run(step, params, writer) -> metrics`` builds the
    evaluation run every ``eval.every_steps``
    (``functools.partial(evaluation.during_training.make_periodic_eval, spec)``);
    it is required when ``eval.every_steps > 0``.

    Raises ``workdir_lock.WorkdirLockedError`` at once if another run holds
    the workdir.
    """
    if spec.eval.every_steps and make_eval is None:
        raise ValueError(f"config.eval.every_steps={spec.eval.every_steps}: train() needs "
                         "make_eval (evaluation.during_training.make_periodic_eval)")
    workdir = paths.absolute(workdir)  # orbax refuses relative checkpoint paths
    with workdir_lock.hold(workdir, jax.process_index()):  # before anything touches it
        return _train_locked(spec, workdir, devices, stop_at_step, make_eval)


def _train_locked(spec, workdir: str, devices, stop_at_step, make_eval) -> dict:
    config, model_cfg = spec.config, spec.model
    gpu_determinism.check(config.train.gpu_deterministic, jax.default_backend())
    mesh = run_mesh(config, devices)
    logging.info("process %d/%d, %d devices (%d local), mesh %s", jax.process_index(),
                 jax.process_count(), jax.device_count(), jax.local_device_count(),
                 dict(mesh.shape))
    tc = config.train
    optimizer = make_optimizer(tc)
    schedule = learning_rate_schedule(tc)
    layout = state_layout(model_cfg, optimizer, mesh, config.axis_rules, config.seed)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.max_to_keep,
                        config.checkpoint.async_save)
    workdir_config.record_start(
        config, workdir, writer=jax.process_index() == 0,
        resuming=ckpt.latest_step() is not None, log=logging.warning,
        barrier=lambda: jax.process_count() > 1 and multihost_utils.sync_global_devices(
            "rtt_jax: config.json read"))
    data = make_curriculum_data(spec.data, spec.tokenizer)

    if ckpt.latest_step() is not None:
        state, data_state, step = ckpt.restore_newest_intact(layout.abstract)
        data.set_state(data_state)
        logging.info("resumed from %s at step %d", ckpt.directory, step)
    elif tc.get("init_from"):  # a fresh run from another run's params (continued training)
        params, source_step = restore_params(layout, tc.init_from)
        state, step = state_from_params(layout, optimizer, params), 0
        logging.info("started from %s (step %d)", tc.init_from, source_step)
    else:
        state, step = init_state(layout, model_cfg, optimizer, config.seed), 0

    train_step = make_train_step(layout, optimizer, schedule, tc.microbatches, tc.z_loss,
                                 config.debug.inject_nan_at_step, seed=config.seed)
    writer = MetricWriter(workdir, resume_step=step)
    if jax.process_index() == 0:
        save_run_tokenizer(spec.tokenizer, workdir)
    evaluate = make_eval(layout) if spec.eval.every_steps else None
    tokens_per_step = spec.data.global_batch_size * spec.data.seq_len
    flops_per_token = train_flops_per_token(model_cfg, spec.data.seq_len)
    peak = peak_flops(config)  # None on a CPU nobody measured: MFU n/a
    peak = peak * jax.device_count() if peak else None
    progress = Progress(tc.steps, step)
    last = {"step": step}
    clock = {"t": time.perf_counter(), "step": step}

    def read_back(s: int, metrics, data_metrics) -> None:
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not math.isfinite(m["loss"]):
            raise NonFiniteLossError(f"step {s}: loss is {m['loss']}; stopping.")
        now = time.perf_counter()
        tps = tokens_per_step * (s - clock["step"]) / max(now - clock["t"], 1e-9)
        clock.update(t=now, step=s)
        m.update(tokens_per_sec=tps, mfu=flops_per_token * tps / peak if peak else None)
        m.update(data_metrics)  # pack stats of the batch this step consumed
        last.clear()
        last.update(step=s, **m)
        if s % tc.log_every_steps == 0 or s == tc.steps:
            writer.write(s, m)
            progress.show(s, m["loss"], tps, m["mfu"])

    pending = None
    with _Preemption() as preemption:
        try:
            while step < tc.steps:
                local, data_metrics = next(data)
                state, metrics = train_step(state, global_batch(local, mesh))
                step += 1
                if pending is not None:
                    read_back(*pending)
                pending = (step, metrics, data_metrics)
                stop = preemption.check(step) or step == stop_at_step
                if evaluate is not None and step % spec.eval.every_steps == 0:
                    read_back(*pending)
                    pending = None
                    # Before the save of this step, so that a stage ended by a
                    # mastery gate is in the checkpoint (a kill before the save
                    # re-evaluates the same params and decides the same).
                    results = evaluate(step, state["params"], writer)  # before donation
                    if data.observe(step, results):
                        writer.write(step, {"data/stage": float(data.stage)})
                if step % config.checkpoint.every_steps == 0 or step == tc.steps or stop:
                    if pending is not None:
                        read_back(*pending)  # never checkpoint a state from a NaN step
                        pending = None
                    ckpt.save(step, state, data.get_state())
                if stop:
                    logging.warning("stopped early: saved step %d, exiting", step)
                    break
            if pending is not None:
                read_back(*pending)
        except NonFiniteLossError as e:
            state = None  # frees the devices for reading the last checkpoint back
            ckpt.wait()
            good = ckpt.newest_verified_step(layout.abstract)
            raise NonFiniteLossError(
                f"{e} The last good checkpoint (step {good}, verified) in {ckpt.directory} "
                f"is intact." if good is not None else
                f"{e} No verified checkpoint in {ckpt.directory}.") from None
        finally:
            _close_all(data.close, ckpt.close, writer.close)
    return last


def _close_all(*closers) -> None:
    """Run every closer. While an error is already propagating, a closer's own
    error (the disk is full again when metrics are flushed) is logged in one
    line, so that the first error stays the one reported."""
    propagating = sys.exc_info()[1] is not None
    first = None
    for close in closers:
        try:
            close()
        except Exception as e:  # noqa: BLE001 - reported below, never lost
            if propagating or first is not None:
                logging.warning("while stopping: %s: %s", type(e).__name__,
                                (str(e).splitlines() or [""])[0])
            else:
                first = e
    if first is not None:
        raise first


__all__ = ["NonFiniteLossError", "train"]
