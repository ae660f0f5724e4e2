"""RL scores a sampled completion with the RoPE ids its sampler fed the model
(``model.positions.decode_positions``): under ``model.positions=coupled``
the update's log-probabilities of a rollout equal those of the KV-cache
decode that sampled it, token by token; under ``rope`` (and the training-only
``random_rope`` and ``position_skip``) the row's own counting ids are used,
as before."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rtt_jax.batch_sharding import global_batch
from rtt_jax.config_validation import validate
from rtt_jax.configs.base import get_config
from rtt_jax.evaluation.stops import make_sampler
from rtt_jax.model.positions import coupled_step, decode_positions
from rtt_jax.rl.rollouts import pack_rows
from rtt_jax.rl.spec import optimizer_config, rl_spec
from rtt_jax.rl.update import completion_mask, make_logprob_fn
from rtt_jax.train.optimizer import make_optimizer
from rtt_jax.train.sharding import run_mesh
from rtt_jax.train.state import init_state, state_layout

SEQ_LEN = 63
NEW = 24
PROMPTS = ("3+4-1 mod 10\n", "9+9+9+9+9+9+9 mod 10\nwork:\n", "1-2 mod 10\n", "a longer prompt\n")


def _layout(c, model_cfg):
    optimizer = make_optimizer(optimizer_config(c, rl_spec(c)))
    layout = state_layout(model_cfg, optimizer, run_mesh(c), c.axis_rules, c.seed)
    return layout, init_state(layout, model_cfg, optimizer, 0)["params"]


@pytest.fixture(scope="module")
def coupled():
    """A random coupled model whose line token is one it writes often (a
    random model rarely writes "\\n"), so its completions cross lines and
    every line moves the coupled ids; its greedy rollouts; their rows."""
    c = get_config("tiny")
    c.model.update(d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, init_std=0.3,
                   positions="coupled", coupling_anchor=1, coupling_stride=2)
    c.train.init_from = "/unused"
    c.rl.update(prompts_per_step=2, group_size=2, seq_len=SEQ_LEN, max_new_tokens=NEW)
    spec = validate(c)
    layout, params = _layout(c, spec.model)
    kw = dict(max_len=SEQ_LEN + 1, max_batch=len(PROMPTS))
    s = make_sampler(layout.graphdef, params, spec.tokenizer, spec.model, **kw)
    prompts = [s.encode_prompt(t) for t in PROMPTS]
    free = s.generate_tokens(prompts, NEW, stop_on_eos=False)
    model_cfg = dataclasses.replace(
        spec.model, newline_id=int(np.bincount(np.concatenate(free)).argmax()))
    layout, params = _layout(c, model_cfg)
    sampler = make_sampler(layout.graphdef, params, spec.tokenizer, model_cfg, **kw)
    completions = sampler.generate_tokens(prompts, NEW, stop_on_eos=False)
    rows = pack_rows(prompts, completions, SEQ_LEN + 1, spec.tokenizer.pad_id)
    return model_cfg, layout, params, sampler, prompts, completions, rows


def _decode_logprobs(sampler, params, prompt, completion):
    """log p(completion token j | prompt, tokens < j) along the sampler's own
    path: prefill with its prompt ids, then one KV-cache step per token with
    the ids ``coupled_step`` gives it (the steps of ``Sampler``'s decode);
    and the argmax at every step (what greedy decoding picked)."""
    c = sampler.cfg

    @jax.jit
    def prefill(params, tokens, length):
        model = nnx.merge(sampler.graphdef, params)
        positions = jnp.arange(tokens.shape[1], dtype=jnp.int32)[None]
        hidden, cache = model.forward_cached(
            tokens, sampler.prompt_ids(tokens, positions, length[None]),
            model.init_cache(1, SEQ_LEN + 1), positions)
        return model.logits(hidden[:, -1:])[0, 0], cache

    @jax.jit
    def step(params, cache, tok, line, offset, slot):
        model = nnx.merge(sampler.graphdef, params)
        ids, line, offset = coupled_step(tok[None], line, offset, c.coupling_anchor,
                                         c.coupling_stride, c.newline_id)
        hidden, cache = model.forward_cached(tok[None, None], ids[:, None], cache,
                                             slot[None, None])
        return model.logits(hidden)[0, 0], cache, line, offset

    logits, cache = prefill(params, jnp.asarray(prompt, jnp.int32)[None], jnp.int32(len(prompt)))
    line = offset = jnp.zeros((1,), jnp.int32)
    logps, argmax = [], []
    for j, tok in enumerate(completion):
        logps.append(float(jax.nn.log_softmax(logits.astype(jnp.float32))[tok]))
        argmax.append(int(jnp.argmax(logits)))
        logits, cache, line, offset = step(params, cache, jnp.int32(tok), line, offset,
                                           jnp.int32(len(prompt) + j))
    return np.array(logps), np.array(argmax)


def test_the_updates_log_probs_are_the_coupled_samplers(coupled):
    model_cfg, layout, params, sampler, prompts, completions, rows = coupled
    # Rows cross lines, so an id rule that ignores them would show.
    assert sum(int((c[:-1] == model_cfg.newline_id).sum()) >= 2 for c in completions) >= 2
    batch = global_batch({k: np.tile(v, (2, 1)) for k, v in rows.items()}, layout.mesh)
    logp = np.asarray(make_logprob_fn(layout, 1.0)(params, batch))[:len(prompts)]
    mask = np.asarray(completion_mask(batch))[:len(prompts)]
    for r, (prompt, completion) in enumerate(zip(prompts, completions)):
        want, argmax = _decode_logprobs(sampler, params, prompt, completion)
        np.testing.assert_array_equal(argmax, completion)  # the path greedy decoding took
        got = logp[r][mask[r] > 0]
        np.testing.assert_allclose(got, want, atol=2e-4, rtol=0)


def test_non_coupled_modes_score_with_the_rows_own_ids(coupled):
    """Decoding counts 0, 1, 2, ... in every other mode (random ids and the
    skip are training's), so the row's ids are used unchanged."""
    model_cfg, *_, rows = coupled
    positions = jnp.asarray(rows["positions"])
    for mode in (dict(positions="rope"), dict(positions="random_rope", max_position=128),
                 dict(positions="rope", position_skip=True, max_position=128),
                 dict(positions="none")):
        cfg = dataclasses.replace(model_cfg, **mode)
        assert decode_positions(cfg, rows["tokens"], positions, rows["completion"]) is positions


def test_probe_log_probs_use_decodings_ids(coupled):
    """``evaluation.logprobs`` (probes' teacher-forced scores) gives a
    completion's later tokens the log-probabilities the coupled sampler
    gave them; counting ids over the whole row (the context taken as all
    prompt) do not."""
    from rtt_jax.evaluation.logprobs import continuation_logprobs, score_rows
    _, _, params, sampler, prompts, completions, _ = coupled
    rows, masks, wants = [], [], []
    for prompt, completion in zip(prompts, completions):
        want, _ = _decode_logprobs(sampler, params, prompt, completion)
        first = len(completion) // 2  # the scored continuation: the second half
        rows.append(list(prompt) + list(completion))
        masks.append([0] * (len(prompt) + first) + [1] * (len(completion) - first))
        wants.append(want[first:].sum())
    got = score_rows(sampler, rows, masks, [len(p) for p in prompts])
    np.testing.assert_allclose(got, wants, atol=1e-3, rtol=0)
    contiguous = score_rows(sampler, rows, masks, [len(r) for r in rows])
    assert np.abs(np.array(contiguous) - np.array(wants)).max() > 1e-2
    with pytest.raises(ValueError, match="does not start with its prompt"):
        continuation_logprobs(sampler, ["1+2 mod 10\n3\n"], ["4\n"], ["9+9 mod 10\n"])
