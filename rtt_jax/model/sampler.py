"""KV-cache sampling: a jitted prefill plus a fixed-shape ``while_loop`` decode.

Layout (see ``Transformer.forward_cached``): prompts are right-padded to a
bucket of length P; cache slot i of a row holds its token at position i, so
RoPE positions are exactly those of an unpadded run and a query at position p
sees slots <= p only (padding is masked until it is overwritten). With
``model.positions=coupled`` tokens take RoPE ids that follow their lines
(``model/positions.py``; the decode state carries each row's line and
offset) while slots stay as above. The cache is ``{"k", "v"}``, one ``[B, kv_heads, max_len, head_dim]`` array per layer
(head-major, the layout attention multiplies, so decode steps never slice
or transpose it).

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
A third, off by default (``stop_on_calculator``): stop a row right after the
first ``=`` inside an open ``<<`` (a ``<`` ``<`` pair with no ``>`` ``>`` pair
after it), the point where GSM8K's calculator writes its result; the state is
seeded from the prompt. ``rtt_jax.model.calculator`` runs the host loop with
the calculator function the caller passes (the model evaluates nothing itself).

Several hosts (a mesh that spans processes). ``generate_tokens`` is then
*process-local*: each process passes its own prompts (any number, also none)
and gets its own rows back. The processes agree on the batch and prompt
buckets (a small all-gather), each lays out its rows, and
``make_array_from_process_local_data`` assembles the global batch; a prompt's
row id is its index in the concatenation of all processes' prompts, so the
tokens equal a 1-process call over that concatenation. ``generate`` (text)
takes the *same* full list on every process, decodes each process's share and
all-gathers the completions, so every process returns all of them (what
evaluation needs). Every process must make the same calls.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rtt_jax.batch_sharding import BATCH_AXES, batch_sharding
from rtt_jax.model.calculator import Calculator, calculator_generate
from rtt_jax.model.positions import coupled_positions, coupled_step
from rtt_jax.model.transformer import ModelConfig

ANSWER_MARKER = "#### "


def bucket(n: int, minimum: int, cap: int | None = None) -> int:
    """The smallest power of two >= max(n, minimum), capped at ``cap``."""
    b = 1 << max(0, math.ceil(math.log2(max(n, minimum, 1))))
    return min(b, cap) if cap is not None else b


def sample_logits(logits, keys, temperature, top_p):
    """One token per row from float32 logits [B, V]; ``keys``: typed keys [B].

    Greedy where ``temperature <= 0``. The switches are traced (``lax.cond``),
    so a new setting never recompiles and greedy decoding never pays for the
    sampled branch: its sort over the vocabulary was 30% of a CPU decode step.
    The nucleus sort runs only when ``top_p < 1``.
    """
    def greedy(_):
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    def sampled(_):
        scaled = logits / jnp.maximum(temperature, 1e-6)

        def nucleus(_):
            desc = -jnp.sort(-scaled, axis=-1)
            probs = jax.nn.softmax(desc, axis=-1)
            # Keep a sorted token if the mass strictly before it is < top_p: the
            # top token is always kept, so a tiny top_p is greedy.
            keep = (jnp.cumsum(probs, axis=-1) - probs) < top_p
            threshold = jnp.min(jnp.where(keep, desc, jnp.inf), axis=-1, keepdims=True)
            return jnp.where(scaled >= threshold, scaled, -jnp.inf)

        kept = jax.lax.cond(top_p < 1.0, nucleus, lambda _: scaled, None)
        return jax.vmap(jax.random.categorical)(keys, kept).astype(jnp.int32)

    return jax.lax.cond(temperature > 0, sampled, greedy, None)


def calc_state(tokens, lengths, ids):
    """Each row's calculator state at the end of its prompt: 0 outside ``<<``,
    1 inside an open ``<<`` with no ``=`` yet, 2 inside after its ``=``."""
    lt, gt, eq = (ids.get(k, jnp.int32(-1)) for k in ("lt", "gt", "eq"))
    idx = jnp.arange(tokens.shape[1], dtype=jnp.int32)
    valid = idx[None] < lengths[:, None]

    def last_pair(a):  # index of the second token of the row's last a-a pair, else -1
        hit = (tokens[:, 1:] == a) & (tokens[:, :-1] == a) & valid[:, 1:]
        return jnp.max(jnp.where(hit, idx[None, 1:], -1), axis=1, initial=-1)

    opened = last_pair(lt)
    eq_after = jnp.any((tokens == eq) & valid & (idx[None] > opened[:, None]), axis=1)
    return jnp.where(opened > last_pair(gt), jnp.where(eq_after, 2, 1), 0).astype(jnp.int32)


def decode_loop(step_fn: Callable, model_state, first_logits, lengths, prompt_last, active,
                row_ids, opts, ids, out_width: int, *, step0=None, limit=None, calc=None, ans=None):
    """Sample until every row stops or ``opts['max_new']`` tokens; shared by both paths.

    ``step_fn(model_state, tokens [B], positions [B]) -> (logits [B, V], model_state)``
    feeds one token per row; ``first_logits`` [B, V] predict each row's first
    new token; ``prompt_last`` [B] is each prompt's last id; ``ids`` holds the
    special ids as arrays (pad, bos, eos, newline: scalars; marker: [M]) so that
    samplers over different tokenizers share compiled programs; ``opts`` the traced settings
    (max_new, temperature, top_p, seed, stop_on_eos, stop_after_answer_line).
    Optional per-row arrays: ``step0`` offsets the sampling step (a resumed
    row keeps its random stream), ``limit`` caps a row's new tokens below
    ``max_new``, ``calc`` seeds the calculator state (see ``calc_state``),
    ``ans`` the answer-line state (``answer_state``; default: from ``prompt_last``);
    ``opts['stop_on_calculator']`` and ``ids`` lt/gt/eq ('<', '>', '=') are
    optional too. Returns (tokens [B, out_width], counts [B]): row b generated
    ``tokens[b, :counts[b]]`` and PAD after.
    """
    marker = ids["marker"]
    n_marker = marker.shape[0]
    base = jax.random.key(opts["seed"])
    row_keys = jax.vmap(lambda r: jax.random.fold_in(base, r))(row_ids)
    batch = lengths.shape[0]
    zeros = jnp.zeros((batch,), jnp.int32)
    step0 = zeros if step0 is None else step0
    limit = jnp.full((batch,), opts["max_new"], jnp.int32) if limit is None else limit
    lt, gt, eq = (ids.get(k, jnp.int32(-1)) for k in ("lt", "gt", "eq"))
    stop_on_calc = opts.get("stop_on_calculator", jnp.bool_(False))
    # ans: how many marker tokens the current line has matched from its start;
    # n_marker: inside an answer line; -1: this line cannot be one.
    line_start = (prompt_last == ids["newline"]) | (prompt_last == ids["bos"])
    init = dict(t=jnp.int32(0), out=jnp.full((batch, out_width), ids["pad"], jnp.int32),
                count=jnp.zeros((batch,), jnp.int32), done=~active,
                ans=jnp.where(line_start, 0, -1).astype(jnp.int32) if ans is None else ans,
                calc=zeros if calc is None else calc,
                tok=prompt_last.astype(jnp.int32), model=model_state)

    def emit(c, logits):
        keys = jax.vmap(jax.random.fold_in)(row_keys, c["t"] + step0)
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
        # Calculator state; c["tok"] is the previous token (the prompt's last at first).
        calc_fire = (c["calc"] == 1) & (tok == eq)
        calc = jnp.where((c["tok"] == lt) & (tok == lt), 1,
               jnp.where((c["tok"] == gt) & (tok == gt), 0,
               jnp.where(calc_fire, 2, c["calc"])))
        stop = ((opts["stop_on_eos"] & (tok == ids["eos"]))
                | (opts["stop_after_answer_line"] & answer_end)
                | (stop_on_calc & calc_fire))
        count = c["count"] + live.astype(jnp.int32)
        return dict(c, t=c["t"] + 1, out=out, count=count,
                    done=c["done"] | (live & stop) | (count >= limit), ans=ans, calc=calc, tok=tok)

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
    used as given, so sharded params keep their shardings. ``params`` is an
    argument of the jitted programs, so ``sampler.params`` may be replaced
    between calls (same shapes) without recompiling. With a ``mesh`` the
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
        # The calculator rule needs '<', '>' and '=' as single tokens (-1: never matches).
        for key, char in (("lt", "<"), ("gt", ">"), ("eq", "=")):
            enc = list(tokenizer.encode(char))
            self.ids[key] = int(enc[0]) if len(enc) == 1 else -1
        self.batch_shards = 1 if mesh is None else math.prod(mesh.shape[a] for a in BATCH_AXES)
        # Processes the mesh spans (1 on one host); each feeds a contiguous block of rows.
        self.processes = 1 if mesh is None else len({d.process_index for d in mesh.devices.flat})
        if self.batch_shards % self.processes:
            raise ValueError(f"mesh {dict(mesh.shape)}: the batch axes {BATCH_AXES} must "
                             f"split over the {self.processes} processes the mesh spans")
        self.trace_count = {"cache": 0, "recompute": 0}
        self._jitted = {"cache": self._jit(self._cached_program),
                        "recompute": self._jit(self._recompute_program)}

    # ---- the two jitted programs ---------------------------------------------

    def _jit(self, fn):
        if self.mesh is None:
            return jax.jit(fn)
        batch = batch_sharding(self.mesh)
        return jax.jit(fn, out_shardings=(batch, batch))

    def _constrain_cache(self, cache):
        if self.mesh is None:
            return cache
        # Rows follow the batch; kv heads are left to follow the params' sharding.
        spec = P(BATCH_AXES, P.UNCONSTRAINED, None, None)
        return jax.lax.with_sharding_constraint(cache, NamedSharding(self.mesh, spec))

    def _cached_program(self, params, tokens, lengths, rows, opts, ids):
        self.trace_count["cache"] += 1  # runs at trace time only: counts compiles
        model = nnx.merge(self.graphdef, params)
        batch, width = tokens.shape
        positions = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), (batch, width))
        cache = self._constrain_cache(model.init_cache(batch, self.max_len))
        hidden, cache = model.forward_cached(tokens, self.prompt_ids(tokens, positions, lengths),
                                             cache, positions)
        # Only each row's last prompt position needs logits.
        last = jnp.take_along_axis(hidden, (lengths - 1)[:, None, None], axis=1)
        first_logits = model.logits(last)[:, 0]

        c = self.cfg
        coupled = c.positions == "coupled"

        def step(state, tok, pos):
            if not coupled:
                h, cache = model.forward_cached(tok[:, None], pos[:, None], state)
                return model.logits(h)[:, 0], self._constrain_cache(cache)
            cache, line, offset = state  # the new token's id follows its line, not its slot
            ids, line, offset = coupled_step(tok, line, offset, c.coupling_anchor,
                                             c.coupling_stride, c.newline_id)
            h, cache = model.forward_cached(tok[:, None], ids[:, None], cache, pos[:, None])
            return model.logits(h)[:, 0], (self._constrain_cache(cache), line, offset)

        zeros = jnp.zeros((batch,), jnp.int32)
        state = (cache, zeros, zeros) if coupled else cache

        prompt_last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
        return decode_loop(step, state, first_logits, lengths, prompt_last, rows["active"],
                           rows["row_ids"], opts, ids, self.max_len, step0=rows["step0"],
                           limit=rows["limit"], ans=rows["ans"], calc=calc_state(tokens, lengths, ids))

    def prompt_ids(self, tokens, positions, lengths):
        """The prompt's RoPE ids: its indices, except under ``coupled``
        (``model/positions.py``; the completion starts at each row's end)."""
        c = self.cfg
        if c.positions != "coupled":
            return positions
        return coupled_positions(tokens, positions, positions >= lengths[:, None],
                                 c.coupling_anchor, c.coupling_stride, c.newline_id,
                                 tail=c.coupling_prompt == "question")

    def _recompute_program(self, params, tokens, lengths, rows, opts, ids):
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
            logits = model(seq, self.prompt_ids(seq, positions, lengths), segments)
            return jnp.take_along_axis(logits, pos[:, None, None], axis=1)[:, 0]

        def step(seq, tok, pos):
            seq = seq.at[jnp.arange(batch), pos].set(tok)
            return logits_at(seq, pos), seq

        prompt_last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
        return decode_loop(step, seq, logits_at(seq, lengths - 1), lengths, prompt_last,
                           rows["active"], rows["row_ids"], opts, ids, self.max_len,
                           step0=rows["step0"], limit=rows["limit"], ans=rows["ans"],
                           calc=calc_state(tokens, lengths, ids))

    # ---- host side -------------------------------------------------------------

    def compile_count(self, path: str = "cache") -> int:
        """How many programs ``path`` ('cache' or 'recompute') has compiled (jit cache size)."""
        return self._jitted[path]._cache_size()

    def _place(self, x):
        if self.mesh is None:
            return jnp.asarray(x)
        if self.processes > 1:  # x: this process's rows of the global batch
            return jax.make_array_from_process_local_data(batch_sharding(self.mesh), x)
        return jax.device_put(x, batch_sharding(self.mesh))

    def _local_rows(self, x) -> np.ndarray:
        """This process's rows of a batch-sharded global output, on the host."""
        if self.processes > 1:
            from jax.experimental import multihost_utils
            x = multihost_utils.global_array_to_host_local_array(x, self.mesh, P(BATCH_AXES))
        return np.asarray(jax.device_get(x))

    def _run_batch(self, prompts: Sequence[np.ndarray], rows: dict, opts: dict, path: str,
                   agreed: tuple[int, int, int] | None = None):
        """``rows``: per-prompt int arrays row_ids, step0, limit, ans (see ``decode_rows``).
        ``agreed`` (several hosts): the (rows, longest prompt, most new tokens)
        of the largest share over all processes, so that every process builds
        the same global shapes; this process lays out its own rows only."""
        n = len(prompts)
        lengths = np.array([len(p) for p in prompts], np.int32)
        most, longest, max_new = agreed or (n, int(lengths.max()), int(rows["limit"].max()))
        width = bucket(longest, self.min_prompt_bucket, cap=self.max_len)
        local_shards = self.batch_shards // self.processes
        size = bucket(most, 1)
        size = -(-size // local_shards) * local_shards
        fill = size - n
        tokens = np.full((size, width), self.ids["pad"], np.int32)
        tokens[n:, 0] = self.ids["bos"]  # filler rows: a 1-token prompt, done from the start
        for i, p in enumerate(prompts):
            tokens[i, :len(p)] = p
        all_lengths = np.concatenate([lengths, np.ones(fill, np.int32)])
        # Filler rows are done from the start; their ids only need to be valid ints.
        filler = dict(row_ids=np.arange(fill), step0=np.zeros(fill),
                      limit=np.ones(fill), ans=np.full(fill, -1))
        rows = {k: np.concatenate([rows[k], filler[k]]).astype(np.int32) for k in filler}
        rows["active"] = np.arange(size) < n
        out, count = self._jitted[path](self.params, self._place(tokens), self._place(all_lengths),
                                        {k: self._place(v) for k, v in rows.items()},
                                        dict(opts, max_new=jnp.int32(max_new)),
                                        jax.tree.map(lambda v: jnp.asarray(v, jnp.int32), self.ids))
        out, count = self._local_rows(out), self._local_rows(count)
        return [out[i, :count[i]] for i in range(n)]

    def generate_tokens(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int, *,
                        temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
                        stop_on_eos: bool = True, stop_after_answer_line: bool = True,
                        recompute: bool = False,
                        calculator: Calculator | None = None) -> list[np.ndarray]:
        """Token-level API: prompt id lists (BOS included) -> generated ids per prompt.

        Each result ends with its stop token (EOS or the answer line's newline)
        when a stop rule fired, and holds at most ``max_new_tokens`` ids.
        ``recompute=True`` runs the naive full-recompute reference instead.
        ``calculator`` (a function from an expression's text to its value's
        text, or None; e.g. ``rtt_jax.evaluation.calculator.safe_calculator``)
        writes ``value>>`` after each ``<<expr=`` the model emits (see
        ``rtt_jax.model.calculator``); the inserted ids count towards
        ``max_new_tokens``.
        """
        prompts = [np.asarray(p, np.int32).reshape(-1) for p in prompt_ids]
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens}: expected >= 1")
        if calculator is not None and self.cfg.positions == "coupled":
            raise ValueError("calculator resumes decoding from a longer prompt, which moves "
                             "where model.positions=coupled starts its completion ids; sample "
                             "without it")
        if calculator is not None and self.processes > 1:
            raise ValueError("calculator runs a host loop per prompt and is single-host "
                             "only; sample without it on several hosts")
        for i, p in enumerate(prompts):
            if len(p) == 0 or len(p) + max_new_tokens > self.max_len:
                raise ValueError(f"prompt {i}: {len(p)} tokens + max_new_tokens={max_new_tokens} "
                                 f"must be within 1..max_len={self.max_len}")
        kw = dict(temperature=temperature, top_p=top_p, seed=seed, stop_on_eos=stop_on_eos,
                  stop_after_answer_line=stop_after_answer_line, recompute=recompute)
        if calculator is not None:
            return calculator_generate(self, prompts, max_new_tokens, calculator, **kw)
        n = len(prompts)
        # Row ids: each prompt's index among all processes' prompts, in process order.
        offset = int(_all_processes([n], self.processes)[:jax.process_index(), 0].sum()) \
            if self.processes > 1 else 0
        return self.decode_rows(prompts, dict(row_ids=offset + np.arange(n), step0=np.zeros(n),
                                              limit=np.full(n, max_new_tokens)), **kw)

    def decode_rows(self, prompts: Sequence[np.ndarray], rows: dict, *, temperature: float,
                    top_p: float, seed: int, stop_on_eos: bool, stop_after_answer_line: bool,
                    stop_on_calculator: bool = False, recompute: bool = False) -> list[np.ndarray]:
        """One decode of validated prompts. ``rows`` holds per-prompt ints: prompt i
        samples as row ``row_ids[i]`` from step ``step0[i]`` on, makes at most
        ``limit[i]`` (>= 1) tokens and starts in answer-line state ``ans[i]``
        (optional; default: a line start iff the prompt ends in newline or BOS)."""
        opts = dict(temperature=jnp.float32(temperature), top_p=jnp.float32(top_p),
                    seed=jnp.int32(seed), stop_on_eos=jnp.bool_(stop_on_eos),
                    stop_after_answer_line=jnp.bool_(stop_after_answer_line),
                    stop_on_calculator=jnp.bool_(stop_on_calculator))
        rows = {k: np.asarray(v, np.int32) for k, v in rows.items()}
        if "ans" not in rows:
            rows["ans"] = np.array([0 if p[-1] in (self.ids["newline"], self.ids["bos"]) else -1
                                    for p in prompts], np.int32)
        path = "recompute" if recompute else "cache"
        if self.processes == 1:
            results = []
            for a in range(0, len(prompts), self.max_batch):
                b = a + self.max_batch
                results += self._run_batch(prompts[a:b], {k: v[a:b] for k, v in rows.items()},
                                           opts, path)
            return results
        # Several hosts: the same number of same-shaped programs on every process.
        per = max(1, self.max_batch // self.processes)
        mine = [len(prompts), max((len(p) for p in prompts), default=1),
                int(rows["limit"].max()) if len(prompts) else 1]
        every = _all_processes(mine, self.processes)
        results = []
        for a in range(0, int(every[:, 0].max()), per):
            share = slice(a, a + per)
            most = int(np.minimum(np.maximum(every[:, 0] - a, 0), per).max())
            results += self._run_batch(prompts[share], {k: v[share] for k, v in rows.items()},
                                       opts, path, agreed=(most, int(every[:, 1].max()),
                                                           int(every[:, 2].max())))
        return results

    def answer_state(self, completion: np.ndarray, line_start: bool) -> int:
        """The decode loop's answer-line state after ``completion`` (as in
        ``decode_loop``): -1 if the current line cannot be an answer line, else
        how many marker tokens it has matched. ``line_start``: the completion
        began at a line start."""
        marker, newline = self.ids["marker"], self.ids["newline"]
        hits = np.flatnonzero(np.asarray(completion) == newline)
        if len(hits):
            line = completion[hits[-1] + 1:]
        elif line_start:
            line = completion
        else:
            return -1
        m = len(marker)
        if len(line) >= m:
            return m if np.array_equal(line[:m], marker) else -1
        return len(line) if np.array_equal(line, marker[:len(line)]) else -1

    def encode_prompt(self, text: str) -> np.ndarray:
        """BOS + the text's ids, as training formats a prompt."""
        return np.concatenate([[self.ids["bos"]], self.tokenizer.encode(text)]).astype(np.int32)

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int = 0, *, stop_on_eos: bool = True,
                 stop_after_answer_line: bool = True,
                 calculator: Calculator | None = None) -> list[str]:
        """Text API: the completion text of each prompt (special tokens dropped).
        ``calculator``: see ``generate_tokens``."""
        kw = dict(temperature=temperature, top_p=top_p, seed=seed, stop_on_eos=stop_on_eos,
                  stop_after_answer_line=stop_after_answer_line, calculator=calculator)
        if self.processes == 1:
            ids = self.generate_tokens([self.encode_prompt(p) for p in prompts], max_new_tokens,
                                       **kw)
            return [self.tokenizer.decode(t) for t in ids]
        # Every process holds the full list: decode a contiguous share each, then
        # all-gather, so that every process returns every completion.
        k = -(-len(prompts) // self.processes)
        share = prompts[jax.process_index() * k:(jax.process_index() + 1) * k]
        ids = self.generate_tokens([self.encode_prompt(p) for p in share], max_new_tokens, **kw)
        padded = np.full((k, max_new_tokens + 1), -1, np.int32)
        for i, t in enumerate(ids):
            padded[i, 0], padded[i, 1:1 + len(t)] = len(t), t
        every = _all_processes(padded, self.processes).reshape(-1, max_new_tokens + 1)
        return [self.tokenizer.decode(row[1:1 + row[0]]) for row in every[:len(prompts)]]


def _all_processes(values, processes: int) -> np.ndarray:
    """Every process's int array (the same shape on each), stacked in process order."""
    from jax.experimental import multihost_utils
    mine = np.asarray(values, np.int32)
    return np.asarray(multihost_utils.process_allgather(mine)).reshape(processes, *mine.shape)


def full_recompute_generate(sampler: Sampler, prompt_ids: Sequence[Sequence[int]],
                            max_new_tokens: int, **kwargs) -> list[np.ndarray]:
    """The naive reference: ``sampler.generate_tokens`` with the model rerun on
    the whole sequence each step (same buckets, sampling and stop rules)."""
    return sampler.generate_tokens(prompt_ids, max_new_tokens, recompute=True, **kwargs)
