"""KV-cache sampling: a jitted prefill plus a fixed-shape ``while_loop`` decode.

Layout (see ``Transformer.forward_cached``): prompts are right-padded to a
bucket of length P; cache slot i of a row holds its token at position i, so
RoPE positions are exactly those of an unpadded run and a query at position p
sees slots <= p only (padding is masked until it is overwritten). The cache is
``{"k", "v"}: [layers, B, max_len, kv_heads, head_dim]``.

One compiled program per (batch bucket, prompt bucket): prompt lengths are
rounded up to powers of two and the batch to a power of two (a multiple of the
mesh's batch shards); ``max_new_tokens``, temperature, top-p, the seed and the
stop rules are traced values, so changing them never recompiles.

Sampling: temperature 0 is greedy; otherwise softmax(logits / T) restricted to
the smallest top set whose probability reaches ``top_p`` (nucleus). Each row
draws from ``fold_in(fold_in(key(seed), row), step)``, so a prompt's sample
depends on (seed, its index in the call), not on what it is batched with.

Stop rules (per row, both optional): EOS; or the end of a final-answer line,
i.e. a line that starts with ``#### `` followed by a newline. The completion
start counts as a line start when the prompt ends in a newline or is only BOS.
The marker is matched token by token, which is exact for the byte tokenizer.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rtt_jax.model.transformer import ModelConfig
from rtt_jax.train import sharding as shd

ANSWER_MARKER = "#### "


def bucket(n: int, minimum: int, cap: int | None = None) -> int:
    """The smallest power of two >= max(n, minimum), capped at ``cap``."""
    b = 1 << max(0, math.ceil(math.log2(max(n, minimum, 1))))
    return min(b, cap) if cap is not None else b


def sample_logits(logits, keys, temperature, top_p):
    """One token per row from float32 logits [B, V]; ``keys``: typed keys [B].

    Greedy where ``temperature <= 0``; the sampled branch is computed anyway
    because both are cheap next to the model and a traced switch avoids a
    recompile per setting.
    """
    greedy = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scaled = logits / jnp.maximum(temperature, 1e-6)
    desc = -jnp.sort(-scaled, axis=-1)
    probs = jax.nn.softmax(desc, axis=-1)
    # Keep a sorted token if the mass strictly before it is < top_p: the top
    # token is always kept, so a tiny top_p is greedy.
    keep = (jnp.cumsum(probs, axis=-1) - probs) < top_p
    threshold = jnp.min(jnp.where(keep, desc, jnp.inf), axis=-1, keepdims=True)
    nucleus = jnp.where(scaled >= threshold, scaled, -jnp.inf)
    sampled = jax.vmap(jax.random.categorical)(keys, nucleus).astype(jnp.int32)
    return jnp.where(temperature > 0, sampled, greedy)


def decode_loop(step_fn: Callable, model_state, first_logits, lengths, prompt_last, active,
                row_ids, opts, ids, out_width: int):
    """Sample until every row stops or ``opts['max_new']`` tokens; shared by both paths.

    ``step_fn(model_state, tokens [B], positions [B]) -> (logits [B, V], model_state)``
    feeds one token per row; ``first_logits`` [B, V] predict each row's first
    new token; ``prompt_last`` [B] is each prompt's last id; ``ids`` holds the
    special ids as arrays (pad, bos, eos, newline: scalars; marker: [M]) so that
    samplers over different tokenizers share compiled programs; ``opts`` the traced settings
    (max_new, temperature, top_p, seed, stop_on_eos, stop_after_answer_line).
    Returns (tokens [B, out_width], counts [B]): row b generated
    ``tokens[b, :counts[b]]`` and PAD after.
    """
    marker = ids["marker"]
    n_marker = marker.shape[0]
    base = jax.random.key(opts["seed"])
    row_keys = jax.vmap(lambda r: jax.random.fold_in(base, r))(row_ids)
    batch = lengths.shape[0]
    # ans: how many marker tokens the current line has matched from its start;
    # n_marker: inside an answer line; -1: this line cannot be one.
    line_start = (prompt_last == ids["newline"]) | (prompt_last == ids["bos"])
    init = dict(t=jnp.int32(0), out=jnp.full((batch, out_width), ids["pad"], jnp.int32),
                count=jnp.zeros((batch,), jnp.int32), done=~active,
                ans=jnp.where(line_start, 0, -1).astype(jnp.int32),
                tok=jnp.zeros((batch,), jnp.int32), model=model_state)

    def emit(c, logits):
        keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(row_keys, c["t"])
        tok = sample_logits(logits, keys, opts["temperature"], opts["top_p"])
        live = ~c["done"]
        tok = jnp.where(live, tok, ids["pad"])
        out = c["out"].at[:, c["t"]].set(tok)
        ans = c["ans"]
        newline = tok == ids["newline"]
        answer_end = newline & (ans == n_marker)
        next_marker = marker[jnp.clip(ans, 0, n_marker - 1)]
        ans = jnp.where(newline, 0,
              jnp.where(ans == n_marker, ans,
              jnp.where((ans >= 0) & (tok == next_marker), ans + 1, -1)))
        stop = ((opts["stop_on_eos"] & (tok == ids["eos"]))
                | (opts["stop_after_answer_line"] & answer_end))
        return dict(c, t=c["t"] + 1, out=out, count=c["count"] + live.astype(jnp.int32),
                    done=c["done"] | (live & stop), ans=ans, tok=tok)

    def cond(c):
        return (c["t"] < opts["max_new"]) & ~jnp.all(c["done"])

    def body(c):
        # The token emitted at step t-1 sits at position length + t - 1.
        logits, model = step_fn(c["model"], c["tok"], lengths + c["t"] - 1)
        return emit(dict(c, model=model), logits)

    c = jax.lax.while_loop(cond, body, emit(init, first_logits))
    return c["out"], c["count"]


class Sampler:
    """Batched text generation with a KV cache (and the naive reference path).

    ``params`` is the model's pure-dict state (as in the train state); it is
    used as given, so sharded params keep their shardings. With a ``mesh`` the
    batch is split over ('data', 'fsdp').
    """

    def __init__(self, graphdef, params, tokenizer, model_cfg: ModelConfig, max_len: int,
                 mesh: Mesh | None = None, max_batch: int = 64, min_prompt_bucket: int = 16):
        self.graphdef, self.params, self.tokenizer = graphdef, params, tokenizer
        self.cfg, self.max_len, self.mesh = model_cfg, max_len, mesh
        self.max_batch, self.min_prompt_bucket = max_batch, min_prompt_bucket
        newline = list(tokenizer.encode("\n"))
        if len(newline) != 1:
            raise ValueError(f"tokenizer {tokenizer.name!r}: '\\n' must be one token "
                             "for the answer-line stop rule")
        self.ids = dict(pad=tokenizer.pad_id, bos=tokenizer.bos_id, eos=tokenizer.eos_id,
                        newline=int(newline[0]),
                        marker=np.asarray(tokenizer.encode(ANSWER_MARKER), np.int32))
        self.batch_shards = 1 if mesh is None else math.prod(mesh.shape[a] for a in shd.BATCH_AXES)
        self.trace_count = {"cache": 0, "recompute": 0}
        self._jitted = {"cache": self._jit(self._cached_program),
                        "recompute": self._jit(self._recompute_program)}

    # ---- the two jitted programs ---------------------------------------------

    def _jit(self, fn):
        if self.mesh is None:
            return jax.jit(fn)
        batch = shd.batch_sharding(self.mesh)
        return jax.jit(fn, out_shardings=(batch, batch))

    def _constrain_cache(self, cache):
        if self.mesh is None:
            return cache
        # Rows follow the batch; kv heads are left to follow the params' sharding.
        spec = P(None, shd.BATCH_AXES, None, P.UNCONSTRAINED, None)
        return jax.lax.with_sharding_constraint(cache, NamedSharding(self.mesh, spec))

    def _cached_program(self, params, tokens, lengths, active, row_ids, opts, ids):
        self.trace_count["cache"] += 1  # runs at trace time only: counts compiles
        model = nnx.merge(self.graphdef, params)
        batch, width = tokens.shape
        positions = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), (batch, width))
        cache = self._constrain_cache(model.init_cache(batch, self.max_len))
        hidden, cache = model.forward_cached(tokens, positions, cache)
        # Only each row's last prompt position needs logits.
        last = jnp.take_along_axis(hidden, (lengths - 1)[:, None, None], axis=1)
        first_logits = model.logits(last)[:, 0]

        def step(cache, tok, pos):
            h, cache = model.forward_cached(tok[:, None], pos[:, None], cache)
            return model.logits(h)[:, 0], self._constrain_cache(cache)

        prompt_last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
        return decode_loop(step, cache, first_logits, lengths, prompt_last, active, row_ids,
                           opts, ids, self.max_len)

    def _recompute_program(self, params, tokens, lengths, active, row_ids, opts, ids):
        """The naive reference: every step reruns ``Transformer.__call__`` on
        the whole [B, max_len] sequence and reads the logits at each row's end."""
        self.trace_count["recompute"] += 1
        model = nnx.merge(self.graphdef, params)
        batch = tokens.shape[0]
        seq = jnp.full((batch, self.max_len), ids["pad"], jnp.int32)
        seq = jax.lax.dynamic_update_slice(seq, tokens, (0, 0))
        positions = jnp.broadcast_to(jnp.arange(self.max_len, dtype=jnp.int32), seq.shape)
        segments = jnp.ones_like(seq)  # right padding sits after each row's end: causally unseen

        def logits_at(seq, pos):
            logits = model(seq, positions, segments)
            return jnp.take_along_axis(logits, pos[:, None, None], axis=1)[:, 0]

        def step(seq, tok, pos):
            seq = seq.at[jnp.arange(batch), pos].set(tok)
            return logits_at(seq, pos), seq

        prompt_last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
        return decode_loop(step, seq, logits_at(seq, lengths - 1), lengths, prompt_last, active,
                           row_ids, opts, ids, self.max_len)

    # ---- host side -------------------------------------------------------------

    def compile_count(self, path: str = "cache") -> int:
        """How many programs ``path`` ('cache' or 'recompute') has compiled (jit cache size)."""
        return self._jitted[path]._cache_size()

    def _place(self, x):
        if self.mesh is None:
            return jnp.asarray(x)
        return jax.device_put(x, shd.batch_sharding(self.mesh))

    def _run_batch(self, prompts: Sequence[np.ndarray], first_row: int, max_new_tokens: int,
                   opts: dict, path: str):
        n = len(prompts)
        lengths = np.array([len(p) for p in prompts], np.int32)
        width = bucket(int(lengths.max()), self.min_prompt_bucket, cap=self.max_len)
        rows = bucket(n, 1)
        rows = -(-rows // self.batch_shards) * self.batch_shards
        tokens = np.full((rows, width), self.ids["pad"], np.int32)
        tokens[n:, 0] = self.ids["bos"]  # filler rows: a 1-token prompt, done from the start
        for i, p in enumerate(prompts):
            tokens[i, :len(p)] = p
        all_lengths = np.concatenate([lengths, np.ones(rows - n, np.int32)])
        active = np.arange(rows) < n
        row_ids = np.arange(first_row, first_row + rows, dtype=np.int32)
        batch = map(self._place, (tokens, all_lengths, active, row_ids))
        out, count = self._jitted[path](self.params, *batch,
                                        dict(opts, max_new=jnp.int32(max_new_tokens)),
                                        jax.tree.map(lambda v: jnp.asarray(v, jnp.int32), self.ids))
        out, count = np.asarray(jax.device_get(out)), np.asarray(jax.device_get(count))
        return [out[i, :count[i]] for i in range(n)]

    def generate_tokens(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int, *,
                        temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
                        stop_on_eos: bool = True, stop_after_answer_line: bool = True,
                        recompute: bool = False) -> list[np.ndarray]:
        """Token-level API: prompt id lists (BOS included) -> generated ids per prompt.

        Each result ends with its stop token (EOS or the answer line's newline)
        when a stop rule fired, and holds at most ``max_new_tokens`` ids.
        ``recompute=True`` runs the naive full-recompute reference instead.
        """
        prompts = [np.asarray(p, np.int32).reshape(-1) for p in prompt_ids]
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens}: expected >= 1")
        for i, p in enumerate(prompts):
            if len(p) == 0 or len(p) + max_new_tokens > self.max_len:
                raise ValueError(f"prompt {i}: {len(p)} tokens + max_new_tokens={max_new_tokens} "
                                 f"must be within 1..max_len={self.max_len}")
        opts = dict(temperature=jnp.float32(temperature), top_p=jnp.float32(top_p),
                    seed=jnp.int32(seed), stop_on_eos=jnp.bool_(stop_on_eos),
                    stop_after_answer_line=jnp.bool_(stop_after_answer_line))
        path = "recompute" if recompute else "cache"
        results = []
        for start in range(0, len(prompts), self.max_batch):
            results += self._run_batch(prompts[start:start + self.max_batch], start,
                                       max_new_tokens, opts, path)
        return results

    def encode_prompt(self, text: str) -> np.ndarray:
        """BOS + the text's ids, as training formats a prompt."""
        return np.concatenate([[self.ids["bos"]], self.tokenizer.encode(text)]).astype(np.int32)

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int = 0, *, stop_on_eos: bool = True,
                 stop_after_answer_line: bool = True) -> list[str]:
        """Text API: the completion text of each prompt (special tokens dropped)."""
        ids = self.generate_tokens([self.encode_prompt(p) for p in prompts], max_new_tokens,
                                   temperature=temperature, top_p=top_p, seed=seed,
                                   stop_on_eos=stop_on_eos, stop_after_answer_line=stop_after_answer_line)
        return [self.tokenizer.decode(t) for t in ids]


def full_recompute_generate(sampler: Sampler, prompt_ids: Sequence[Sequence[int]],
                            max_new_tokens: int, **kwargs) -> list[np.ndarray]:
    """The naive reference: ``sampler.generate_tokens`` with the model rerun on
    the whole sequence each step (same buckets, sampling and stop rules)."""
    return sampler.generate_tokens(prompt_ids, max_new_tokens, recompute=True, **kwargs)
