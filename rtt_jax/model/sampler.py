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
stop switches are traced values, so changing them never recompiles.

Sampling: temperature 0 is greedy; otherwise softmax(logits / T) restricted to
the smallest top set whose probability reaches ``top_p`` (nucleus). Each row
draws from ``fold_in(fold_in(key(seed), row), step)``, so a prompt's sample
depends on (seed, its index in the call), not on what it is batched with.

Stopping (per row): EOS (``stop_on_eos``), and the stop rules the sampler
was built with (``stop_rules``: objects of ``rtt_jax.model.stop_rules``'s
interface, each a per-row state machine over the sampled tokens, switched per
call by ``stops={name: bool}``). The sampler knows no task's text: evaluation
builds its samplers with the final-answer-line and calculator rules
(``rtt_jax.evaluation.stops``), and calculator-assisted decoding is a host loop
over ``decode_rows`` (``rtt_jax.evaluation.calculator_decoding``).

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
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rtt_jax.batch_sharding import BATCH_AXES, batch_sharding
from rtt_jax.model.positions import coupled_step, decode_positions
from rtt_jax.model.stop_rules import StopRule
from rtt_jax.model.transformer import ModelConfig


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


def decode_loop(step_fn: Callable, model_state, first_logits, lengths, prompt_last, active,
                row_ids, opts, ids, out_width: int, *, rules: Sequence[StopRule] = (),
                states=None, step0=None, limit=None):
    """Sample until every row stops or ``opts['max_new']`` tokens; shared by both paths.

    ``step_fn(model_state, tokens [B], positions [B]) -> (logits [B, V], model_state)``
    feeds one token per row; ``first_logits`` [B, V] predict each row's first
    new token; ``prompt_last`` [B] is each prompt's last id; ``ids`` holds the
    special ids as arrays (pad, bos, eos: scalars; ``rules``: each rule's
    ``token_ids``) so that samplers over different tokenizers share compiled
    programs; ``opts`` the traced settings (max_new, temperature, top_p, seed,
    stop_on_eos, and ``stops``: each rule's switch). ``rules`` are the stop
    rules (static) and ``states`` their per-row start states ``{name: [B]}``.
    Optional per-row arrays: ``step0`` offsets the sampling step (a resumed
    row keeps its random stream), ``limit`` caps a row's new tokens below
    ``max_new``. Returns (tokens [B, out_width], counts [B]): row b generated
    ``tokens[b, :counts[b]]`` and PAD after.
    """
    base = jax.random.key(opts["seed"])
    row_keys = jax.vmap(lambda r: jax.random.fold_in(base, r))(row_ids)
    batch = lengths.shape[0]
    zeros = jnp.zeros((batch,), jnp.int32)
    step0 = zeros if step0 is None else step0
    limit = jnp.full((batch,), opts["max_new"], jnp.int32) if limit is None else limit
    if rules and states is None:
        raise ValueError("decode_loop: stop rules need their start states")
    init = dict(t=jnp.int32(0), out=jnp.full((batch, out_width), ids["pad"], jnp.int32),
                count=jnp.zeros((batch,), jnp.int32), done=~active,
                rules={r.name: states[r.name].astype(jnp.int32) for r in rules},
                tok=prompt_last.astype(jnp.int32), model=model_state)

    def emit(c, logits):
        keys = jax.vmap(jax.random.fold_in)(row_keys, c["t"] + step0)
        tok = sample_logits(logits, keys, opts["temperature"], opts["top_p"])
        live = ~c["done"]
        tok = jnp.where(live, tok, ids["pad"])
        out = c["out"].at[:, c["t"]].set(tok)
        stop = opts["stop_on_eos"] & (tok == ids["eos"])
        states = {}
        for rule in rules:  # c["tok"] is the previous token (the prompt's last at first)
            states[rule.name], fired = rule.advance(ids["rules"][rule.name],
                                                    c["rules"][rule.name], c["tok"], tok)
            stop = stop | (opts["stops"][rule.name] & fired)
        count = c["count"] + live.astype(jnp.int32)
        return dict(c, t=c["t"] + 1, out=out, count=count,
                    done=c["done"] | (live & stop) | (count >= limit), rules=states, tok=tok)

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
    batch is split over ('data', 'fsdp'). ``stop_rules``: the rules a call may
    switch on (``stops``), besides EOS; see ``rtt_jax.model.stop_rules``.
    """

    def __init__(self, graphdef, params, tokenizer, model_cfg: ModelConfig, max_len: int,
                 mesh: Mesh | None = None, max_batch: int = 64, min_prompt_bucket: int = 16,
                 stop_rules: Sequence[StopRule] = ()):
        self.graphdef, self.params, self.tokenizer = graphdef, params, tokenizer
        self.cfg, self.max_len, self.mesh = model_cfg, max_len, mesh
        self.max_batch, self.min_prompt_bucket = max_batch, min_prompt_bucket
        self.ids = dict(pad=tokenizer.pad_id, bos=tokenizer.bos_id, eos=tokenizer.eos_id)
        self.stop_rules = tuple(stop_rules)
        names = [r.name for r in self.stop_rules]
        if len(set(names)) != len(names):
            raise ValueError(f"stop rules: each name once, got {names}")
        self.rule_ids = {r.name: r.token_ids(tokenizer) for r in self.stop_rules}
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
                           rows["row_ids"], opts, ids, self.max_len, rules=self.stop_rules,
                           states=rows["states"], step0=rows["step0"], limit=rows["limit"])

    def prompt_ids(self, tokens, positions, lengths):
        """The prompt's RoPE ids: its indices, except under ``coupled``
        (``model/positions.py``; the completion starts at each row's end)."""
        return decode_positions(self.cfg, tokens, positions, positions >= lengths[:, None])

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
                           rules=self.stop_rules, states=rows["states"], step0=rows["step0"],
                           limit=rows["limit"])

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
        """``rows``: per-prompt int arrays row_ids, step0, limit and ``states``
        ``{rule name: ints}`` (see ``decode_rows``).
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
        filler = dict(row_ids=np.arange(fill), step0=np.zeros(fill), limit=np.ones(fill))
        padded = {k: np.concatenate([rows[k], filler[k]]).astype(np.int32) for k in filler}
        padded["states"] = {k: np.concatenate([v, np.zeros(fill)]).astype(np.int32)
                            for k, v in rows["states"].items()}
        padded["active"] = np.arange(size) < n
        ids = dict(self.ids, rules=self.rule_ids)
        out, count = self._jitted[path](self.params, self._place(tokens), self._place(all_lengths),
                                        jax.tree.map(self._place, padded),
                                        dict(opts, max_new=jnp.int32(max_new)),
                                        jax.tree.map(lambda v: jnp.asarray(v, jnp.int32), ids))
        out, count = self._local_rows(out), self._local_rows(count)
        return [out[i, :count[i]] for i in range(n)]

    def check_prompts(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int
                      ) -> list[np.ndarray]:
        """The prompts as int32 arrays; ValueError unless each has 1 to
        ``max_len - max_new_tokens`` ids and ``max_new_tokens >= 1``."""
        prompts = [np.asarray(p, np.int32).reshape(-1) for p in prompt_ids]
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens}: expected >= 1")
        for i, p in enumerate(prompts):
            if len(p) == 0 or len(p) + max_new_tokens > self.max_len:
                raise ValueError(f"prompt {i}: {len(p)} tokens + max_new_tokens={max_new_tokens} "
                                 f"must be within 1..max_len={self.max_len}")
        return prompts

    def generate_tokens(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int, *,
                        temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
                        stop_on_eos: bool = True, stops: Mapping[str, bool] | None = None,
                        recompute: bool = False) -> list[np.ndarray]:
        """Token-level API: prompt id lists (BOS included) -> generated ids per prompt.

        Each result ends with its stop token (EOS, or the token on which a stop
        rule fired) when it stopped, and holds at most ``max_new_tokens`` ids.
        ``stops``: ``{rule name: on}`` for the sampler's stop rules (those not
        named keep their ``on_by_default``). ``recompute=True`` runs the naive
        full-recompute reference instead.
        """
        prompts = self.check_prompts(prompt_ids, max_new_tokens)
        kw = dict(temperature=temperature, top_p=top_p, seed=seed, stop_on_eos=stop_on_eos,
                  stops=stops, recompute=recompute)
        n = len(prompts)
        # Row ids: each prompt's index among all processes' prompts, in process order.
        offset = int(_all_processes([n], self.processes)[:jax.process_index(), 0].sum()) \
            if self.processes > 1 else 0
        return self.decode_rows(prompts, dict(row_ids=offset + np.arange(n), step0=np.zeros(n),
                                              limit=np.full(n, max_new_tokens)), **kw)

    def switches(self, stops: Mapping[str, bool] | None) -> dict[str, bool]:
        """Every stop rule's switch for a call: ``stops`` over the defaults."""
        stops = dict(stops or {})
        unknown = sorted(set(stops) - set(self.rule_ids))
        if unknown:
            raise ValueError(f"stops: no stop rule {unknown[0]!r} in this sampler "
                             f"(it has {sorted(self.rule_ids) or 'none'})")
        return {r.name: bool(stops.get(r.name, r.on_by_default)) for r in self.stop_rules}

    def decode_rows(self, prompts: Sequence[np.ndarray], rows: dict, *, temperature: float,
                    top_p: float, seed: int, stop_on_eos: bool,
                    stops: Mapping[str, bool] | None = None,
                    recompute: bool = False) -> list[np.ndarray]:
        """One decode of validated prompts. ``rows`` holds per-prompt ints: prompt i
        samples as row ``row_ids[i]`` from step ``step0[i]`` on, makes at most
        ``limit[i]`` (>= 1) tokens and starts each stop rule in state
        ``states[name][i]`` (optional, per rule; default: the rule's state after
        the prompt, ``rule.state(ids, prompt, [])``)."""
        opts = dict(temperature=jnp.float32(temperature), top_p=jnp.float32(top_p),
                    seed=jnp.int32(seed), stop_on_eos=jnp.bool_(stop_on_eos),
                    stops={k: jnp.bool_(v) for k, v in self.switches(stops).items()})
        given = dict(rows.get("states") or {})
        rows = {k: np.asarray(v, np.int32) for k, v in rows.items() if k != "states"}
        rows["states"] = {
            r.name: np.asarray(given[r.name] if r.name in given else
                               [r.state(self.rule_ids[r.name], p, p[:0]) for p in prompts],
                               np.int32).reshape(-1)
            for r in self.stop_rules}
        path = "recompute" if recompute else "cache"
        if self.processes == 1:
            results = []
            for a in range(0, len(prompts), self.max_batch):
                b = a + self.max_batch
                results += self._run_batch(prompts[a:b], _rows_slice(rows, slice(a, b)),
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
            results += self._run_batch(prompts[share], _rows_slice(rows, share),
                                       opts, path, agreed=(most, int(every[:, 1].max()),
                                                           int(every[:, 2].max())))
        return results

    def stopped_at_end(self, prompt: np.ndarray, completion: np.ndarray, *,
                       stop_on_eos: bool = True, stops: Mapping[str, bool] | None = None) -> bool:
        """Whether ``completion``'s last token stopped it: EOS, or a stop rule that
        is on fired there (the same rules the decode loop runs, applied on the
        host to one row); False for a completion cut by its token limit."""
        completion = np.asarray(completion)
        if not len(completion):
            return False
        tok = int(completion[-1])
        if stop_on_eos and tok == self.ids["eos"]:
            return True
        prev = int(completion[-2]) if len(completion) > 1 else int(prompt[-1])
        on = self.switches(stops)
        for rule in self.stop_rules:
            if not on[rule.name]:
                continue
            ids = self.rule_ids[rule.name]
            state = rule.state(ids, prompt, completion[:-1])
            _, fired = rule.advance(jax.tree.map(jnp.asarray, ids), jnp.asarray([state]),
                                    jnp.asarray([prev]), jnp.asarray([tok]))
            if bool(np.asarray(fired)[0]):
                return True
        return False

    def encode_prompt(self, text: str) -> np.ndarray:
        """BOS + the text's ids, as training formats a prompt."""
        return np.concatenate([[self.ids["bos"]], self.tokenizer.encode(text)]).astype(np.int32)

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int = 0, *, stop_on_eos: bool = True,
                 stops: Mapping[str, bool] | None = None) -> list[str]:
        """Text API: the completion text of each prompt (special tokens dropped).
        ``stops``: see ``generate_tokens``."""
        kw = dict(temperature=temperature, top_p=top_p, seed=seed, stop_on_eos=stop_on_eos,
                  stops=stops)
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


def _rows_slice(rows: dict, part: slice) -> dict:
    """Prompts ``part`` of per-prompt ``rows`` (``states`` sliced rule by rule)."""
    return dict({k: v[part] for k, v in rows.items() if k != "states"},
                states={k: v[part] for k, v in rows["states"].items()})


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
