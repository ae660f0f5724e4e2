"""The GRPO loop, on one page: rollouts -> rewards -> advantages -> updates.

config -> mesh -> the policy (``train.init_from``'s newest verified params,
or this workdir's own checkpoint on a resume) and the reference (the same
initial params, kept for the KL) -> for each iteration k:

1. prompts ``0..P-1`` of iteration k (``prompts.PromptStream``), this
   process's share;
2. G completions each through the KV-cache sampler with the current params
   (``rollouts.sample_groups``: seeded by (seed, k), row i * G + g);
3. rewards from the family checkers (``rewards.score``; nothing runs) and
   group-normalised advantages (``grpo.group_advantages``);
4. the rows split into ``rl.minibatches`` minibatches, one jitted update
   each (``update.make_rl_update``: training's state, mesh and shardings);
5. metrics (``rewards.reward_metrics`` over the global batch, the update's
   loss, KL, clipping, tokens per second, planned FLOPs) to metrics.jsonl
   and TensorBoard; a few rollouts with their verdicts to rollouts.jsonl.

Checkpoints are training's (``train.checkpoint.Checkpointer``: state, data,
checksums; verified on restore), at iteration boundaries; checkpoint step k
holds the state after k iterations and the rollout state
``{"kind": "rl_rollouts", "iteration": k, "seed", "init_from", "init_step",
...}``. Everything an iteration draws is a function of (seed, k) and the
params, so a run killed at any moment and restarted with the same command
samples, scores and updates exactly as the uninterrupted run did. The
reference is restored from ``init_from`` at the *pinned* ``init_step``, so a
resume never silently changes it; if that step is gone, the run stops with
one line.

The run holds ``W/run.lock`` (``train.workdir_lock``) throughout, writes
``W/config.json`` and the tokenizer it samples with (the init run's), stops
on a non-finite loss naming the last verified checkpoint, and saves and exits
on SIGTERM, as training does.
"""
from __future__ import annotations

import math
import os
import time

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from rtt_jax import paths, workdir_config
from rtt_jax.batch_sharding import BATCH_AXES, global_batch
from rtt_jax.config_error import ConfigError
from rtt_jax.data.tokenizer import run_tokenizer, save_run_tokenizer
from rtt_jax.evaluation.stops import make_sampler
from rtt_jax.rl import accounting
from rtt_jax.rl.grpo import group_advantages, zero_advantage_groups
from rtt_jax.rl.prompts import PromptStream
from rtt_jax.rl.rewards import SUM_KEYS, reward_metrics, reward_sums, score
from rtt_jax.rl.rollouts import Rollouts, pack_rows, sample_groups
from rtt_jax.rl.spec import RLSpec, check_mesh, optimizer_config
from rtt_jax.rl.update import make_logprob_fn, make_rl_update
from rtt_jax.run_files import write_samples
from rtt_jax.train import workdir_lock
from rtt_jax.train.checkpoint import Checkpointer
from rtt_jax.train.init_from import restore_params, state_from_params
from rtt_jax.train.loop import NonFiniteLossError, _close_all, _Preemption
from rtt_jax.train.metrics import MetricWriter
from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import state_layout

ROLLOUT_KIND = "rl_rollouts"
ROLLOUTS_JSONL = "rollouts.jsonl"
LOGGED_ROLLOUTS = 4  # per logged iteration, in rollouts.jsonl


def train_rl(spec, rl: RLSpec, workdir: str, devices=None, stop_at_step: int | None = None,
             make_eval=None) -> dict:
    """Run GRPO to ``rl.steps`` iterations, resuming from ``workdir`` if it
    holds a checkpoint; returns the last iteration's metrics. ``spec`` is the
    checked config (``config_validation.validate``), ``rl`` its ``rl.spec``.
    ``stop_at_step`` checkpoints and returns after that iteration (as a
    preemption would). ``make_eval(layout)`` builds the periodic evaluation
    run every ``eval.every_steps`` iterations (as in ``train.loop.train``)."""
    workdir = paths.absolute(workdir)
    with workdir_lock.hold(workdir, jax.process_index()):
        return _train_locked(spec, rl, workdir, devices, stop_at_step, make_eval)


def _rollout_state(k: int, seed: int, rl: RLSpec, init_step: int) -> dict:
    return {"kind": ROLLOUT_KIND, "iteration": k, "seed": seed,
            "prompts_per_step": rl.prompts_per_step, "group_size": rl.group_size,
            "init_from": rl.init_from, "init_step": init_step}


def _check_resumed(data: dict, step: int, seed: int, rl: RLSpec, where: str) -> int:
    """The pinned init step of a restored rollout state; ConfigError if it is
    not this run's (another seed or batch shape changes every draw)."""
    if not isinstance(data, dict) or data.get("kind") != ROLLOUT_KIND:
        raise ConfigError(f"{where}: step {step} holds no RL rollout state (a training run's "
                          "checkpoint?); start the RL run in a new workdir")
    for key, want in (("iteration", step), ("seed", seed),
                      ("prompts_per_step", rl.prompts_per_step), ("group_size", rl.group_size)):
        if data.get(key) != want:
            raise ConfigError(f"{where}: step {step} was saved with {key}={data.get(key)!r}, "
                              f"this run has {want!r}; resuming would change every draw")
    return int(data["init_step"])


def _process_sums(local: np.ndarray) -> np.ndarray:
    if jax.process_count() == 1:
        return local
    return np.asarray(multihost_utils.process_allgather(local)).sum(axis=0)


def _logged_rollouts(ro: Rollouts, rewards, n: int) -> list[dict]:
    """The first ``n`` rows' prompt, completion and verdicts (rollouts.jsonl)."""
    out = []
    for row in range(min(n, len(ro.texts))):
        p, r = ro.prompt_of(row), rewards[row]
        out.append({"group": p.index, "source": p.source, "level": p.level, "style": p.style,
                    "prompt": p.text, "completion": ro.texts[row], "reward": r.value,
                    "correct": r.correct, "steps_valid": r.steps_valid,
                    "steps_written": r.steps_written, "steps_expected": r.steps_expected,
                    "answer_follows": r.answer_follows, "right_answer_unverified": r.hacked})
    return out


def _per_level(ro: Rollouts, rewards) -> dict[str, float]:
    """``accuracy/L<level>`` and ``step_validity/L<level>`` of this batch."""
    out = {}
    for level in sorted({p.level for p in ro.prompts}):
        rs = [r for i, r in enumerate(rewards) if ro.prompt_of(i).level == level]
        out[f"accuracy/L{level}"] = float(np.mean([r.correct for r in rs]))
        written = sum(r.steps_written for r in rs)
        out[f"step_validity/L{level}"] = sum(r.steps_valid for r in rs) / written \
            if written else float("nan")
    return out


def _train_locked(spec, rl: RLSpec, workdir: str, devices, stop_at_step, make_eval) -> dict:
    config = spec.config
    mesh = run_mesh(config, devices)
    batch_shards = math.prod(mesh.shape[a] for a in BATCH_AXES)
    check_mesh(rl, batch_shards, jax.process_count())
    opt_cfg = optimizer_config(config, rl)
    optimizer, schedule = make_optimizer(opt_cfg), learning_rate_schedule(opt_cfg)
    layout = state_layout(spec.model, optimizer, mesh, config.axis_rules, config.seed)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.max_to_keep,
                        config.checkpoint.async_save)
    # W/config.json as training writes it, so --workdir alone serves and evaluates the policy.
    workdir_config.record_start(
        config, workdir, writer=jax.process_index() == 0,
        resuming=ckpt.latest_step() is not None, log=logging.warning,
        barrier=lambda: jax.process_count() > 1 and multihost_utils.sync_global_devices(
            "rtt_jax: config.json read"))
    if ckpt.latest_step() is not None:
        state, data_state, k = ckpt.restore_newest_intact(layout.abstract)
        init_step = _check_resumed(data_state, k, config.seed, rl, str(ckpt.directory))
        if data_state.get("init_from") != rl.init_from:  # a moved directory, say
            logging.warning("this run started from %s; its reference now comes from %s "
                            "(step %d)", data_state.get("init_from"), rl.init_from, init_step)
        ref_params, _ = restore_params(layout, rl.init_from, init_step)
        logging.info("resumed from %s at iteration %d", ckpt.directory, k)
    else:
        ref_params, init_step = restore_params(layout, rl.init_from)
        state, k = state_from_params(layout, optimizer, ref_params), 0
        logging.info("policy and reference from %s (step %d)", rl.init_from, init_step)

    tokenizer = run_tokenizer(rl.init_from, spec.tokenizer)  # what the policy learned with
    if jax.process_index() == 0:
        save_run_tokenizer(tokenizer, workdir)
    local = rl.prompts_per_step // jax.process_count()
    first = jax.process_index() * local
    sampler = make_sampler(layout.graphdef, None, tokenizer, spec.model,
                           max_len=rl.seq_len + 1, mesh=mesh, max_batch=local * rl.group_size)
    stream = PromptStream(spec.data, config.seed)
    update = make_rl_update(layout, optimizer, schedule, rl)
    old_logp = make_logprob_fn(layout, rl.temperature) if rl.minibatches > 1 else None
    writer = MetricWriter(workdir, resume_step=k)
    evaluate = make_eval(layout) if spec.eval.every_steps and make_eval else None
    flops_per_iteration = accounting.iteration_flops(spec.model, rl.rows, rl.seq_len,
                                                     rl.minibatches)
    log_every = config.train.log_every_steps
    last: dict = {"step": k}

    with _Preemption() as preemption:
        try:
            while k < rl.steps:
                t0 = time.perf_counter()
                prompts = stream.batch(k, range(first, first + local))
                sampler.params = state["params"]
                try:
                    ro = sample_groups(sampler, prompts, rl.group_size, seed=config.seed,
                                       iteration=k, temperature=rl.temperature, top_p=rl.top_p,
                                       max_new_tokens=rl.max_new_tokens, seq_len=rl.seq_len)
                finally:
                    sampler.params = None  # the update donates these buffers
                t_sampled = time.perf_counter()
                rewards = [score(ro.prompt_of(i).family, ro.prompt_of(i).problem,
                                 ro.prompt_of(i).style, text, rl.steps_weight, rl.format_penalty)
                           for i, text in enumerate(ro.texts)]
                values = [r.value for r in rewards]
                rows = pack_rows(ro.prompt_ids, ro.completions, rl.seq_len + 1, tokenizer.pad_id)
                rows["advantages"] = group_advantages(values, rl.group_size, rl.scale_advantages)
                per = len(values) // rl.minibatches
                batches = [global_batch({key: v[m * per:(m + 1) * per] for key, v in rows.items()},
                                        mesh) for m in range(rl.minibatches)]
                if old_logp is not None:  # all before the first update: the sampling policy
                    for b in batches:
                        b["old_logp"] = old_logp(state["params"], b)
                step_metrics = []
                for b in batches:
                    state, m = update(state, ref_params, b)
                    step_metrics.append(m)
                step_metrics = jax.device_get(step_metrics)
                k += 1
                now = time.perf_counter()
                lengths = [len(c) for c in ro.completions]
                sums = _process_sums(np.concatenate([
                    reward_sums(rewards, lengths),
                    [zero_advantage_groups(values, rl.group_size) * local, local]]))
                metrics = {key: float(np.mean([float(m[key]) for m in step_metrics]))
                           for key in step_metrics[0]}
                if not math.isfinite(metrics["pg_loss"]):
                    raise NonFiniteLossError(f"iteration {k}: loss is {metrics['pg_loss']}; "
                                             "stopping.")
                metrics.update(reward_metrics(sums[:len(SUM_KEYS)]))
                if jax.process_count() == 1:  # this host's rows are the whole batch
                    metrics.update(_per_level(ro, rewards))
                sampled = sums[SUM_KEYS.index("response_tokens")]
                metrics.update(
                    zero_advantage_groups=sums[-2] / sums[-1], sampled_tokens=sampled,
                    tokens_per_sec=sampled / max(now - t0, 1e-9),
                    rollout_seconds=t_sampled - t0, flops=flops_per_iteration * k,
                    stage=float(stream.stage_at(k - 1)))
                last = {"step": k, **metrics}
                if k % log_every == 0 or k == rl.steps:
                    writer.write(k, metrics)
                    if writer.enabled:
                        write_samples(workdir, k, _logged_rollouts(ro, rewards, LOGGED_ROLLOUTS),
                                      name=ROLLOUTS_JSONL)
                    logging.info("iteration %d/%d reward %.3f accuracy %.3f step_validity %.3f "
                                 "kl %.4f", k, rl.steps, metrics["reward"], metrics["accuracy"],
                                 metrics["step_validity"], metrics["kl"])
                stop = preemption.check(k) or k == stop_at_step
                if evaluate is not None and k % spec.eval.every_steps == 0:
                    evaluate(k, state["params"], writer)
                if k % config.checkpoint.every_steps == 0 or k == rl.steps or stop:
                    ckpt.save(k, state, _rollout_state(k, config.seed, rl, init_step))
                if stop:
                    logging.warning("stopped early: saved iteration %d, exiting", k)
                    break
        except NonFiniteLossError as e:
            state = None
            ckpt.wait()
            good = ckpt.newest_verified_step(layout.abstract)
            raise NonFiniteLossError(
                f"{e} The last good checkpoint (iteration {good}, verified) in {ckpt.directory} "
                f"is intact." if good is not None else
                f"{e} No verified checkpoint in {ckpt.directory}.") from None
        finally:
            _close_all(ckpt.close, writer.close)
    return last
