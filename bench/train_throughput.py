"""Train-step throughput: rtt_jax against eager PyTorch, side by side in one run.

    python bench/train_throughput.py [--torch] [--plain] [--rounds 3] [--steps 10]

For each shape (the two of issue 12, which a user compares us on) it times, on
the same batches and CPU threads, alternating implementations round by round
and taking each one's median round:

* ``rtt``: rtt_jax's train step (``make_train_step``: NNX model, explicit
  shardings, donation) on a 1-device mesh, batches placed with
  ``make_array_from_process_local_data`` as in the real loop;
* ``nanogpt`` (--torch): nanoGPT's architecture and step in eager PyTorch
  (bench/torch_reference.py), what a user would run instead of us;
* ``torch_ours`` (--torch): rtt_jax's own architecture in eager PyTorch;
* ``plain`` (--plain): rtt_jax's architecture written plainly in jax.numpy
  below, with a bare ``jax.jit`` step (what the project's plumbing costs).

MFU is model FLOPs/s (``train_flops_per_token``) over this machine's measured
float32 matmul peak (``bench/matmul_peak.py``, which also caches it for the
trainer's MFU). With --torch the last line is
``rtt_vs_nanogpt=<min over the shapes> rtt_vs_torch_same_arch=<min over the
shapes> mfu=<rtt's MFU at the demo shape>``, where ``torch_same_arch`` is
``torch_ours`` (the like-for-like ratio); else ``sharded_vs_plain=...``.
About 2 minutes on 2 idle cores with the defaults.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from matmul_peak import matmul_peak
from batches import curriculum_batches
from rtt_jax.batch_sharding import global_batch
from rtt_jax.model import ModelConfig, train_flops_per_token
from rtt_jax.train import sharding as shd
from rtt_jax.train.state import init_state, state_layout
from rtt_jax.train.step import make_train_step

SIZES = {
    # (model, seq_len, batch). "demo" is make demo's shape; "deep" issue 12's second.
    "demo": (ModelConfig(vocab_size=384, d_model=128, n_layers=2, n_heads=4), 256, 16),
    "deep": (ModelConfig(vocab_size=384, d_model=128, n_layers=4, n_heads=4), 128, 64),
    # The shape make demo's runs train (configs/experiments/_common.py CPU_BUDGET):
    # compare with tokens_per_sec in their metrics.jsonl (end-to-end check).
    "demo_run": (ModelConfig(vocab_size=384, d_model=128, n_layers=2, n_heads=4, n_kv_heads=2), 256, 4),
    "small": (ModelConfig(vocab_size=384, d_model=64, n_layers=2, n_heads=4), 64, 64),
    "middle": (ModelConfig(vocab_size=384, d_model=128, n_layers=4, n_heads=4), 128, 64),
    "large": (ModelConfig(vocab_size=384, d_model=256, n_layers=6, n_heads=8), 128, 32),
}
RULES = [("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"), ("heads", "tensor"),
         ("kv_heads", "tensor"), ("kv", None), ("mlp", "tensor"), ("norm", None), ("layers", None)]


def _optimizer():
    return optax.chain(optax.clip_by_global_norm(1.0),
                       optax.adamw(1e-3, b1=0.9, b2=0.95, weight_decay=0.1,
                                   mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)))


# ---- the plain reference: the same model, written out in jax.numpy ----------

def plain_init(cfg: ModelConfig, key):
    d, h, hd, f = cfg.d_model, cfg.n_heads, cfg.head_dim_resolved, cfg.d_ff_resolved
    keys = iter(jax.random.split(key, 8 * cfg.n_layers + 2))
    n = lambda shape, std=0.02: std * jax.random.normal(next(keys), shape)  # noqa: E731
    layers = [dict(n1=jnp.ones(d), wq=n((d, h, hd)), wk=n((d, h, hd)), wv=n((d, h, hd)),
                   wo=n((h, hd, d)), n2=jnp.ones(d), wg=n((d, f)), wu=n((d, f)), wd=n((f, d)))
              for _ in range(cfg.n_layers)]
    return dict(embed=n((cfg.vocab_size, d)), layers=layers, norm=jnp.ones(d))


def _rms(x, s):
    return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-6) * s


def _rope(x, pos):
    half = x.shape[-1] // 2
    ang = pos[..., None].astype(jnp.float32) * 10000.0 ** (-jnp.arange(half) / half)
    sin, cos = jnp.sin(ang)[:, :, None], jnp.cos(ang)[:, :, None]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


def plain_loss(p, batch):
    tok, seg, pos = batch["tokens"][:, :-1], batch["segment_ids"][:, :-1], batch["positions"][:, :-1]
    t = tok.shape[1]
    mask = (seg[:, :, None] == seg[:, None, :]) & jnp.tril(jnp.ones((t, t), bool))
    x = p["embed"][tok]
    for L in p["layers"]:
        y = _rms(x, L["n1"])
        q = _rope(jnp.einsum("btd,dhk->bthk", y, L["wq"]), pos)
        k = _rope(jnp.einsum("btd,dhk->bthk", y, L["wk"]), pos)
        v = jnp.einsum("btd,dhk->bthk", y, L["wv"])
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        a = jax.nn.softmax(jnp.where(mask[:, None], s, -1e30), -1)
        x = x + jnp.einsum("bqhd,hdm->bqm", jnp.einsum("bhqk,bkhd->bqhd", a, v), L["wo"])
        y = _rms(x, L["n2"])
        x = x + (jax.nn.silu(y @ L["wg"]) * (y @ L["wu"])) @ L["wd"]
    logits = _rms(x, p["norm"]) @ p["embed"].T
    tgt = batch["tokens"][:, 1:]
    full = batch["segment_ids"]
    m = batch["loss_mask"][:, 1:] * (full[:, 1:] == full[:, :-1]) * (full[:, 1:] > 0)
    ce = jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, tgt[..., None], -1)[..., 0]
    return (ce * m).sum() / jnp.maximum(m.sum(), 1)


def plain_stepper(cfg):
    """(state, step(state, host_batch) -> (state, loss)) for the plain jnp model."""
    opt = _optimizer()
    params = plain_init(cfg, jax.random.key(0))

    @jax.jit
    def step(state, batch):
        params, opt_state = state
        loss, g = jax.value_and_grad(plain_loss)(params, batch)
        upd, opt_state = opt.update(g, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state), loss

    return (params, opt.init(params)), lambda s, b: step(s, {k: jnp.asarray(v) for k, v in b.items()})


def rtt_train_step(cfg):
    """(layout, jitted train step, mesh): rtt_jax's own step on a 1-device mesh."""
    mesh = shd.make_mesh({"data": -1}, jax.devices()[:1])
    opt = _optimizer()
    layout = state_layout(cfg, opt, mesh, RULES)
    return layout, make_train_step(layout, opt, lambda s: 1e-3), mesh


def rtt_stepper(cfg):
    """(state, step) for rtt_jax's own train step, batches placed as the loop does."""
    layout, step, mesh = rtt_train_step(cfg)
    state = init_state(layout, cfg, _optimizer(), 0)
    return state, lambda s, b: step(s, global_batch(b, mesh))


class JaxTimer:
    """Times windows of ``steps`` steps; the state carries over between windows."""

    def __init__(self, stepper, cfg, batches):
        self.state, self.step = stepper(cfg)
        self.batches = batches
        self.state, out = self.step(self.state, batches[0])  # compile
        jax.block_until_ready(out)

    def window(self, steps: int) -> float:
        t = CLOCK[0]()
        for i in range(steps):
            self.state, out = self.step(self.state, self.batches[(i + 1) % len(self.batches)])
        jax.block_until_ready(out)
        return steps / (CLOCK[0]() - t)


class TorchTimer:
    def __init__(self, kind, cfg, batches):
        from torch_reference import make_torch_step, torch_batches
        self.batches = torch_batches(batches)
        self.step = make_torch_step(kind, cfg, self.batches[0]["tokens"].shape[1] - 1)
        self.step(self.batches[0])  # warm-up

    def window(self, steps: int) -> float:
        t = CLOCK[0]()
        for i in range(steps):
            self.step(self.batches[(i + 1) % len(self.batches)])
        return steps / (CLOCK[0]() - t)


def run_sharded(cfg, batches, steps):
    """Best-of-3 steps/s of rtt_jax's step (bench/gpu_check.py uses this)."""
    timer = JaxTimer(rtt_stepper, cfg, batches)
    return max(timer.window(steps) for _ in range(3))


# What a window is timed by: wall seconds, or (--cpu_time) this process's CPU
# seconds, the steadier figure for one thread on a loaded machine.
CLOCK = [time.perf_counter]


def measure(cfg, batches, steps: int, rounds: int, torch: bool, plain: bool,
            stat=statistics.median) -> dict:
    """Median steps/s per implementation, alternating them round by round so
    that a noisy neighbour hits all of them alike."""
    timers = {"rtt": JaxTimer(rtt_stepper, cfg, batches)}
    if plain:
        timers["plain"] = JaxTimer(plain_stepper, cfg, batches)
    if torch:
        try:
            timers["nanogpt"] = TorchTimer("nanogpt", cfg, batches)
            timers["torch_ours"] = TorchTimer("ours", cfg, batches)
        except ImportError:
            print("torch not installed (pip install torch); skipping the PyTorch references")
    runs = {k: [] for k in timers}
    for _ in range(rounds):
        for k, timer in timers.items():
            runs[k].append(timer.window(steps))
    return {k: stat(v) for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6, help="steps per timed window")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (median taken)")
    ap.add_argument("--torch", action="store_true", help="also time the PyTorch references")
    ap.add_argument("--plain", action="store_true", help="also time the plain jax.numpy step")
    ap.add_argument("--sizes", default="demo,deep")
    ap.add_argument("--cpu_time", action="store_true",
                    help="time windows in process CPU seconds (one thread on a loaded machine: "
                    "with XLA_FLAGS=--xla_cpu_multi_thread_eigen=false and --torch_threads 1)")
    ap.add_argument("--torch_threads", type=int, default=0, help="torch.set_num_threads (0: its default)")
    ap.add_argument("--stat", choices=("median", "best"), default="median",
                    help="each implementation's median round, or its best (fastest)")
    args = ap.parse_args()
    if args.cpu_time:
        CLOCK[0] = time.process_time
    if args.torch_threads:
        import torch
        torch.set_num_threads(args.torch_threads)
    stat = statistics.median if args.stat == "median" else max  # rounds are steps/s
    peak = matmul_peak()
    print(f"backend={jax.default_backend()} threads={len(os.sched_getaffinity(0))} "
          f"measured float32 matmul peak={peak / 1e9:.1f} GFLOP/s")
    ratios, mfus = {}, {}
    for name in args.sizes.split(","):
        cfg, seq, batch = SIZES[name]
        batches = curriculum_batches(batch, seq, 4)
        tokens = batch * seq
        fpt = train_flops_per_token(cfg, seq)
        rows = measure(cfg, batches, args.steps, args.rounds, args.torch, args.plain, stat)
        for k, sps in rows.items():
            tps = sps * tokens
            print(f"{name:>6} d={cfg.d_model} L={cfg.n_layers} seq={seq} batch={batch}  {k:>10}: "
                  f"{tps:>9,.0f} tok/s  {1e3 / sps:7.1f} ms/step  mfu={fpt * tps / peak:.3f}")
        mfus[name] = fpt * rows["rtt"] * tokens / peak
        label = {"torch_ours": "torch_same_arch"}
        parts = [f"{label.get(other, other)}={rows['rtt'] / rows[other]:.3f}"
                 for other in ("nanogpt", "torch_ours", "plain") if other in rows]
        print(f"{name:>6}: rtt_vs_" + " rtt_vs_".join(parts) if parts else f"{name:>6}")
        ratios[name] = {k: rows["rtt"] / v for k, v in rows.items() if k != "rtt"}
    mfu = mfus.get("demo", next(iter(mfus.values())))
    nano = [r["nanogpt"] for r in ratios.values() if "nanogpt" in r]
    same = [r["torch_ours"] for r in ratios.values() if "torch_ours" in r]
    if nano:
        print(f"rtt_vs_nanogpt={min(nano):.3f} rtt_vs_torch_same_arch={min(same):.3f} mfu={mfu:.3f}")
    else:
        plain = [r["plain"] for r in ratios.values() if "plain" in r]
        print(f"sharded_vs_plain={min(plain):.3f} mfu={mfu:.3f}" if plain else f"mfu={mfu:.3f}")


if __name__ == "__main__":
    main()
