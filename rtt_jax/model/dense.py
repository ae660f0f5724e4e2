"""``dense(x, w) = x @ w``, with a weight gradient XLA:CPU runs as one fast matmul.

Autodiff writes the weight gradient of ``x @ w`` as ``x^T @ dy``: a contraction
over the leading (token) axis of both operands. XLA:CPU's fast matmul path
(YNNPACK) only takes canonical ``[M, K] @ [K, N]`` operands, so it transposed
the larger operand, ``dy``, inside the preceding elementwise fusion (strided
writes: the SwiGLU's silu backward became the most expensive op of the step)
and then ran the product on the slower generic dot. Here the backward
materialises ``x^T`` itself, behind an ``optimization_barrier`` so that XLA
cannot fold the transpose back into the dot, and ``x^T @ dy`` is canonical.

Measured on the demo's shape (d=128, 2 layers, seq 256, batch 16, 2 cores):
the SwiGLU's three weights through ``dense`` took the train step from
315 to 244 ms (1.29x); routing the attention projections and the tied output
head through it too did not help (their transposes cost what they saved), so
only the MLP uses it. The maths is unchanged: the same products, in float32 the
same values to rounding (golden-loss tests).

On GPU and TPU the barrier would only cost a copy (cuBLAS and the TPU take
transposed operands), so there the backward is plain autodiff's.
"""
from __future__ import annotations

import jax


@jax.custom_vjp
def _matmul(x, w):
    return x @ w


def _matmul_fwd(x, w):
    return x @ w, (x, w)


def _matmul_bwd(res, dy):
    x, w = res
    dx = dy @ w.T
    if jax.default_backend() != "cpu":
        return dx, (x.T @ dy).astype(w.dtype)
    if x.shape[-1] <= dy.shape[-1]:  # x^T is the smaller copy
        return dx, (jax.lax.optimization_barrier(x.T) @ dy).astype(w.dtype)
    # x is the wider operand (w_down's [tokens, d_ff] input): transpose dy
    # instead, and the small [N, K] product after, dw = (dy^T x)^T (its own
    # barrier keeps that transpose out of the dot, which would then be generic).
    dwt = jax.lax.optimization_barrier(jax.lax.optimization_barrier(dy.T) @ x)
    return dx, dwt.T.astype(w.dtype)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def dense(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x [..., K] @ w [K, N] -> [..., N]``; see the module docstring."""
    lead = x.shape[:-1]
    y = _matmul(x.reshape(-1, x.shape[-1]), w)
    return y.reshape(*lead, w.shape[-1])


__all__ = ["dense"]
