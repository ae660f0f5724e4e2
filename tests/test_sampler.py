"""KV-cache sampler: equals full recomputation, sampling, stop rules, bucketing, sharding."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.evaluation.stops import ANSWER_LINE, STOP_RULES
from rtt_jax.model import ModelConfig, Transformer
from rtt_jax.model.sampler import Sampler, decode_loop, full_recompute_generate
from rtt_jax.train import sharding as shd
from rtt_jax.train.state import init_state, state_layout

# GQA (4 query heads over 2 kv heads). A larger init std gives peaked logits,
# so greedy argmaxes are far from ties and exact token equality is meaningful.
CFG = ModelConfig(vocab_size=259, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, init_std=0.3)
MAX_LEN = 64
NO_STOP = dict(stop_on_eos=False, stops={"answer_line": False})
TEXTS = ["12+5=", "a longer prompt of 21", "7"]


def _graph_and_params(seed=0):
    graphdef, state = nnx.split(Transformer(CFG, nnx.Rngs(params=seed)))
    return graphdef, nnx.to_pure_dict(state)


@pytest.fixture(scope="module")
def sampler():
    graphdef, params = _graph_and_params()
    return Sampler(graphdef, params, ByteTokenizer(), CFG, max_len=MAX_LEN, stop_rules=STOP_RULES)


def _prompts(s):
    return [s.encode_prompt(t) for t in TEXTS]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_cached_greedy_equals_full_recompute_and_unpadded_runs(sampler):
    prompts = _prompts(sampler)
    assert len({len(p) for p in prompts}) == 3  # right-padded to one bucket
    cached = sampler.generate_tokens(prompts, 40, **NO_STOP)
    assert all(len(t) == 40 for t in cached)
    _same(cached, full_recompute_generate(sampler, prompts, 40, **NO_STOP))
    # Padding and batch-mates change nothing: the longest row run alone.
    _same(cached[1:2], sampler.generate_tokens(prompts[1:2], 40, **NO_STOP))


def test_tiny_top_p_is_greedy(sampler):
    prompts = _prompts(sampler)
    greedy = sampler.generate_tokens(prompts, 24, **NO_STOP)
    _same(greedy, sampler.generate_tokens(prompts, 24, temperature=1.0, top_p=1e-6, seed=5, **NO_STOP))


def test_temperature_sampling_is_reproducible_by_seed(sampler):
    prompts = _prompts(sampler)
    kw = dict(temperature=1.0, top_p=0.9, **NO_STOP)
    a = sampler.generate_tokens(prompts, 24, seed=1, **kw)
    _same(a, sampler.generate_tokens(prompts, 24, seed=1, **kw))
    _same(a, full_recompute_generate(sampler, prompts, 24, seed=1, **kw))
    b = sampler.generate_tokens(prompts, 24, seed=2, **kw)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, sampler.generate_tokens(prompts, 24, **NO_STOP)))


def test_text_api_returns_completion_only(sampler):
    texts = sampler.generate(TEXTS, 8, **NO_STOP)
    ids = sampler.generate_tokens(_prompts(sampler), 8, **NO_STOP)
    assert texts == [ByteTokenizer().decode(t) for t in ids]


class _EosIs(ByteTokenizer):
    """A byte tokenizer whose EOS id is a token the random model emits."""

    def __init__(self, eos):
        self.eos_id = eos


def test_stop_on_eos_with_the_model(sampler):
    prompts = _prompts(sampler)
    free = sampler.generate_tokens(prompts, 40, **NO_STOP)
    eos = int(free[0][6])
    s = Sampler(sampler.graphdef, sampler.params, _EosIs(eos), CFG, max_len=MAX_LEN,
                stop_rules=STOP_RULES)
    got = s.generate_tokens(prompts, 40, stop_on_eos=True, stops={"answer_line": False})
    for row, full in zip(got, free):
        hits = np.flatnonzero(full == eos)
        end = hits[0] + 1 if len(hits) else len(full)
        np.testing.assert_array_equal(row, full[:end])
    assert len(got[0]) <= 7


def _scripted(script_texts, prompt_last_newline, **opts):
    """Run ``decode_loop`` with a fake model that emits the given texts."""
    tok = ByteTokenizer()
    rows = [tok.encode(t) for t in script_texts]
    width = 32
    script = np.full((len(rows), width), tok.encode("x")[0], np.int32)
    for i, r in enumerate(rows):
        script[i, :len(r)] = r
    vocab = tok.vocab_size

    def step(state, tokens, positions):  # positions are 0-based within the completion here
        return jax.nn.one_hot(jnp.asarray(script)[jnp.arange(len(rows)), positions + 1], vocab) * 10.0, state

    rule_ids = ANSWER_LINE.token_ids(tok)
    last = np.where(prompt_last_newline, rule_ids["newline"], tok.encode("=")[0]).astype(np.int32)
    states = {"answer_line": jnp.asarray([ANSWER_LINE.state(rule_ids, [t], []) for t in last])}
    ids = jax.tree.map(lambda v: jnp.asarray(v, jnp.int32),
                       dict(pad=0, bos=1, eos=2, rules={"answer_line": rule_ids}))
    o = dict(max_new=jnp.int32(width), temperature=jnp.float32(0.0), top_p=jnp.float32(1.0),
             seed=jnp.int32(0), stop_on_eos=jnp.bool_(True),
             stops={"answer_line": jnp.bool_(opts.get("stop_after_answer_line", True))})
    n = len(rows)
    out, count = jax.jit(decode_loop, static_argnums=(0, 9), static_argnames="rules")(
        step, jnp.zeros(()), jax.nn.one_hot(jnp.asarray(script[:, 0]), vocab) * 10.0,
        jnp.zeros((n,), jnp.int32), jnp.asarray(last), jnp.ones((n,), bool), jnp.arange(n), o,
        ids, width, rules=(ANSWER_LINE,), states=states)
    return [tok.decode(np.asarray(out)[i, :c]) for i, c in enumerate(np.asarray(count))]


def test_stop_after_answer_line():
    script = ["step 1\n#### 42\nmore", "#### 7\nafter", "x #### 3\n#### 4\nz", "a\n### 5\n#### 6\n",
              "no answer here\n"]
    got = _scripted(script, prompt_last_newline=[True, True, True, True, True])
    assert got[0] == "step 1\n#### 42\n"
    assert got[1] == "#### 7\n"
    assert got[2] == "x #### 3\n#### 4\n"  # the marker must start the line
    assert got[3] == "a\n### 5\n#### 6\n"
    assert got[4].startswith("no answer here\n") and len(got[4]) == 32  # ran to max_new
    # The completion start is a line start only after a newline in the prompt.
    late = _scripted(["#### 7\nafter #### 1\n"], prompt_last_newline=[False])[0]
    assert late.startswith("#### 7\nafter #### 1\nx") and len(late) == 32
    # Rule off: runs on to max_new.
    off = _scripted(["#### 7\nmore"], [True], stop_after_answer_line=False)[0]
    assert off.startswith("#### 7\nmore") and len(off) == 32


def test_stopped_at_end_tells_a_stop_from_the_limit():
    """What the server reports as finish_reason: the decode loop's rules, on the host."""
    s = Sampler(None, {}, ByteTokenizer(), None, max_len=MAX_LEN, stop_rules=STOP_RULES)
    tok, p = s.tokenizer, s.encode_prompt("Q\n")
    assert s.stopped_at_end(p, tok.encode("step\n#### 4\n"))
    assert s.stopped_at_end(p, np.append(tok.encode("abc"), tok.eos_id))
    assert not s.stopped_at_end(p, tok.encode("step\n#### 4"))  # cut by the limit
    assert not s.stopped_at_end(p, tok.encode("x #### 4\n"))  # the marker must start the line
    assert not s.stopped_at_end(s.encode_prompt("Q"), tok.encode("#### 4\n"))  # mid-line start
    assert not s.stopped_at_end(p, tok.encode("#### 4\n"), stops={"answer_line": False})
    assert not s.stopped_at_end(p, tok.encode("<<3*4="))  # the calculator rule is off by default
    assert s.stopped_at_end(p, tok.encode("<<3*4="), stops={"calculator": True})
    with pytest.raises(ValueError, match="no stop rule 'nope'"):
        s.stopped_at_end(p, tok.encode("x"), stops={"nope": True})


def test_prompt_bucket_compiles_once():
    # A fresh Sampler, so its jit cache starts empty (programs of the shapes
    # the other tests used come from the persistent compile cache).
    graphdef, params = _graph_and_params()
    s = Sampler(graphdef, params, ByteTokenizer(), CFG, max_len=MAX_LEN, stop_rules=STOP_RULES)
    s.generate(["0123456789abcdefghij"], 4, **NO_STOP)  # 21 tokens with BOS -> bucket 32
    s.generate(["0123456789abcdefghijklmnopq"], 9, temperature=0.7, top_p=0.5)  # 28 -> 32
    s.generate(["0123456789abcdefghijklmnopq"], 6, stop_on_eos=True, seed=4)
    # Prompt length, max_new_tokens, sampling options and stop rules never recompile.
    assert s.compile_count() == 1 and s.trace_count["cache"] == 1
    s.generate(TEXTS, 4, **NO_STOP)  # batch bucket 4: a second program
    assert s.compile_count() == 2


RULES = [("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"), ("heads", "tensor"),
         ("kv_heads", "tensor"), ("kv", None), ("mlp", "tensor"), ("norm", None)]


def test_sharded_over_8_devices_equals_one_device():
    assert jax.device_count() == 8
    mesh = shd.make_mesh(dict(data=2, fsdp=2, tensor=2))
    layout = state_layout(CFG, optax.sgd(0.1), mesh, RULES, seed=0)
    params = init_state(layout, CFG, optax.sgd(0.1), seed=0)["params"]
    assert params["blocks"][0]["attn"]["wq"].sharding.spec != jax.sharding.PartitionSpec()
    sharded = Sampler(layout.graphdef, params, ByteTokenizer(), CFG, max_len=MAX_LEN, mesh=mesh,
                      stop_rules=STOP_RULES)
    host_params = jax.tree.map(np.asarray, jax.device_get(params))
    single = Sampler(layout.graphdef, host_params, ByteTokenizer(), CFG, max_len=MAX_LEN,
                     stop_rules=STOP_RULES)
    prompts = _prompts(single)
    for kw in (NO_STOP, dict(temperature=1.0, top_p=0.9, seed=3, **NO_STOP)):
        _same(sharded.generate_tokens(prompts, 24, **kw), single.generate_tokens(prompts, 24, **kw))
