"""One prepared accelerator check: correctness, then throughput and MFU.

    python bench/gpu_check.py [--out DIR]

1. Correctness: the `tiny` config's first 3 losses on the accelerator (float32
   matmuls at "highest" precision) against the CPU golden values in
   tests/test_training.py, and a 6-step run vs 3 + restore + 3 (bit-equal).
2. Attention: cuDNN flash attention against the XLA kernel on packed rows with
   GQA (forward and gradients).
3. Throughput: the train step at the CPU bench's "deep" shape, then the `gpu`
   config's 303M bf16 model and a ~0.9B one, with cuDNN and with XLA attention,
   MFU against the card's dense bf16 peak (989 TFLOP/s). Goal: MFU >= 45%.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def golden_losses() -> list[float]:
    """The CPU golden losses, ``GOLDEN`` in tests/test_training.py (read as a
    literal: tests/ is no package to import, and the test pins them)."""
    import ast
    with open(os.path.join(REPO, "tests", "test_training.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "GOLDEN"
                                                for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise LookupError("tests/test_training.py: no GOLDEN")


def correctness(out: dict) -> None:
    from rtt_jax.configs.base import get_config
    from rtt_jax.config_validation import validate
    from rtt_jax.train.loop import train as train_spec
    GOLDEN = golden_losses()

    def train(cfg, workdir, **kw):
        return train_spec(validate(cfg), workdir, **kw)  # eval.every_steps is 0 here
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


def attention_paths(out: dict) -> None:
    """cuDNN flash attention against the XLA kernel on packed rows with GQA:
    forward and gradients (bf16 tolerances)."""
    import jax.numpy as jnp
    import numpy as np
    from rtt_jax.model import attention as attn
    from rtt_jax.model.transformer import attention_mask
    rng = np.random.default_rng(0)
    b, t, h, kv, d = 4, 512, 16, 4, 64
    q, k, v = (jnp.asarray(rng.normal(size=s), jnp.bfloat16)
               for s in ((b, t, h, d), (b, t, kv, d), (b, t, kv, d)))
    seg = np.repeat(np.arange(1, 9), t // 8)[None].repeat(b, 0)
    mask = attention_mask(jnp.asarray(seg))
    w = jnp.asarray(rng.normal(size=(b, t, h, d)), jnp.float32)
    res = {}
    for impl in ("xla", "cudnn"):
        f = lambda q, k, v: jnp.sum(attn.attend(q, k, v, mask, impl).astype(jnp.float32) * w)  # noqa
        res[impl] = (attn.attend(q, k, v, mask, impl).astype(jnp.float32),
                     jax.grad(f, argnums=(0, 1, 2))(q, k, v))
    out["cudnn_vs_xla_max_abs_err"] = float(jnp.max(jnp.abs(res["cudnn"][0] - res["xla"][0])))
    out["cudnn_vs_xla_grad_max_abs_err"] = [
        float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
        for a, b in zip(res["cudnn"][1], res["xla"][1])]


def throughput(out: dict, steps: int) -> None:
    """The CPU bench shape, then the `gpu` config's model (303M bf16) and a
    larger one, each with the attention kernel auto picks (cuDNN) and with the
    XLA kernel; MFU against the card's dense bf16 peak."""
    import dataclasses

    import train_throughput as tt
    from rtt_jax.configs.base import get_config
    from batches import curriculum_batches
    from rtt_jax.config_validation import model_config
    from rtt_jax.model import train_flops_per_token
    peak = 989e12  # H100/H200 dense bf16 (configs/base.py hardware.peak_flops_by_platform.gpu)
    cfg, seq, batch = tt.SIZES["deep"]
    batches = curriculum_batches(batch, seq, 4)
    out["deep_tok_s"] = tt.run_sharded(cfg, batches, steps) * batch * seq
    gpu = model_config(get_config("gpu"))
    big = dataclasses.replace(gpu, d_model=2048, n_layers=16, n_heads=16)  # ~0.9B
    for name, mc, seq, batch in [("gpu_303M_bf16", gpu, 1024, 32), ("gpu_900M_bf16", big, 1024, 16)]:
        for attention in ("auto", "xla"):
            mc_a = dataclasses.replace(mc, attention=attention)
            batches = curriculum_batches(batch, seq, 2, variant="gpu")
            key = f"{name}_{attention}"
            try:
                t = time.perf_counter()
                tps = tt.run_sharded(mc_a, batches, steps) * batch * seq
                out[key] = {"tok_s": tps, "mfu": train_flops_per_token(mc_a, seq) * tps / peak,
                            "wall_s": time.perf_counter() - t}
            except Exception as e:  # noqa: BLE001 - out of memory at the larger size: record, go on
                out[key] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            print(key, out[key], flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    out = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__}
    print(out, flush=True)
    for part in (correctness, attention_paths, lambda o: throughput(o, args.steps)):
        try:
            part(out)
        except Exception as e:  # noqa: BLE001 - keep what the other parts measured
            out.setdefault("errors", []).append(f"{type(e).__name__}: {e}"[:2000])
        print(json.dumps(out, indent=1, default=str), flush=True)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
