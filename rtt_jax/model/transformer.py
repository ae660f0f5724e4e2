"""A decoder-only transformer in Flax NNX, with logical-axis annotations.

Design points (see docs/design.md):

* The module takes plain arguments (``ModelConfig``) and never reads files.
* Every parameter carries logical axis names (``vocab``, ``embed``, ``heads``,
  ``kv_heads``, ``kv``, ``mlp``, ``norm``). ``rtt_jax.train.sharding`` maps them
  to mesh axes; the model itself never names a mesh axis.
* Packed rows: the attention mask is causal *and* block-diagonal over
  ``segment_ids``, and rotary embeddings are driven by explicit per-segment
  ``positions``, so a packed row computes exactly what its segments would alone.
  ``model.positions`` says what those ids are (``rope``; ``random_rope``,
  whose training ids the train step draws with ``model/positions.py``;
  ``coupled``, ids tied to the question's terms; ``none``, no rotary
  embedding), and ``model.position_skip`` adds a random skip in training.
  Padding (segment 0) attends to itself only. The train step may run the
  banded kernel (``banded=True``, ``model.attention_block``) when a batch's
  segments fit its band.
* ``model.scan_layers`` stacks the blocks' parameters on a leading ``layers``
  axis and runs them under ``nnx.scan`` (``stack_layers``): the same values
  and maths as the unrolled loop, one compiled block.
* Logits and log-softmax are float32 whatever the compute dtype.
* ``forward_cached`` (and ``cached`` on Block/Attention) is the KV-cache path
  used by ``rtt_jax.model.sampler``; it reuses the same projections and
  ``attend``, so cached decoding computes what ``__call__`` does.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from rtt_jax.model import attention as attention_kernels
from rtt_jax.model import positions as position_ids
from rtt_jax.model.dense import dense

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 384
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 0  # 0: same as n_heads (multi-head); fewer: grouped-query
    head_dim: int = 0  # 0: d_model // n_heads
    d_ff: int = 0  # 0: SwiGLU default, ~8/3 d_model rounded up to 64
    rope_theta: float = 10_000.0
    tie_embeddings: bool = True
    dtype: str = "float32"  # compute dtype
    param_dtype: str = "float32"
    norm_eps: float = 1e-6
    init_std: float = 0.02
    remat: bool = False  # rematerialise each block in the backward pass
    # What remat keeps: a jax.checkpoint_policies name ("nothing_saveable" =
    # recompute everything; "dots_with_no_batch_dims_saveable" keeps the
    # projections' outputs and recomputes attention; ...).
    remat_policy: str = "nothing_saveable"
    attention: str = "auto"  # auto | xla | dot_product_attention | cudnn (model/attention.py)
    # Position ids for RoPE (model/positions.py): rope | random_rope (training
    # ids a sorted random subset of [0, max_position)) | coupled (completion
    # lines on the question's ids) | none (NoPE).
    positions: str = "rope"
    # rope, coupled: in training, ids jump ahead once at a random cut (PoSE).
    position_skip: bool = False
    max_position: int = 0  # random_rope, position_skip: the ids' upper bound (exclusive)
    # coupled: completion line k starts at id anchor + stride * k (the task
    # family's position_coupling); newline_id is the run tokenizer's "\n",
    # filled in by config validation.
    coupling_anchor: int = 0
    coupling_stride: int = 0
    coupling_prompt: str = "question"  # or contiguous: the prompt's ids (model/positions.py)
    newline_id: int = -1
    # Stack the blocks' parameters along a leading "layers" axis and run them
    # under nnx.scan: one compiled block, so compile time stays flat in depth
    # (docs/benchmarks.md). Off by default: on a CPU the scanned step is
    # slower (the loop's stacked residuals are zero-filled and copied). The
    # parameter tree differs (blocks.attn.wq is [layers, ...] instead of
    # blocks.<i>.attn.wq); checkpoints convert (train/layer_layout.py).
    scan_layers: bool = False
    # Packed rows of short segments: the train step runs attention in blocks
    # of attention_block queries against their own and the previous
    # attention_window_blocks - 1 blocks' keys whenever every segment of the
    # batch fits that band (checked per batch; else the full kernel). The XLA
    # kernel only; 0: off, as in configs/base.py (it gained nothing on make
    # demo). model/attention.py, "Packed rows of short segments".
    attention_block: int = 0
    attention_window_blocks: int = 2

    def __post_init__(self):
        for name in ("dtype", "param_dtype"):
            if getattr(self, name) not in DTYPES:
                raise ValueError(f"model.{name}={getattr(self, name)!r}: expected one of {sorted(DTYPES)}")
        if self.n_heads <= 0 or self.d_model <= 0 or self.n_layers <= 0:
            raise ValueError("model.d_model, model.n_heads and model.n_layers must be positive")
        if self.kv_heads_resolved <= 0 or self.n_heads % self.kv_heads_resolved:
            raise ValueError(f"model.n_kv_heads={self.n_kv_heads} must divide model.n_heads={self.n_heads}")
        if not self.head_dim and self.d_model % self.n_heads:
            raise ValueError(f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}; set model.head_dim")
        if self.head_dim_resolved % 2:
            raise ValueError(f"head dim {self.head_dim_resolved} must be even for rotary embeddings")
        if self.attention not in attention_kernels.IMPLEMENTATIONS:
            raise ValueError(f"model.attention={self.attention!r}: expected one of "
                             f"{attention_kernels.IMPLEMENTATIONS}")
        if self.positions not in position_ids.MODES:
            raise ValueError(f"model.positions={self.positions!r}: expected one of "
                             f"{position_ids.MODES}")
        if self.position_skip and self.positions not in position_ids.SKIPPABLE:
            raise ValueError(f"model.position_skip=True: skips apply to model.positions in "
                             f"{position_ids.SKIPPABLE}, not {self.positions!r}")
        if (self.positions == "random_rope" or self.position_skip) and self.max_position < 2:
            what = "random_rope" if self.positions == "random_rope" else "position_skip"
            raise ValueError(f"model.max_position={self.max_position}: {what} draws "
                             "ids from [0, max_position); set it to at least the longest "
                             "sequence (row or decode) the model sees")
        if self.positions == "coupled" and (self.coupling_stride < 1 or self.coupling_anchor < 0):
            raise ValueError(f"model.coupling_stride={self.coupling_stride}, model.coupling_anchor="
                             f"{self.coupling_anchor}: coupled positions need a stride >= 1 and "
                             "an anchor >= 0 (the task family's position_coupling)")
        if self.coupling_prompt not in position_ids.COUPLING_PROMPTS:
            raise ValueError(f"model.coupling_prompt={self.coupling_prompt!r}: expected one of "
                             f"{position_ids.COUPLING_PROMPTS}")
        if self.attention_block < 0 or self.attention_window_blocks < 1:
            raise ValueError(f"model.attention_block={self.attention_block} must be >= 0 and "
                             f"model.attention_window_blocks={self.attention_window_blocks} >= 1")
        if not callable(getattr(jax.checkpoint_policies, self.remat_policy, None)):
            raise ValueError(f"model.remat_policy={self.remat_policy!r}: not a "
                             "jax.checkpoint_policies name (e.g. nothing_saveable, "
                             "dots_with_no_batch_dims_saveable)")

    @property
    def kv_heads_resolved(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim_resolved(self) -> int:
        return self.head_dim or self.d_model // self.n_heads

    @property
    def d_ff_resolved(self) -> int:
        return self.d_ff or 64 * math.ceil(8 * self.d_model / 3 / 64)


def _param(rngs: nnx.Rngs, shape, names, std, dtype) -> nnx.Param:
    value = std * jax.random.normal(rngs.params(), shape, jnp.float32)
    # eager_sharding=False: shardings are applied by jit(init, out_shardings)
    # from these logical names, not at variable creation.
    return nnx.Param(value.astype(dtype), out_sharding=names, eager_sharding=False)


class RMSNorm(nnx.Module):
    def __init__(self, dim: int, eps: float, param_dtype):
        self.scale = nnx.Param(jnp.ones((dim,), param_dtype), out_sharding=("norm",), eager_sharding=False)
        self.eps = eps

    def __call__(self, x):
        dtype = x.dtype
        x = x.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
        return (x * self.scale[...].astype(jnp.float32)).astype(dtype)


def rotary(x, positions, theta: float):
    """Rotate-half RoPE. x: [B, T, heads, D]; positions: [B, T] (int)."""
    half = x.shape[-1] // 2
    freq = theta ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angle = positions.astype(jnp.float32)[..., None] * freq  # [B, T, half]
    sin = jnp.sin(angle)[:, :, None, :]
    cos = jnp.cos(angle)[:, :, None, :]
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.astype(x.dtype)


def attention_mask(segment_ids, q_segment_ids=None, q_offset=None):
    """Boolean [B, Tq, Tk]: key k visible to query q iff same segment and k <= q.

    ``q_offset`` ([B]) places queries at absolute row indices (used when
    queries are a suffix of the keys, as in cached decoding). Padding
    (segment id 0) sees only itself.
    """
    q_seg = segment_ids if q_segment_ids is None else q_segment_ids
    tq, tk = q_seg.shape[1], segment_ids.shape[1]
    q_idx = jnp.arange(tq)[None, :]
    if q_offset is not None:
        q_idx = q_idx + q_offset[:, None]
    else:
        q_idx = jnp.broadcast_to(q_idx, (q_seg.shape[0], tq))
    k_idx = jnp.arange(tk)[None, None, :]
    causal = k_idx <= q_idx[:, :, None]
    same = q_seg[:, :, None] == segment_ids[:, None, :]
    # Padding (segment 0) sees itself only: its outputs are never read (no
    # target, no other segment attends to it), and a run of padding then
    # spans no band (attention.band_fits).
    pad = (q_seg == 0)[:, :, None] & (k_idx != q_idx[:, :, None])
    return causal & same & ~pad


class Attention(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        d, h, k, hd = cfg.d_model, cfg.n_heads, cfg.kv_heads_resolved, cfg.head_dim_resolved
        pd = DTYPES[cfg.param_dtype]
        std_in = cfg.init_std
        std_out = cfg.init_std / math.sqrt(2 * cfg.n_layers)
        self.wq = _param(rngs, (d, h, hd), ("embed", "heads", "kv"), std_in, pd)
        self.wk = _param(rngs, (d, k, hd), ("embed", "kv_heads", "kv"), std_in, pd)
        self.wv = _param(rngs, (d, k, hd), ("embed", "kv_heads", "kv"), std_in, pd)
        self.wo = _param(rngs, (h, hd, d), ("heads", "kv", "embed"), std_out, pd)
        self.cfg = cfg

    def project_qkv(self, x, positions):
        dt = DTYPES[self.cfg.dtype]
        if jax.default_backend() == "cpu":
            q, k, v = self._fused_qkv(x, dt)
        else:
            q = jnp.einsum("btd,dhk->bthk", x, self.wq[...].astype(dt))
            k = jnp.einsum("btd,dhk->bthk", x, self.wk[...].astype(dt))
            v = jnp.einsum("btd,dhk->bthk", x, self.wv[...].astype(dt))
        if self.cfg.positions == "none":  # NoPE: order comes from the causal mask alone
            return q, k, v
        theta = self.cfg.rope_theta
        return rotary(q, positions, theta), rotary(k, positions, theta), v

    def _fused_qkv(self, x, dt):
        """q, k, v from one [d, (H + 2K) * D] matmul: on XLA:CPU one wide
        product runs faster than three narrow ones (the weights are
        concatenated per step, a copy of d * (H + 2K) * D numbers)."""
        b, t, d = x.shape
        ws = [w[...].astype(dt).reshape(d, -1) for w in (self.wq, self.wk, self.wv)]
        qkv = dense(x, jnp.concatenate(ws, axis=1))
        hd = self.cfg.head_dim_resolved
        sizes = [w.shape[1] for w in ws]
        q, k, v = jnp.split(qkv, [sizes[0], sizes[0] + sizes[1]], axis=-1)
        return q.reshape(b, t, -1, hd), k.reshape(b, t, -1, hd), v.reshape(b, t, -1, hd)

    def attend(self, q, k, v, mask, kv_head_major: bool = False):
        """q: [B,Tq,H,D]; k, v: [B,Tk,K,D] (or [B,K,Tk,D] with ``kv_head_major``,
        the KV cache's layout); mask: [B,Tq,Tk] -> [B,Tq,d_model].

        Training and prefill go through the kernel ``model.attention`` selects
        (``rtt_jax.model.attention``); the KV cache always uses the head-major
        XLA kernel, whose layout the cache is stored in."""
        if kv_head_major:
            out = attention_kernels.head_major(q, k, v, mask, kv_head_major=True)
        else:
            impl = attention_kernels.resolve(self.cfg.attention, DTYPES[self.cfg.dtype])
            out = attention_kernels.attend(q, k, v, mask, impl)
        return jnp.einsum("bthk,hkd->btd", out, self.wo[...].astype(out.dtype))

    def __call__(self, x, positions, mask):
        q, k, v = self.project_qkv(x, positions)
        return self.attend(q, k, v, mask)

    def cached(self, x, positions, cache_k, cache_v, mask, slots=None):
        """Attention of new tokens against this layer's KV cache (see
        ``Transformer.forward_cached``).

        Writes k/v for ``x`` (rotated by ``positions``) into ``slots``
        (default: ``positions``) of ``cache_k``/``cache_v``
        (``[B, kv_heads, S, head_dim]``, head-major: the layout ``attend``
        multiplies) and attends over all S slots under ``mask`` ([B, T, S]).
        One array per layer: an in-place scatter and no per-step slice or
        transpose of the cache (each was a copy of it per layer and step).
        """
        q, k, v = self.project_qkv(x, positions)
        slots = positions if slots is None else slots
        rows = jnp.arange(x.shape[0])[:, None]
        # Index arrays around a slice: the [B, T] index dims come first, so the
        # update has k's own layout [B, T, kv_heads, head_dim].
        cache_k = cache_k.at[rows, :, slots].set(k.astype(cache_k.dtype))
        cache_v = cache_v.at[rows, :, slots].set(v.astype(cache_v.dtype))
        out = self.attend(q, cache_k.astype(q.dtype), cache_v.astype(q.dtype), mask,
                          kv_head_major=True)
        return out, cache_k, cache_v


class SwiGLU(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        d, f, pd = cfg.d_model, cfg.d_ff_resolved, DTYPES[cfg.param_dtype]
        self.w_gate = _param(rngs, (d, f), ("embed", "mlp"), cfg.init_std, pd)
        self.w_up = _param(rngs, (d, f), ("embed", "mlp"), cfg.init_std, pd)
        self.w_down = _param(rngs, (f, d), ("mlp", "embed"), cfg.init_std / math.sqrt(2 * cfg.n_layers), pd)

    def __call__(self, x):
        # dense: x @ w with a weight gradient XLA:CPU runs as a canonical
        # matmul (model/dense.py: 1.29x on the demo's train step).
        dt = x.dtype
        gate = dense(x, self.w_gate[...].astype(dt))
        up = dense(x, self.w_up[...].astype(dt))
        return dense(jax.nn.silu(gate) * up, self.w_down[...].astype(dt))


class Block(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        pd = DTYPES[cfg.param_dtype]
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps, pd)
        self.attn = Attention(cfg, rngs)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps, pd)
        self.mlp = SwiGLU(cfg, rngs)

    def __call__(self, x, positions, mask):
        x = x + self.attn(self.attn_norm(x), positions, mask)
        return x + self.mlp(self.mlp_norm(x))

    def cached(self, x, positions, cache_k, cache_v, mask, slots=None):
        """``__call__`` with attention read from and written to this layer's KV cache."""
        a, cache_k, cache_v = self.attn.cached(self.attn_norm(x), positions, cache_k, cache_v, mask,
                                               slots)
        x = x + a
        return x + self.mlp(self.mlp_norm(x)), cache_k, cache_v


def stack_layers(blocks: list[Block]) -> Block:
    """One Block holding every layer's parameters stacked on a leading axis,
    logical name ``layers`` (the sharding rules map it to None: every device
    holds all layers of its shard), for ``nnx.scan``.

    The blocks are initialised one by one first, as in the unrolled model, so
    the stacked values are exactly the unrolled model's (same random draws in
    the same order) and the two settings train identically."""
    graphdef, first = nnx.split(blocks[0])
    states = [first] + [nnx.split(b)[1] for b in blocks[1:]]

    def stack(*variables):
        names = variables[0].get_metadata().get("out_sharding") or ()
        return variables[0].replace(jnp.stack([v[...] for v in variables]),
                                    out_sharding=("layers", *names))
    stacked = jax.tree.map(stack, *states, is_leaf=lambda v: isinstance(v, nnx.Variable))
    return nnx.merge(graphdef, stacked)


class Transformer(nnx.Module):
    """Pre-norm decoder: embed -> blocks (RMSNorm, GQA attention, SwiGLU) -> norm -> logits."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        pd = DTYPES[cfg.param_dtype]
        self.cfg = cfg
        self.embed = _param(rngs, (cfg.vocab_size, cfg.d_model), ("vocab", "embed"), cfg.init_std, pd)
        blocks = [Block(cfg, rngs) for _ in range(cfg.n_layers)]
        self.blocks = stack_layers(blocks) if cfg.scan_layers else nnx.List(blocks)
        self.final_norm = RMSNorm(cfg.d_model, cfg.norm_eps, pd)
        if not cfg.tie_embeddings:
            self.lm_head = _param(rngs, (cfg.d_model, cfg.vocab_size), ("embed", "vocab"), cfg.init_std, pd)

    def embed_tokens(self, tokens):
        return jnp.take(self.embed[...], tokens, axis=0).astype(DTYPES[self.cfg.dtype])

    def logits(self, x):
        x = self.final_norm(x)
        if self.cfg.tie_embeddings:
            return jnp.einsum("btd,vd->btv", x, self.embed[...].astype(x.dtype),
                              preferred_element_type=jnp.float32)
        return jnp.einsum("btd,dv->btv", x, self.lm_head[...].astype(x.dtype),
                          preferred_element_type=jnp.float32)

    def __call__(self, tokens, positions, segment_ids, banded: bool = False):
        """tokens, positions, segment_ids: int [B, T] -> float32 logits [B, T, vocab].

        ``banded``: attention within the band of ``model.attention_block``
        (attention.banded); the caller checks ``band_fits`` first (the train
        step does, per batch), else results differ."""
        if banded:
            mask = attention_kernels.band_mask(segment_ids, self.cfg.attention_block,
                                               self.cfg.attention_window_blocks)
        else:
            mask = attention_mask(segment_ids)
        x = self.embed_tokens(tokens)

        def layer(block, y):
            return block(y, positions, mask)
        if self.cfg.remat:
            policy = getattr(jax.checkpoint_policies, self.cfg.remat_policy)
            layer = nnx.remat(layer, policy=policy)
        if self.cfg.scan_layers:
            x = nnx.scan(layer, in_axes=(0, nnx.Carry), out_axes=nnx.Carry)(self.blocks, x)
        else:
            for block in self.blocks:
                x = layer(block, x)
        return self.logits(x)

    def band_applies(self, seq_len: int) -> bool:
        """Whether the banded kernel can save work at this length: on, the
        XLA kernel, and more blocks than the window."""
        c, w = self.cfg.attention_block, self.cfg.attention_window_blocks
        impl = attention_kernels.resolve(self.cfg.attention, DTYPES[self.cfg.dtype])
        return bool(c) and impl == "xla" and seq_len % c == 0 and seq_len // c > w

    def band_fits(self, segment_ids):
        """Scalar bool: the band holds every visible pair of these rows."""
        return attention_kernels.band_fits(attention_mask(segment_ids), self.cfg.attention_block,
                                           self.cfg.attention_window_blocks)

    def layer(self, i: int) -> Block:
        """Block ``i`` as a module of its own (a slice of the stack when scanned)."""
        if not self.cfg.scan_layers:
            return self.blocks[i]
        graphdef, state = nnx.split(self.blocks)
        return nnx.merge(graphdef, jax.tree.map(lambda a: a[i], state))

    def init_cache(self, batch: int, length: int) -> dict:
        """An empty KV cache: ``{"k", "v"}``, each a tuple of one array per layer
        of shape [batch, kv_heads, length, head_dim]."""
        c = self.cfg
        shape = (batch, c.kv_heads_resolved, length, c.head_dim_resolved)
        zeros = tuple(jnp.zeros(shape, DTYPES[c.dtype]) for _ in range(c.n_layers))
        return {"k": zeros, "v": zeros}

    def forward_cached(self, tokens, positions, cache, slots=None):
        """Run new tokens [B, T] at ``positions`` [B, T] against a KV cache.

        Cache slot i holds the token at index i of its row, so the new
        tokens' k/v land at ``slots`` (default: ``positions``, which is the
        index for every position mode but ``coupled``, whose ids are not)
        and a query in slot p sees slots <= p. Slots past a row's current
        index (right padding of a prompt, stale values) are therefore masked
        until they are overwritten.
        Prefill (T = prompt bucket) and one decode step (T = 1) are the same
        call. Returns hidden states [B, T, d_model] before the final norm, and
        the updated cache.
        """
        slots = positions if slots is None else slots
        mask = jnp.arange(cache["k"][0].shape[2])[None, None, :] <= slots[:, :, None]
        x = self.embed_tokens(tokens)
        ks, vs = [], []
        # A Python loop over layers whether or not they are scanned: each layer
        # keeps its own cache array, updated in place (a scan would stack them).
        for i, (ck, cv) in enumerate(zip(cache["k"], cache["v"])):
            x, ck, cv = self.layer(i).cached(x, positions, ck, cv, mask, slots)
            ks.append(ck)
            vs.append(cv)
        return x, {"k": tuple(ks), "v": tuple(vs)}


def log_probs(logits):
    """Float32 log-softmax over the vocabulary."""
    return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
