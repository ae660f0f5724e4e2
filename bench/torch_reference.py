"""PyTorch eager references for ``bench/train_throughput.py --torch``.

Two models, each with its training step, timed on the same batches and CPU
threads as rtt_jax's step:

* ``nanogpt``: nanoGPT's architecture and step, written here from its
  description (not copied): learned absolute positions, pre-LayerNorm without
  bias, one fused QKV projection, causal ``scaled_dot_product_attention``, a
  GELU MLP of 4*d, tied input/output embeddings, AdamW (betas 0.9/0.95, weight
  decay on matrices only), global-norm clipping at 1.0, and the cross-entropy
  over every position. It is what a user would run instead of us.
* ``ours``: rtt_jax's own architecture (RMSNorm, RoPE from explicit per-segment
  positions, SwiGLU, tied embeddings) with a packed-row mask and the masked
  loss, so the pair separates "PyTorch vs JAX" from "their model vs ours".
"""
from __future__ import annotations

import math
import time

import numpy as np


def _torch():
    import torch  # imported lazily: torch is a bench-only dependency
    return torch


def nanogpt_model(cfg):
    torch = _torch()
    F = torch.nn.functional
    d, h = cfg.d_model, cfg.n_heads

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = torch.nn.LayerNorm(d, bias=False)
            self.qkv = torch.nn.Linear(d, 3 * d, bias=False)
            self.proj = torch.nn.Linear(d, d, bias=False)
            self.ln2 = torch.nn.LayerNorm(d, bias=False)
            self.fc = torch.nn.Linear(d, 4 * d, bias=False)
            self.out = torch.nn.Linear(4 * d, d, bias=False)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(torch.nn.Module):
        def __init__(self, seq_len: int):
            super().__init__()
            self.wte = torch.nn.Embedding(cfg.vocab_size, d)
            self.wpe = torch.nn.Embedding(seq_len, d)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(cfg.n_layers))
            self.ln_f = torch.nn.LayerNorm(d, bias=False)
            self.head = torch.nn.Linear(d, cfg.vocab_size, bias=False)
            self.head.weight = self.wte.weight  # tied
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * cfg.n_layers) if name.endswith(("proj.weight", "out.weight")) else 0.02
                    torch.nn.init.normal_(p, 0.0, std)

        def forward(self, tok):
            pos = torch.arange(tok.shape[1])
            x = self.wte(tok) + self.wpe(pos)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln_f(x))

    def loss_fn(model, b):
        logits = model(b["tokens"][:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["tokens"][:, 1:].reshape(-1))
    return GPT, loss_fn


def ours_model(cfg):
    torch = _torch()
    F = torch.nn.functional
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
        def __init__(self, seq_len: int):
            super().__init__()
            del seq_len  # positions come with the batch (RoPE)
            self.emb = torch.nn.Embedding(cfg.vocab_size, d)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(cfg.n_layers))
            self.norm = torch.nn.RMSNorm(d, eps=1e-6)

        def forward(self, tok, seg, pos):
            t = tok.shape[1]
            eye = torch.eye(t, dtype=torch.bool)
            # Causal, same segment; padding (segment 0) sees itself only, as
            # rtt_jax.model.transformer.attention_mask.
            mask = ((seg[:, :, None] == seg[:, None, :]) & torch.ones(t, t, dtype=torch.bool).tril()
                    & ((seg != 0)[:, :, None] | eye))[:, None]
            ang = pos[..., None].float() * 10000.0 ** (-torch.arange(hd // 2) / (hd // 2))
            cos, sin = ang.cos()[:, None], ang.sin()[:, None]
            x = self.emb(tok)
            for blk in self.blocks:
                x = blk(x, mask, cos, sin)
            return self.norm(x) @ self.emb.weight.T

    def loss_fn(model, b):
        logits = model(b["tokens"][:, :-1], b["segment_ids"][:, :-1], b["positions"][:, :-1])
        seg = b["segment_ids"]
        m = (b["loss_mask"][:, 1:] * (seg[:, 1:] == seg[:, :-1]) * (seg[:, 1:] > 0)).float()
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["tokens"][:, 1:].reshape(-1),
                             reduction="none")
        return (ce * m.reshape(-1)).sum() / m.sum().clamp(min=1)
    return GPT, loss_fn


MODELS = {"nanogpt": nanogpt_model, "ours": ours_model}


def make_torch_step(kind: str, cfg, seq_len: int):
    """Returns ``step(batch) -> loss`` (eager PyTorch, AdamW, clip 1.0)."""
    torch = _torch()
    torch.manual_seed(0)
    model_cls, loss_fn = MODELS[kind](cfg)
    model = model_cls(seq_len)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.95))

    def step(b):
        loss = loss_fn(model, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss
    return step


def torch_batches(batches):
    torch = _torch()
    return [{k: torch.from_numpy(np.asarray(v).astype(np.int64)) for k, v in b.items()} for b in batches]


def time_torch(kind: str, cfg, batches, steps: int, windows: int = 3) -> float:
    """Best-of-``windows`` steps/s of the ``kind`` reference on ``batches``."""
    tb = torch_batches(batches)
    step = make_torch_step(kind, cfg, tb[0]["tokens"].shape[1] - 1)
    step(tb[0])  # warm-up
    best = math.inf
    for _ in range(windows):
        t = time.perf_counter()
        for i in range(steps):
            step(tb[(i + 1) % len(tb)])
        best = min(best, time.perf_counter() - t)
    return steps / best
