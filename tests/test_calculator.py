"""Calculator-assisted decoding: ``value>>`` after ``<<expr=``, with a scripted fake model."""
import builtins

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.evaluation.calculator import safe_calculator
from rtt_jax.evaluation.calculator_decoding import (calculator_generate, calculator_value,
                                                    generate_with_calculator, pending_expression)
from rtt_jax.evaluation.stops import CALCULATOR, STOP_RULES, make_sampler
from rtt_jax.model import ModelConfig, Transformer
from rtt_jax.model.sampler import Sampler, decode_loop

MAX_LEN = 64
PROMPT = "Q\n"


class ScriptedSampler(Sampler):
    """A Sampler whose "model" emits, at absolute position p of row r (the
    row's index in the call), token p of ``encode_prompt(PROMPT + scripts[r])``
    whatever the context holds: its own text, as if no calculator intervened."""

    def __init__(self, scripts, **kw):
        tok = ByteTokenizer()
        self.script = np.full((len(scripts), MAX_LEN + 1), tok.encode("x")[0], np.int32)
        for r, text in enumerate(scripts):
            ids = np.concatenate([[tok.bos_id], tok.encode(PROMPT + text)])
            self.script[r, :len(ids)] = ids
        self.rounds = 0
        super().__init__(None, {}, tok, None, max_len=MAX_LEN, stop_rules=STOP_RULES, **kw)

    def decode_rows(self, *args, **kw):
        self.rounds += 1
        return super().decode_rows(*args, **kw)

    def _cached_program(self, params, tokens, lengths, rows, opts, ids):
        self.trace_count["cache"] += 1
        script = jnp.asarray(self.script)
        index = jnp.clip(rows["row_ids"], 0, script.shape[0] - 1)

        def logits(pos):  # the token for position pos
            tok = script[index, jnp.clip(pos, 0, MAX_LEN)]
            return jax.nn.one_hot(tok, self.tokenizer.vocab_size) * 10.0

        prompt_last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
        return decode_loop(lambda s, tok, pos: (logits(pos + 1), s), jnp.zeros(()),
                           logits(lengths), lengths, prompt_last, rows["active"],
                           rows["row_ids"], opts, ids, self.max_len, rules=self.stop_rules,
                           states=rows["states"], step0=rows["step0"], limit=rows["limit"])


def run(scripts, max_new=48, calculator=None, **kw):
    s = ScriptedSampler(scripts)
    prompts = [PROMPT] * len(scripts)
    if calculator is None:
        return s.generate(prompts, max_new, **kw), s
    return generate_with_calculator(s, prompts, max_new, calculator, **kw), s


def test_inserts_value_and_resumes():
    scripts = ["He has <<3*4=99>> so\n#### 12\nmore",
               "a <<2+3=6>> b <<6*2=13>>\n#### 13\nz",  # two calls: 5, then 12 over 13
               "<<7/2=3>> ok\n#### 3.5\nz",  # a longer value shifts the script
               "none here\n#### 1\nz",
               "#### <<3*4=99>>\nmore"]  # an answer line split by a stop still ends decoding
    got, s = run(scripts, calculator=safe_calculator)
    assert got[0] == "He has <<3*4=12>> so\n#### 12\n"
    assert got[1] == "a <<2+3=5>> b <<6*2=12>>\n#### 13\n"
    # "3.5>>" covers the model's "3>> o", which then writes on from its own position.
    assert got[2] == "<<7/2=3.5>>k\n#### 3.5\n"
    assert got[3] == "none here\n#### 1\n"
    assert got[4] == "#### <<3*4=12>>\n"
    assert s.rounds == 3  # row 1 needed two calculator stops
    # No calculator (the default) is the model's own text, in one round.
    s.rounds = 0
    off = s.generate([PROMPT] * len(scripts), 48)
    assert off == [t[:t.index("\n", t.index("####")) + 1] for t in scripts]
    assert s.rounds == 1


def test_budget_counts_inserted_tokens():
    s = ScriptedSampler(["He has <<3*4=99>> so\n#### 12\n"] * 2)
    for max_new in (1, 12, 13, 14, 15, 16, 17, 20):
        got = generate_with_calculator(s, [PROMPT] * 2, max_new, safe_calculator)
        assert got == ["He has <<3*4=12>> so\n#### 12\n"[:max_new]] * 2
        ids = calculator_generate(s, [s.encode_prompt(PROMPT)] * 2, max_new, safe_calculator)
        assert [len(t) for t in ids] == [min(max_new, 29)] * 2


def test_unparseable_expression_is_left_alone(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    scripts = ["<<__import__('os').system('true')=0>>\n#### 0\n",
               "<<3 apples=3>> and <<1/0=9>> and <<=4>>\n#### 4\n"]
    got, s = run(scripts, calculator=safe_calculator)
    assert got == scripts
    assert s.rounds == 4  # each "<<expr=" stopped once, then resumed unchanged
    assert calculator_value("__import__('os').system('true')", safe_calculator) is None
    assert calculator_value("1/0", safe_calculator) is None
    assert calculator_value("", safe_calculator) is None


def test_equals_outside_open_brackets_does_not_trigger():
    scripts = ["x = 3*4 = 5 <<1+1>> = 7\n#### 7\n",
               "< <1+1= 9 > > <<2*2=4>> 5*5= 6\n#### 6\n",  # spaced '<' are no '<<'
               "<<x=1+1=5>>\n#### 5\n"]  # only the first '=' inside '<<' calls
    got, s = run(scripts, calculator=safe_calculator)
    assert got[0] == scripts[0]
    assert got[1] == scripts[1]
    assert got[2] == scripts[2]
    assert s.rounds == 2  # one stop: row 2's "<<x=", which does not evaluate


def test_prompt_inside_open_brackets():
    s = ScriptedSampler(["x"])
    bos = s.ids["bos"]
    tok = s.tokenizer
    prompts = ["<<1+2", "<<1+2=", "<<1>>", "a <", "none"]
    width = 8
    tokens = np.zeros((len(prompts), width), np.int32)
    lengths = []
    for i, p in enumerate(prompts):
        ids = np.concatenate([[bos], tok.encode(p)])
        tokens[i, :len(ids)] = ids
        lengths.append(len(ids))
    ids = s.rule_ids["calculator"]
    state = [CALCULATOR.state(ids, row[:n], row[:0]) for row, n in zip(tokens, lengths)]
    np.testing.assert_array_equal(state, [1, 2, 0, 0, 0])


def test_the_calculator_is_the_callers():
    # The model part evaluates nothing: whatever function it is given decides.
    seen = []

    def spy(expr):
        seen.append(expr)
        return "7"

    got, _ = run(["<<3*4=99>> so\n#### 7\n"], calculator=spy)
    assert seen == ["3*4"] and got[0].startswith("<<3*4=7>>")


def test_pending_expression():
    assert pending_expression("He has <<3*4=") == "3*4"
    assert pending_expression("<<1>> x <<2+2=") == "2+2"
    assert pending_expression("<<3*4") is None
    assert pending_expression("<<3*4>> =") is None
    assert pending_expression("<<3=4=") is None
    assert pending_expression("3*4=") is None
    assert calculator_value("3*4", safe_calculator) == "12>>"
    assert calculator_value("1,000/8", safe_calculator) == "125>>"


def test_real_model_without_annotations_is_unchanged():
    cfg = ModelConfig(vocab_size=259, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, init_std=0.3)
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=0)))
    s = make_sampler(graphdef, nnx.to_pure_dict(state), ByteTokenizer(), cfg, max_len=MAX_LEN)
    texts = ["12+5=", "a longer prompt of 21", "7"]
    kw = dict(stop_on_eos=False, stops={"answer_line": False})
    plain = s.generate(texts, 24, **kw)
    assert not any("<<" in t for t in plain)
    assert generate_with_calculator(s, texts, 24, safe_calculator, **kw) == plain
    # What a calculator round relies on: a row resumed from its own first k
    # tokens (same row index, step offset k) samples the same continuation.
    prompts = [s.encode_prompt(t) for t in texts]
    kw.update(temperature=1.0, top_p=0.9, seed=3)
    full = s.generate_tokens(prompts, 24, **kw)
    k = np.array([5, 10, 17])
    rest = s.decode_rows([np.concatenate([p, f[:j]]) for p, f, j in zip(prompts, full, k)],
                         dict(row_ids=[0, 1, 2], step0=k, limit=24 - k), **kw)
    for f, r, j in zip(full, rest, k):
        np.testing.assert_array_equal(f[j:], r)


def test_needs_single_token_brackets():
    class Merged(ByteTokenizer):
        def encode(self, text):
            return super().encode(text + "=" if text == "=" else text)

    s = make_sampler(None, {}, Merged(), None, max_len=MAX_LEN)
    assert s.rule_ids["calculator"]["at"] == -1
    with pytest.raises(ValueError, match="single tokens"):
        generate_with_calculator(s, ["x"], 4, safe_calculator)
