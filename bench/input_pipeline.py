"""Input pipeline tokens/s at 0, 1 and 2 Grain workers, beside the trainer's.

    python bench/input_pipeline.py [--configs tiny,demo] [--workers 0,1,2]
                                   [--steps 200] [--repeats 3]

Configs: ``tiny`` is ``configs/base.py:tiny``; ``demo`` is what ``make demo``
trains (``configs/experiments/traces_vs_answer.py:cpu/traces``).

For each config, in one run: (1) the curriculum pipeline
(``make_curriculum_data``) with ``data.worker_count`` = each of ``--workers``
(0: in this process, no prefetch thread) makes ``--steps`` global batches of
the last stage, timed after one warm-up batch (worker start-up and first-use
costs are not throughput; a stage switch costs a worker start-up, printed
separately); (2) the jitted train step of the same config runs on batches
already in memory, after two warm-up (compile) steps. The timings alternate
``--repeats`` times and each keeps its best, so that other load slows both
alike. Tokens are ``global_batch_size * seq_len`` per step, as the loop's
``tokens_per_sec`` counts them. The last line is
``pipeline_vs_trainer=<the smallest ratio over configs, in-process>``; the
pipeline must not be the bottleneck (target: >= 10).

On a 2-core machine the workers share the cores with this process, so more
workers cannot make the pipeline much faster here; they matter on a TPU or
GPU host with many idle cores.
"""
from __future__ import annotations

import argparse
import os
import time

CONFIGS = {"tiny": ("configs/base.py", "tiny"),
           "demo": ("configs/experiments/traces_vs_answer.py", "cpu/traces")}


def load_config(name: str):
    import importlib.util
    path, variant = CONFIGS[name]
    spec = importlib.util.spec_from_file_location(
        "bench_config_" + name, os.path.join(os.path.dirname(__file__), "..", path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


def pipeline_seconds(cfg, workers: int, steps: int) -> tuple[float, float]:
    """(seconds for ``steps`` batches of the last stage, seconds of the first batch)."""
    from rtt_jax.config_validation import validate
    from rtt_jax.data.pipeline import make_curriculum_data
    cfg = cfg.copy_and_resolve_references()
    cfg.data.worker_count = workers
    cfg.data.prefetch = 2 if workers else 0
    spec = validate(cfg)
    data = make_curriculum_data(spec.data, spec.tokenizer, 0, 1)
    try:
        data.start_stage(len(data.curriculum.stages) - 1)
        t0 = time.perf_counter()
        next(data)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            next(data)
        return time.perf_counter() - t0, first
    finally:
        data.close()


def trainer_tokens_per_sec(cfg, steps: int, repeats: int) -> float:
    import jax
    from rtt_jax import config_validation
    from rtt_jax.batch_sharding import global_batch
    from rtt_jax.data.pipeline import make_curriculum_data
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
    from rtt_jax.train.state import init_state, state_layout
    from rtt_jax.train.step import make_train_step

    spec = config_validation.validate(cfg)
    mc = spec.model
    mesh = shd.make_mesh({"data": -1}, jax.devices())
    opt, sched = make_optimizer(cfg.train), learning_rate_schedule(cfg.train)
    layout = state_layout(mc, opt, mesh, cfg.axis_rules, cfg.seed)
    state = init_state(layout, mc, opt, cfg.seed)
    step = make_train_step(layout, opt, sched, cfg.train.microbatches, cfg.train.z_loss)
    data = make_curriculum_data(spec.data, spec.tokenizer, 0, 1)
    placed = [global_batch(next(data)[0], mesh) for _ in range(steps)]
    data.close()
    for b in placed[:2]:  # compile
        state, metrics = step(state, b)
    jax.block_until_ready(metrics)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in placed:
            state, metrics = step(state, b)
        jax.block_until_ready(metrics)
        best = min(best, time.perf_counter() - t0)
    d = cfg.data
    return d.global_batch_size * d.seq_len * steps / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="tiny,demo", help=f"among {sorted(CONFIGS)}")
    ap.add_argument("--workers", default="0,1,2", help="data.worker_count values")
    ap.add_argument("--steps", type=int, default=200, help="batches timed per measurement")
    ap.add_argument("--train_steps", type=int, default=20, help="train steps timed")
    ap.add_argument("--repeats", type=int, default=3, help="alternating timings; best kept")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    ratios = {}
    for name in args.configs.split(","):
        cfg = load_config(name)
        d = cfg.data
        tokens = d.global_batch_size * d.seq_len
        train_tps = trainer_tokens_per_sec(cfg, args.train_steps, 1)
        best = {w: float("inf") for w in workers}
        start = {}
        for _ in range(args.repeats):  # alternate the worker counts and the trainer
            for w in workers:
                seconds, start[w] = pipeline_seconds(cfg, w, args.steps)
                best[w] = min(best[w], seconds)
            train_tps = max(train_tps, trainer_tokens_per_sec(cfg, args.train_steps, 1))
        print(f"config {name}: batch {d.global_batch_size} x seq {d.seq_len}, "
              f"{args.steps} batches per timing")
        print(f"  trainer              {train_tps:>12,.0f} tokens/s")
        for w in workers:
            tps = tokens * args.steps / best[w]
            ratios[(name, w)] = tps / train_tps
            print(f"  pipeline, {w} worker{'s' if w != 1 else ' '}  {tps:>12,.0f} tokens/s  "
                  f"({best[w] / args.steps * 1e3:.2f} ms/batch; first batch, with start-up, "
                  f"{start[w]:.2f} s)  x{ratios[(name, w)]:.1f} the trainer")
    in_process = min(r for (n, w), r in ratios.items() if w == 0) if 0 in workers else \
        min(ratios.values())
    print(f"pipeline_vs_trainer={in_process:.2f}")


if __name__ == "__main__":
    main()
