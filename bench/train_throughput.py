"""Train-step throughput: the sharded loop vs a plain single-device loop.

    python bench/train_throughput.py [--steps 20] [--torch]

For 3 model sizes it measures, in one run and on the same batches:

* ``sharded``: rtt_jax's train step (``make_train_step``: NNX model, explicit
  shardings, donation) on a 1-device mesh, batches placed with
  ``make_array_from_process_local_data`` as in the real loop;
* ``plain``: the same architecture written plainly below in jax.numpy, with
  optax AdamW and a bare ``jax.jit`` step, batches placed with ``jnp.asarray``;
* ``torch`` (with --torch, if PyTorch is installed): the same model in eager
  PyTorch on the same CPU threads, the brief's reference.

MFU is model FLOPs/s (``train_flops_per_token``) over the machine's measured
float32 matmul peak (``bench/matmul_peak.py``). The last line is
``sharded_vs_plain=<ratio> mfu=<fraction>`` for the middle size (d=128, 4
layers, seq 128, batch 64).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from matmul_peak import matmul_peak  # noqa: E402
from rtt_jax.data.builtin_addition import batch_for_step  # noqa: E402
from rtt_jax.model import ModelConfig, train_flops_per_token  # noqa: E402
from rtt_jax.train import sharding as shd  # noqa: E402
from rtt_jax.train.state import init_state, state_layout  # noqa: E402
from rtt_jax.train.step import make_train_step  # noqa: E402

SIZES = {
    "small": (ModelConfig(vocab_size=384, d_model=64, n_layers=2, n_heads=4), 64, 64),
    "middle": (ModelConfig(vocab_size=384, d_model=128, n_layers=4, n_heads=4), 128, 64),
    "large": (ModelConfig(vocab_size=384, d_model=256, n_layers=6, n_heads=8), 128, 32),
}
RULES = [("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"), ("heads", "tensor"),
         ("kv_heads", "tensor"), ("kv", None), ("mlp", "tensor"), ("norm", None)]


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


def run_plain(cfg, batches, steps):
    opt = _optimizer()
    params = plain_init(cfg, jax.random.key(0))
    state = (params, opt.init(params))

    @jax.jit
    def step(state, batch):
        params, opt_state = state
        loss, g = jax.value_and_grad(plain_loss)(params, batch)
        upd, opt_state = opt.update(g, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state), loss

    return _time(lambda s, b: step(s, {k: jnp.asarray(v) for k, v in b.items()}), state, batches, steps)


def run_sharded(cfg, batches, steps):
    mesh = shd.make_mesh({"data": -1}, jax.devices()[:1])
    opt = _optimizer()
    layout = state_layout(cfg, opt, mesh, RULES)
    state = init_state(layout, cfg, opt, 0)
    step = make_train_step(layout, opt, lambda s: 1e-3)
    return _time(lambda s, b: step(s, shd.global_batch(b, mesh)), state, batches, steps)


def _time(step_fn, state, batches, steps):
    state, out = step_fn(state, batches[0])  # compile
    jax.block_until_ready(out)
    best = math.inf
    for rep in range(3):  # best of 3 windows: the machine is shared and noisy
        t = time.perf_counter()
        for i in range(steps):
            state, out = step_fn(state, batches[(i + 1) % len(batches)])
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - t)
    return steps / best


def run_torch(cfg, batches, steps):
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    d, h, hd, f = cfg.d_model, cfg.n_heads, cfg.head_dim_resolved, cfg.d_ff_resolved

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = torch.nn.RMSNorm(d, eps=1e-6), torch.nn.RMSNorm(d, eps=1e-6)
            self.qkv = torch.nn.Linear(d, 3 * h * hd, bias=False)
            self.o = torch.nn.Linear(h * hd, d, bias=False)
            self.gu = torch.nn.Linear(d, 2 * f, bias=False)
            self.down = torch.nn.Linear(f, d, bias=False)

        def forward(self, x, mask, cos, sin):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.n1(x)).view(b, t, 3, h, hd).permute(2, 0, 3, 1, 4)
            rot = lambda z: torch.cat([z[..., :hd // 2] * cos - z[..., hd // 2:] * sin,  # noqa: E731
                                       z[..., hd // 2:] * cos + z[..., :hd // 2] * sin], -1)
            a = F.scaled_dot_product_attention(rot(q), rot(k), v, attn_mask=mask)
            x = x + self.o(a.transpose(1, 2).reshape(b, t, h * hd))
            g, u = self.gu(self.n2(x)).chunk(2, -1)
            return x + self.down(F.silu(g) * u)

    class GPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(cfg.vocab_size, d)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(cfg.n_layers))
            self.norm = torch.nn.RMSNorm(d, eps=1e-6)

        def forward(self, tok, seg, pos):
            t = tok.shape[1]
            mask = ((seg[:, :, None] == seg[:, None, :]) & torch.ones(t, t, dtype=torch.bool).tril())[:, None]
            ang = pos[..., None].float() * 10000.0 ** (-torch.arange(hd // 2) / (hd // 2))
            cos, sin = ang.cos()[:, None], ang.sin()[:, None]
            x = self.emb(tok)
            for blk in self.blocks:
                x = blk(x, mask, cos, sin)
            return self.norm(x) @ self.emb.weight.T

    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    tb = [{k: torch.from_numpy(v.astype(np.int64)) for k, v in b.items()} for b in batches]

    def step(_, b):
        logits = model(b["tokens"][:, :-1], b["segment_ids"][:, :-1], b["positions"][:, :-1])
        m = b["loss_mask"][:, 1:].float()
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["tokens"][:, 1:].reshape(-1),
                             reduction="none")
        loss = (ce * m.reshape(-1)).sum() / m.sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return None, loss

    step(None, tb[0])
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for i in range(steps):
            step(None, tb[(i + 1) % len(tb)])
        best = min(best, time.perf_counter() - t)
    return steps / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--torch", action="store_true", help="also time eager PyTorch (if installed)")
    ap.add_argument("--sizes", default="small,middle,large")
    args = ap.parse_args()
    peak = matmul_peak()
    print(f"backend={jax.default_backend()} measured float32 matmul peak={peak / 1e9:.1f} GFLOP/s")
    result = {}
    for name in args.sizes.split(","):
        cfg, seq, batch = SIZES[name]
        batches = [batch_for_step(0, i, batch, seq) for i in range(4)]
        tokens = batch * seq
        fpt = train_flops_per_token(cfg, seq)
        rows = {"plain": run_plain(cfg, batches, args.steps),
                "sharded": run_sharded(cfg, batches, args.steps)}
        if args.torch:
            try:
                rows["torch"] = run_torch(cfg, batches, args.steps)
            except ImportError:
                print("torch not installed; skipping the PyTorch reference")
        for k, sps in rows.items():
            tps = sps * tokens
            print(f"{name:>6} d={cfg.d_model} L={cfg.n_layers} seq={seq} batch={batch}  {k:>7}: "
                  f"{tps:>9,.0f} tok/s  mfu={fpt * tps / peak:.3f}")
        ratio = rows["sharded"] / rows["plain"]
        extra = f" sharded_vs_torch={rows['sharded'] / rows['torch']:.3f}" if "torch" in rows else ""
        print(f"{name:>6}: sharded_vs_plain={ratio:.3f}{extra}")
        result[name] = (ratio, fpt * rows["sharded"] * tokens / peak)
    ratio, mfu = result.get("middle", next(iter(result.values())))
    print(f"sharded_vs_plain={ratio:.3f} mfu={mfu:.3f}")


if __name__ == "__main__":
    main()
