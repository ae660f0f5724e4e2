"""Position modes (``model.positions``: rope, random_rope, coupled, none; and
``model.position_skip`` on rope or coupled ids).

For each mode: a segment's ids restart in packed rows, cached decoding equals
the full forward pass, and ``rope`` (the default) leaves the train step's
computation as it was (the golden first losses, tests/test_training.py, run
with it). Random ids are a pure function of (seed, step, row)."""
import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rtt_jax.config_validation import ConfigError, validate
from rtt_jax.data.packing import pack_rows
from rtt_jax.data.formatting import Example
from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.model import ModelConfig, Transformer
from rtt_jax import tasks
from rtt_jax.model.positions import (coupled_positions, coupled_step, random_positions,
                                     skip_positions, step_keys, train_positions)
from rtt_jax.model.sampler import Sampler, full_recompute_generate
from rtt_jax.train import sharding as shd
from rtt_jax.train.state import init_state, state_layout
from rtt_jax.train.step import make_train_step

MAX_POSITION = 96
NEWLINE = int(ByteTokenizer().encode("\n")[0])
BASE = ModelConfig(vocab_size=259, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, init_std=0.3)
MODES = {"rope": BASE, "random_rope": dataclasses.replace(BASE, positions="random_rope",
                                                          max_position=MAX_POSITION),
         "rope_skip": dataclasses.replace(BASE, position_skip=True, max_position=MAX_POSITION),
         "coupled": dataclasses.replace(BASE, positions="coupled", coupling_anchor=1,
                                        coupling_stride=2, newline_id=NEWLINE),
         "coupled_skip": dataclasses.replace(BASE, positions="coupled", coupling_anchor=1,
                                             coupling_stride=2, newline_id=NEWLINE,
                                             position_skip=True, max_position=MAX_POSITION),
         "none": dataclasses.replace(BASE, positions="none")}


def _packed(lengths=(7, 12, 5, 9), seq_len=40):
    """One packed row (rows of seq_len + 1) of examples of the given lengths."""
    rng = np.random.default_rng(0)
    exs = [Example(rng.integers(3, 250, n).astype(np.int32), (np.arange(n) > 0).astype(np.int32))
           for n in lengths]
    rows, _ = pack_rows(exs, seq_len, algorithm="first_fit")
    assert rows["tokens"].shape[0] == 1
    return rows


def _segments(row_ids, segment_ids):
    return [row_ids[segment_ids == s] for s in np.unique(segment_ids) if s > 0]


def test_random_ids_are_a_sorted_subset_per_segment_and_restart():
    rows = _packed()
    pos, seg = jnp.asarray(rows["positions"]), rows["segment_ids"][0]
    firsts, lasts = [], []
    draws = jax.jit(lambda step: random_positions(step_keys(0, step, 1), pos, MAX_POSITION))
    for draw in range(40):
        ids = np.asarray(draws(draw))[0]
        for segment in _segments(ids, seg):
            assert np.all(np.diff(segment) > 0)  # strictly increasing: a sorted subset
            assert segment.min() >= 0 and segment.max() < MAX_POSITION
            firsts.append(segment[0])
            lasts.append(segment[-1])
    # Every segment starts afresh (its first id is not after the previous
    # segment's), and the draws spread over the whole range.
    assert min(firsts) < 10 and max(lasts) > MAX_POSITION - 10
    per_segment = np.asarray(firsts).reshape(40, -1)
    assert (per_segment[:, 1:] < 40).any()  # later segments also start low


def test_skip_ids_jump_once_per_segment_and_restart():
    rows = _packed()
    pos, seg = jnp.asarray(rows["positions"]), rows["segment_ids"][0]
    draws = jax.jit(lambda step: skip_positions(step_keys(0, step, 1), pos, pos, MAX_POSITION))
    jumps, longest = [], 0
    for draw in range(40):
        ids = np.asarray(draws(draw))[0]
        for segment in _segments(ids, seg):
            steps = np.diff(segment)
            assert segment[0] == 0 and segment.max() < MAX_POSITION  # restarts at 0
            assert np.all(steps >= 1) and np.sum(steps > 1) <= 1  # contiguous but one cut
            jumps.append(steps.max())
            longest = max(longest, segment[-1])
    assert max(jumps) > MAX_POSITION // 2 and longest > MAX_POSITION - 10
    assert sum(j == 1 for j in jumps) < len(jumps) // 4  # a skip of 0 is rare


def test_a_skip_moves_coupled_lines_with_their_terms():
    """The skip acts on id values: a term and the line that adds it stay on
    one id whichever side of the cut they fall."""
    family = tasks.get("modular")
    row, targets, prompt, _ = _modular_row(family.generate(0, 2, 8), "running")
    cfg = MODES["coupled_skip"]
    batch = dict(tokens=jnp.asarray(row[None]), positions=jnp.arange(len(row))[None],
                 loss_mask=jnp.asarray(targets[None]))
    plain = np.asarray(coupled_positions(batch["tokens"], batch["positions"], batch["loss_mask"],
                                         1, 2, NEWLINE))[0]
    moved = 0
    for step in range(8):
        ids = np.asarray(train_positions(cfg, batch, seed=0, step=step))[0]
        assert ids.max() < MAX_POSITION
        # One monotone map of id values: equal ids stay equal, order is kept.
        for a in np.unique(plain):
            assert len(np.unique(ids[plain == a])) == 1
        assert np.all(np.diff(ids[np.argsort(plain, kind="stable")]) >= 0)
        moved += int((ids != plain).any())
    assert moved >= 6


def test_rope_and_none_ids_are_the_packers_own():
    rows = {k: jnp.asarray(v) for k, v in _packed().items()}
    for mode in ("rope", "none"):
        assert train_positions(MODES[mode], rows, seed=0, step=3) is rows["positions"]


def _modular_row(problem, style):
    tok = ByteTokenizer()
    prompt, completion = tasks.get("modular").format_example(problem, style)
    row = np.concatenate([[tok.bos_id], tok.encode(prompt), tok.encode(completion), [tok.eos_id]])
    targets = (np.arange(len(row)) > len(prompt)).astype(np.int32)
    return row, targets, prompt, completion


@pytest.mark.parametrize("style", ["running", "hinted"])
def test_coupled_lines_sit_on_the_terms_they_add(style):
    family = tasks.get("modular")
    anchor, stride = family.position_coupling(style)
    p = family.generate(0, 4, 6)
    row, targets, prompt, completion = _modular_row(p, style)
    ids = np.asarray(coupled_positions(jnp.asarray(row[None]), jnp.arange(len(row))[None],
                                       jnp.asarray(targets[None]), anchor, stride, NEWLINE))[0]
    question = prompt.split("\n")[0]
    # The question counts from 1 (BOS 0); the rest of the prompt (the cue line)
    # ends one id before the first line, whatever the question's length.
    np.testing.assert_array_equal(ids[:2 + len(question)], np.arange(2 + len(question)))
    np.testing.assert_array_equal(ids[2 + len(question):1 + len(prompt)],
                                  np.arange(anchor - len(prompt) + len(question) + 1, anchor))
    offset = 1 + len(prompt)
    assert question[ids[offset] - 1] == completion[0]  # the first line starts on the first term
    for line in completion.split("\n")[:-1]:  # x±y=z: the sign and term sit on the question's
        m = re.match(r"^(-?[0-9]+)([+-][A-Za-z]?[0-9]+)=", line)
        for k in range(offset + m.start(2), offset + m.end(2)):
            assert question[ids[k] - 1] == line[k - offset], (line, k - offset)
        offset += len(line) + 1
    # Decoding computes the same ids one token at a time.
    line_no, off = jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32)
    for k in range(1 + len(prompt), len(row)):
        got, line_no, off = coupled_step(jnp.asarray(row[k:k + 1]), line_no, off, anchor, stride,
                                         NEWLINE)
        assert int(got[0]) == ids[k]


def test_coupled_ids_restart_with_every_packed_segment():
    family = tasks.get("modular")
    pieces = [_modular_row(family.generate(0, i, lv), "running") for i, lv in ((0, 2), (1, 5))]
    alone = [np.asarray(coupled_positions(jnp.asarray(r[None]), jnp.arange(len(r))[None],
                                          jnp.asarray(m[None]), 1, 2, NEWLINE))[0]
             for r, m, _, _ in pieces]
    row = np.concatenate([r for r, _, _, _ in pieces])
    targets = np.concatenate([m for _, m, _, _ in pieces])
    pos = np.concatenate([np.arange(len(r)) for r, _, _, _ in pieces])
    packed = np.asarray(coupled_positions(jnp.asarray(row[None]), jnp.asarray(pos[None]),
                                          jnp.asarray(targets[None]), 1, 2, NEWLINE))[0]
    np.testing.assert_array_equal(packed, np.concatenate(alone))


def test_random_ids_are_a_function_of_seed_step_and_row():
    ids = jax.jit(lambda pos, seed, step: train_positions(MODES["random_rope"],
                                                          dict(positions=pos), seed, step))
    pos = jnp.asarray(np.tile(_packed()["positions"], (3, 1)))
    a = np.asarray(ids(pos, 1, 5))
    np.testing.assert_array_equal(a, ids(pos, 1, 5))
    assert not np.array_equal(a, ids(pos, 1, 6))
    assert not np.array_equal(a, ids(pos, 2, 5))
    assert not np.array_equal(a[0], a[1])  # rows draw their own ids
    # A row's ids do not depend on how many rows the batch has.
    np.testing.assert_array_equal(a[:2], ids(pos[:2], 1, 5))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_packed_row_equals_its_segments_alone(mode):
    cfg = MODES[mode]
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=0)))
    forward = jax.jit(lambda p, t, pos, s: nnx.merge(graphdef, p)(t, pos, s))
    params = nnx.to_pure_dict(state)
    rows = _packed()
    pos = train_positions(cfg, {k: jnp.asarray(v) for k, v in rows.items()}, seed=0, step=0)
    tok, seg = jnp.asarray(rows["tokens"]), jnp.asarray(rows["segment_ids"])
    packed = np.asarray(forward(params, tok, pos, seg))[0]
    for s in range(1, int(seg.max()) + 1):
        idx = np.flatnonzero(np.asarray(seg)[0] == s)
        alone = forward(params, tok[:, idx], jnp.asarray(pos)[:, idx],
                        jnp.ones((1, len(idx)), jnp.int32))
        np.testing.assert_allclose(packed[idx], np.asarray(alone)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_cached_decoding_equals_the_full_forward_pass(mode):
    cfg = MODES[mode]
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=1)))
    params = nnx.to_pure_dict(state)
    texts = ("3+4-1 mod 10\n", "9", "a longer prompt")
    kw = dict(stop_on_eos=False)  # a bare Sampler has no stop rules
    if mode == "coupled":
        # A random model rarely writes "\n": let the line rule count a token it
        # does write, so that decoding crosses line starts.
        s = Sampler(graphdef, params, ByteTokenizer(), cfg, max_len=64)
        free = s.generate_tokens([s.encode_prompt(t) for t in texts], 30, **kw)
        cfg = dataclasses.replace(cfg, newline_id=int(np.bincount(np.concatenate(free)).argmax()))
    sampler = Sampler(graphdef, params, ByteTokenizer(), cfg, max_len=64)
    prompts = [sampler.encode_prompt(t) for t in texts]
    cached = sampler.generate_tokens(prompts, 30, **kw)
    full = full_recompute_generate(sampler, prompts, 30, **kw)
    for a, b in zip(cached, full):
        np.testing.assert_array_equal(a, b)
    if mode == "coupled":
        assert sum(int((c == cfg.newline_id).sum()) for c in cached) >= 3


def test_calculator_decoding_refuses_coupled_ids():
    """The calculator resumes from a longer prompt, which would move where the
    completion's coupled ids start: refused with one line, nothing decoded."""
    from rtt_jax.evaluation.calculator import safe_calculator
    from rtt_jax.evaluation.calculator_decoding import calculator_generate
    from rtt_jax.evaluation.stops import make_sampler
    graphdef, state = nnx.split(Transformer(MODES["coupled"], nnx.Rngs(params=0)))
    s = make_sampler(graphdef, nnx.to_pure_dict(state), ByteTokenizer(), MODES["coupled"], 64)
    with pytest.raises(ValueError, match="model.positions=coupled"):
        calculator_generate(s, [s.encode_prompt("1+2 mod 10\n")], 8, safe_calculator)


def test_none_ignores_position_ids():
    cfg = MODES["none"]
    graphdef, state = nnx.split(Transformer(cfg, nnx.Rngs(params=0)))
    forward = jax.jit(lambda p, pos: nnx.merge(graphdef, p)(tok, pos, jnp.ones_like(tok)))
    params = nnx.to_pure_dict(state)
    tok = jnp.asarray([[5, 9, 31, 7, 100]], jnp.int32)
    a = forward(params, jnp.arange(5)[None])
    b = forward(params, jnp.asarray([[3, 17, 18, 40, 41]]))
    np.testing.assert_allclose(a, b, atol=1e-6)


RULES = [("batch", ("data", "fsdp")), ("vocab", None), ("embed", None), ("heads", None),
         ("kv_heads", None), ("kv", None), ("mlp", None), ("norm", None)]


def _train_loss(cfg, seed: int, repeats: int = 1):
    """The first step's loss of a fresh state, ``repeats`` times from scratch."""
    mesh = shd.make_mesh({"data": -1}, jax.devices()[:1])
    opt = optax.adamw(1e-3)
    layout = state_layout(cfg, opt, mesh, RULES, 0)
    step = make_train_step(layout, opt, lambda s: 1e-3, seed=seed)
    batch = {k: jnp.asarray(np.tile(v, (2, 1))) for k, v in _packed().items()}
    return [float(step(init_state(layout, cfg, opt, 0), batch)[1]["loss"])
            for _ in range(repeats)]


@pytest.mark.slow  # compiles four train steps
@pytest.mark.parametrize("mode", ["random_rope", "rope_skip"])
def test_random_ids_training_is_deterministic_and_differs_from_rope(mode):
    first, again = _train_loss(MODES[mode], seed=0, repeats=2)
    assert first == again
    assert first != _train_loss(MODES[mode], seed=1)[0]
    rope = _train_loss(BASE, seed=0)[0]
    assert first != rope
    # rope ignores the seed: its step is today's computation.
    assert rope == _train_loss(BASE, seed=7)[0]


def test_bad_position_fields_are_one_line(tiny_config):
    with pytest.raises(ValueError, match="model.positions='alibi'"):
        dataclasses.replace(BASE, positions="alibi")
    with pytest.raises(ValueError, match="model.max_position=0"):
        dataclasses.replace(BASE, positions="random_rope")
    with pytest.raises(ValueError, match="model.coupling_stride=0"):
        dataclasses.replace(BASE, positions="coupled")
    with pytest.raises(ValueError, match="model.position_skip=True"):
        dataclasses.replace(BASE, positions="none", position_skip=True, max_position=64)
    tiny_config.model.update(positions="random_rope", max_position=16)
    with pytest.raises(ConfigError, match="model.max_position"):
        validate(tiny_config)
