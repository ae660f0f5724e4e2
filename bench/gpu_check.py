"""One prepared accelerator check: correctness, then throughput and MFU.

    python bench/gpu_check.py [--out DIR]

1. Correctness: the `tiny` config's first 3 losses on the accelerator (float32
   matmuls at "highest" precision) against the CPU golden values in
   tests/test_training.py, and a 6-step run vs 3 + restore + 3 (bit-equal).
2. Throughput: the sharded train step vs the plain loop (bench/train_throughput.py)
   at the middle CPU size, then a GPU-sized bf16 model, with MFU against the
   platform's peak from configs/base.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402


def correctness(out: dict) -> None:
    from configs.base import get_config
    from rtt_jax.train.loop import train
    from tests.test_training import GOLDEN
    with jax.default_matmul_precision("highest"):
        cfg = get_config("tiny")
        cfg.train.steps = 3
        cfg.checkpoint.async_save = False
        wd = tempfile.mkdtemp()
        train(cfg, wd)
        losses = [json.loads(line)["loss"] for line in open(os.path.join(wd, "metrics.jsonl"))]
        out["golden_cpu"], out["gpu_losses"] = GOLDEN, losses
        out["golden_max_rel_err"] = max(abs(a - b) / abs(b) for a, b in zip(losses, GOLDEN))
        cfg.train.steps = 6
        cfg.checkpoint.every_steps = 3
        straight, resumed = tempfile.mkdtemp(), tempfile.mkdtemp()
        train(cfg, straight)
        train(cfg, resumed, stop_at_step=3)
        train(cfg, resumed)
        read = lambda w: [json.loads(l)["loss"] for l in open(os.path.join(w, "metrics.jsonl"))]  # noqa
        out["resume_losses_equal"] = read(straight) == read(resumed)


def throughput(out: dict, steps: int) -> None:
    import train_throughput as tt
    from rtt_jax.data.builtin_addition import batch_for_step
    from rtt_jax.model import ModelConfig, train_flops_per_token
    peak = 989e12  # H100/H200 dense bf16 (configs/base.py hardware.peak_flops_by_platform.gpu)
    cfg, seq, batch = tt.SIZES["deep"]
    batches = [batch_for_step(0, i, batch, seq) for i in range(4)]
    plain, sharded = tt.run_plain(cfg, batches, steps), tt.run_sharded(cfg, batches, steps)
    out["middle_tok_s"] = {"plain": plain * batch * seq, "sharded": sharded * batch * seq}
    out["middle_sharded_vs_plain"] = sharded / plain
    for name, mc, seq, batch in [
        ("gpu_150M_bf16", ModelConfig(vocab_size=384, d_model=1024, n_layers=12, n_heads=16,
                                      dtype="bfloat16"), 1024, 16),
    ]:
        batches = [batch_for_step(0, i, batch, seq, 1, 12) for i in range(2)]
        t = time.perf_counter()
        sps = tt.run_sharded(mc, batches, steps)
        tps = sps * batch * seq
        out[name] = {"tok_s": tps, "mfu": train_flops_per_token(mc, seq) * tps / peak,
                     "wall_s": time.perf_counter() - t}
        print(name, out[name], flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    out = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__}
    print(out, flush=True)
    for part in (correctness, lambda o: throughput(o, args.steps)):
        try:
            part(out)
        except Exception as e:  # keep what the other part measured
            out.setdefault("errors", []).append(f"{type(e).__name__}: {e}"[:2000])
        print(json.dumps(out, indent=1, default=str), flush=True)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
