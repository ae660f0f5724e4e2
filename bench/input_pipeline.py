"""Input pipeline tokens/s beside the trainer's tokens/s, at the same config.

    python bench/input_pipeline.py [--variant cpu|tiny] [--steps 40] [--repeats 3]

In one run: (1) the curriculum pipeline (``make_curriculum_data``, one
producer: the calling thread, prefetch off) makes ``--steps`` global batches,
timed from the first batch to the last, stage switch included; (2) the
jitted train step of the same config runs on those batches, already in
memory, after two warm-up (compile) steps, timed with block_until_ready.
The two are timed alternately ``--repeats`` times and each keeps its best.
Tokens are ``global_batch_size * seq_len`` per step for both, as the loop's
``tokens_per_sec`` counts them. The last line is
``pipeline_vs_trainer=<ratio>``; the pipeline must not be the bottleneck
(target: >= 10 with one worker).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="cpu", help="configs/base.py variant: cpu (the demo), tiny")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--devices", type=int, default=0, help="trainer devices; 0 = all")
    ap.add_argument("--repeats", type=int, default=3, help="alternating timings; best kept")
    args = ap.parse_args()

    import jax
    from configs.base import get_config
    from rtt_jax import config_validation
    from rtt_jax.data.pipeline import make_curriculum_data
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
    from rtt_jax.train.state import init_state, state_layout
    from rtt_jax.train.step import make_train_step

    cfg = get_config(args.variant)
    cfg.data.kind, cfg.data.prefetch = "curriculum", 0
    mc = config_validation.validate(cfg)
    d = cfg.data
    tokens_per_step = d.global_batch_size * d.seq_len

    def pipeline_seconds():
        data = make_curriculum_data(cfg, 0, 1)
        next(data)  # first-use costs (imports, caches) are not throughput
        t0 = time.perf_counter()
        out = [next(data)[0] for _ in range(args.steps)]
        return time.perf_counter() - t0, out

    devices = jax.devices()[:args.devices] if args.devices else jax.devices()
    mesh = shd.make_mesh({"data": -1}, devices)
    opt, sched = make_optimizer(cfg.train), learning_rate_schedule(cfg.train)
    layout = state_layout(mc, opt, mesh, cfg.axis_rules, cfg.seed)
    state = init_state(layout, mc, opt, cfg.seed)
    step = make_train_step(layout, opt, sched, cfg.train.microbatches, cfg.train.z_loss)

    def trainer_seconds(state, placed):
        t0 = time.perf_counter()
        for b in placed:
            state, metrics = step(state, b)
        jax.block_until_ready(metrics)
        return time.perf_counter() - t0, state

    _, batches = pipeline_seconds()
    placed = [shd.global_batch(b, mesh) for b in batches]
    _, state = trainer_seconds(state, placed[:2])  # compile
    # Alternate the two and keep each one's best: other load on the machine
    # then slows both alike instead of skewing the ratio.
    pipe_s = train_s = float("inf")
    for _ in range(args.repeats):
        pipe_s = min(pipe_s, pipeline_seconds()[0])
        t, state = trainer_seconds(state, placed)
        train_s = min(train_s, t)
    pipe_tps = tokens_per_step * args.steps / pipe_s
    train_tps = tokens_per_step * len(placed) / train_s

    print(f"config {args.variant}: batch {d.global_batch_size} x seq {d.seq_len}, "
          f"{len(devices)} {jax.default_backend()} device(s), {args.steps} steps")
    print(f"pipeline  {pipe_tps:>12,.0f} tokens/s  ({pipe_s / args.steps * 1e3:.2f} ms/batch, 1 worker)")
    print(f"trainer   {train_tps:>12,.0f} tokens/s  ({train_s / len(placed) * 1e3:.2f} ms/step)")
    print(f"pipeline_vs_trainer={pipe_tps / train_tps:.2f}")


if __name__ == "__main__":
    main()
