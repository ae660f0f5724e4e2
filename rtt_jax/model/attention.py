"""Attention kernels behind one function, chosen by ``ModelConfig.attention``.

* ``xla``: head-major einsums written here (the CPU default; also the KV-cache
  decode path everywhere). The G query heads that share a kv head are stacked
  along the query axis ([B, K, G*Tq, D]), so both products are plain batched
  matmuls over (B, K) and the [.., Tq, Tk] score tensors are never transposed;
  the mask enters as an additive bias (no select in the backward pass). On
  one CPU core this made the 2-layer d=128 step 1.2-1.26x faster than einsums
  over [B, Tq, K, G, D]; a custom VJP with canonical matmul layouts
  (``_grouped_core_bwd``) took another 1.1x.
* ``dot_product_attention``: ``jax.nn.dot_product_attention`` with its default
  (XLA) implementation: the library's path, for comparison and as the
  portable fallback.
* ``cudnn``: ``jax.nn.dot_product_attention(implementation="cudnn")``, cuDNN's
  fused flash attention on NVIDIA GPUs (bf16/fp16 only). Packed rows enter as
  ``is_causal`` plus the block-diagonal segment mask; GQA is native.
* ``auto``: ``cudnn`` on a GPU when the compute dtype is bf16/fp16, else ``xla``.

Packed rows of short segments (``banded``, ``Band``): with the XLA kernel,
the train step runs attention over a band of key blocks whenever every
segment of the batch fits it (``band_fits``, checked per batch: the same
maths, so both kernels are compiled and a ``lax.cond`` picks one). Queries in
blocks of C see their own and the previous ``window - 1`` blocks' keys; the
blocks become batch entries of the same core, so the score tensors shrink
from [T, T] to [C, window * C] per block. At the demo shape (seq 256,
segments of at most 47 tokens, C = 64) that halves the attention work; on
one core the train step was 1.04x faster (docs/benchmarks.md).

"The same maths" is checked, not assumed: tests/test_banded_attention.py
compares the whole model's logits and loss gradients with the full kernel's
(float32, 1e-5) on rows with segments across block edges, of exactly block
and window length, longer than the window, with padding, and on best_fit's
rows of 256, and checks that ``band_fits`` accepts exactly the rows whose
segments lie in the band. The two kernels sum in different orders, so a
training run with the band is not bitwise the run without it: like any such
change (XLA's thread count is another), the rounding difference can grow
into a different trajectory (docs/benchmarks.md).

Segment ids, causal masking and GQA mean the same in every path; the tests
check forward values and gradients of each against ``xla``.
"""
from __future__ import annotations

import flax
import jax
import jax.numpy as jnp

IMPLEMENTATIONS = ("auto", "xla", "dot_product_attention", "cudnn")


def resolve(implementation: str, dtype) -> str:
    """The concrete kernel for ``implementation`` on the default backend."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"model.attention={implementation!r}: expected one of {IMPLEMENTATIONS}")
    if implementation != "auto":
        return implementation
    half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
    return "cudnn" if jax.default_backend() == "gpu" and half else "xla"


def _transposed(x):
    """x with its last two axes swapped, materialised: the barrier keeps XLA
    from folding the transpose back into the dot that reads it."""
    return jax.lax.optimization_barrier(jnp.swapaxes(x, -1, -2))


def _probs(qh, kh, bias):
    """softmax(qh kh^T + bias) in float32; qh [B,K,G*T,D], bias [B,T,S]."""
    b, kv, gt, _ = qh.shape
    scores = jnp.einsum("bkqd,bksd->bkqs", qh, kh, preferred_element_type=jnp.float32)
    groups = gt // bias.shape[1]
    scores = (scores.reshape(b, kv, groups, gt // groups, -1) + bias[:, None, None]).reshape(scores.shape)
    return jax.nn.softmax(scores, axis=-1)


@jax.custom_vjp
def _grouped_core(qh, kh, vh, bias):
    """softmax(qh kh^T + bias) vh over head-major [B, K, G*T, D] operands."""
    return jnp.einsum("bkqs,bksd->bkqd", _probs(qh, kh, bias).astype(vh.dtype), vh)


def _grouped_core_fwd(qh, kh, vh, bias):
    p = _probs(qh, kh, bias)
    o = jnp.einsum("bkqs,bksd->bkqd", p.astype(vh.dtype), vh)
    return o, (qh, kh, vh, bias, p, o)


def _grouped_core_bwd(res, do):
    """Autodiff's maths, arranged for XLA:CPU's matmul layouts.

    dk and dv contract over the query axis of the [T, S] probabilities.
    Autodiff's layout sent both to the generic (slow) dot; computing dk^T =
    qh^T ds and dv^T = do^T p instead transposes only the small [T, D]
    operands, and every product is a canonical one. The softmax backward
    uses delta = rowsum(do * o) ([T, D]) in place of rowsum(dp * p) ([T, S]),
    equal in exact arithmetic. Measured: train step 1.1x at both bench shapes.
    """
    qh, kh, vh, bias, p, o = res
    dp = jnp.einsum("bkqd,bksd->bkqs", do, vh, preferred_element_type=jnp.float32)
    delta = jnp.sum(do.astype(jnp.float32) * o.astype(jnp.float32), axis=-1, keepdims=True)
    ds = (p * (dp - delta)).astype(qh.dtype)
    dq = jnp.einsum("bkqs,bksd->bkqd", ds, kh)
    dk_t = jnp.einsum("bkdq,bkqs->bkds", _transposed(qh), ds)
    dv_t = jnp.einsum("bkdq,bkqs->bkds", _transposed(do), p.astype(do.dtype))
    return dq, jnp.swapaxes(dk_t, -1, -2), jnp.swapaxes(dv_t, -1, -2), jnp.zeros_like(bias)


_grouped_core.defvjp(_grouped_core_fwd, _grouped_core_bwd)


def head_major(q, k, v, mask, kv_head_major: bool = False):
    """q: [B,Tq,H,D]; k, v: [B,Tk,K,D] (or [B,K,Tk,D] with ``kv_head_major``,
    the KV cache's layout); mask: bool [B,Tq,Tk] -> [B,Tq,H,D]."""
    b, tq, h, hd = q.shape
    kh, vh = (k, v) if kv_head_major else (k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3))
    kv = kh.shape[1]  # kh, vh: [B, K, Tk, D]
    groups = h // kv
    qh = (q * (hd ** -0.5)).reshape(b, tq, kv, groups, hd).transpose(0, 2, 3, 1, 4)
    qh = qh.reshape(b, kv, groups * tq, hd)
    # exp(-1e30 - max) is exactly 0, as where(mask, s, finfo.min) gave; -1e30
    # leaves room below it, so a sum with real scores never overflows.
    bias = jnp.where(mask, 0.0, -1e30).astype(jnp.float32)  # [B, Tq, Tk]
    out = _grouped_core(qh, kh, vh, bias)  # [B, K, G*Tq, D]
    return out.reshape(b, kv, groups, tq, hd).transpose(0, 3, 1, 2, 4).reshape(b, tq, h, hd)


# ---- packed rows of short segments: attention within a band of key blocks ----

@flax.struct.dataclass
class Band:
    """The mask of ``banded``: queries in blocks of ``block`` rows see the keys
    of their own block and the ``window - 1`` blocks before it; ``visible``
    ([B * n_blocks, block, window * block] bool) is the packed-row mask
    (causal, same segment) restricted to that band."""
    visible: jax.Array
    block: int = flax.struct.field(pytree_node=False)
    window: int = flax.struct.field(pytree_node=False)


def _key_windows(x, block: int, window: int, fill):
    """x [B, T, ...] -> [B, n, window * block, ...]: for each block of rows,
    the rows of the ``window - 1`` blocks before it and its own (``fill``
    before the row's start)."""
    b, t = x.shape[:2]
    pad = jnp.full((b, (window - 1) * block, *x.shape[2:]), fill, x.dtype)
    xp = jnp.concatenate([pad, x], axis=1)
    n = t // block
    return jnp.stack([xp[:, i * block:i * block + window * block] for i in range(n)], axis=1)


def band_mask(segment_ids, block: int, window: int) -> Band:
    """``attention_mask(segment_ids)`` restricted to the band (``Band``)."""
    b, t = segment_ids.shape
    n = t // block
    idx = jnp.arange(t)
    q_idx = idx.reshape(n, block)[None, :, :, None]  # [1, n, C, 1]
    k_idx = _key_windows(idx[None], block, window, -1)[:, :, None, :]  # [1, n, 1, W]
    q_seg = segment_ids.reshape(b, n, block)[..., None]
    k_seg = _key_windows(segment_ids, block, window, -1)[:, :, None, :]
    visible = (k_idx >= 0) & (k_idx <= q_idx) & (q_seg == k_seg) & ((q_seg != 0) | (k_idx == q_idx))
    return Band(visible.reshape(b * n, block, window * block), block, window)


def band_fits(mask, block: int, window: int):
    """True when every visible pair of the full mask ([B, T, T] bool) lies in
    the band, so ``banded`` computes exactly what the full kernel does."""
    t = mask.shape[-1]
    q = jnp.arange(t)[:, None]
    k = jnp.arange(t)[None, :]
    outside = k < (q // block - (window - 1)) * block
    return ~jnp.any(mask & outside)


def banded(q, k, v, band: Band):
    """``head_major``'s maths over the band only: q [B,T,H,D], k/v [B,T,K,D].

    Rows are cut into n blocks of C queries, each with its window of W = w*C
    keys, and the blocks become batch entries of the same core
    (``_grouped_core``: [B*n, K, G*C, D] queries against [B*n, K, W, D]
    keys), so the score tensors are [.., C, W] instead of [.., T, T]: W/T of
    the work. Gradients of the overlapping key windows are summed back by
    autodiff of the window gather."""
    b, t, h, hd = q.shape
    kv = k.shape[2]
    groups, c, w = h // kv, band.block, band.window
    n = t // c
    qh = (q * (hd ** -0.5)).reshape(b, n, c, kv, groups, hd).transpose(0, 1, 3, 4, 2, 5)
    qh = qh.reshape(b * n, kv, groups * c, hd)

    def windows(x):  # [B, T, K, D] -> [B*n, K, W*C, D]
        return _key_windows(x, c, w, 0).transpose(0, 1, 3, 2, 4).reshape(b * n, kv, w * c, hd)
    bias = jnp.where(band.visible, 0.0, -1e30).astype(jnp.float32)
    out = _grouped_core(qh, windows(k), windows(v), bias)  # [B*n, K, G*C, D]
    out = out.reshape(b, n, kv, groups, c, hd).transpose(0, 1, 4, 2, 3, 5)
    return out.reshape(b, t, h, hd)


def library(q, k, v, mask, implementation: str | None):
    """``jax.nn.dot_product_attention`` on [B,T,H,D] / [B,S,K,D] with a bool
    [B,Tq,Tk] mask (causal and same-segment already folded in)."""
    if implementation == "cudnn":
        # cuDNN skips the masked upper triangle when told the mask is causal;
        # the segment mask rides along as a (broadcast over heads) mask.
        return jax.nn.dot_product_attention(q, k, v, mask=mask[:, None], is_causal=True,
                                            implementation="cudnn")
    return jax.nn.dot_product_attention(q, k, v, mask=mask[:, None], implementation=implementation)


def attend(q, k, v, mask, implementation: str = "xla"):
    """Self-attention of packed rows: q [B,T,H,D], k/v [B,T,K,D], mask bool
    [B,T,T] (or a ``Band``) -> [B,T,H,D], by the kernel ``implementation``
    names (resolved)."""
    if isinstance(mask, Band):
        return banded(q, k, v, mask)
    if implementation == "xla":
        return head_major(q, k, v, mask)
    if implementation == "dot_product_attention":
        return library(q, k, v, mask, None)
    if implementation == "cudnn":
        return library(q, k, v, mask, "cudnn")
    raise ValueError(f"unresolved attention implementation {implementation!r}")


__all__ = ["IMPLEMENTATIONS", "Band", "attend", "band_fits", "band_mask", "banded", "head_major",
           "library", "resolve"]
