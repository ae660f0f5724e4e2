"""Position ids for rotary embeddings: ``model.positions`` picks how they are made.

* ``rope`` (the default): each segment of a packed row counts 0, 1, 2, ...
  (``data.packing`` writes these), in training and decoding alike.
* ``random_rope`` (Ruoss et al. 2023, "Randomized positional encodings",
  arXiv 2305.16843): in training, each segment's ids are a sorted random
  subset of ``[0, model.max_position)`` instead, so the relative distances a
  long test sequence produces (up to ``max_position``) were all seen in
  training, though every training example is short. Decoding counts 0, 1,
  2, ... as ``rope`` does; with ``max_position`` at least the longest
  sequence decoded, every distance it meets was trained.
* ``coupled`` (position coupling, Cho et al. 2024, arXiv 2405.20671 and
  2410.15787): the prompt counts 0, 1, 2, ...; in the completion, line k
  (0-based) starts at id ``anchor + stride * k`` and counts up by one per
  token within the line. A task family says which ``(anchor, stride)``
  makes its trace lines line up with the question (``modular``'s
  ``position_coupling``): line k of a running total then sits on the ids of
  the term it adds, at every length, so the term is found at the same
  relative distance however long the chain. The same rule runs in training
  (``coupled_positions``, from the tokens and the loss mask: a segment's
  completion starts at its first target) and in decoding (``coupled_step``),
  where a token's id is no longer its KV-cache slot; scoring a sampled
  completion in one pass (RL) takes decoding's ids (``decode_positions``).
  The prompt's lines after the question (a style's cue) are laid just
  before the anchor (``model.coupling_prompt="question"``; ``"contiguous"``
  leaves the prompt counting 0, 1, 2, ...), so the prompt's last token, where the first line
  is predicted, sits one id before it at every length: counted from the
  question's start, the prompt's end moves with the question's length.
* ``none`` (NoPE, Kazemnejad et al. 2023): no rotary embedding at all; the
  causal mask is the only source of order.

``model.position_skip`` (positional skip-wise training, PoSE, Zhu et al.
2024, arXiv 2309.10400) composes with ``rope`` and ``coupled``: in
training, each segment's ids are cut at a random id c and every id >= c
jumps ahead by a random skip, keeping them below ``model.max_position``.
Ids keep their local structure on either side of the cut (as in decoding,
which never skips), while distances across it cover everything up to
``max_position``: a distance the model could use to count (how far the
question's end is, say) no longer counts in training. The skip acts on id
values, not on token order, so coupled lines and their terms move together.

Random ids are drawn inside the train step from ``(seed, step, row)``
(``fold_in`` of each), so a resumed run draws the same ids as one that never
stopped, and a row's ids do not depend on the batch it is sharded with.

How a segment's subset is drawn, vectorised over packed rows: every token
draws u ~ U[0, 1); the draws are sorted within each segment (segments are
found from the per-segment ids the packer wrote: a token at row index t with
id i starts its segment at t - i); the k-th smallest draw of a segment of n
tokens becomes ``floor(u * (max_position - n + 1)) + k``. The ids are then
strictly increasing and below ``max_position``: a sorted subset, though not
exactly uniform over all subsets (sorted draws with ties spread apart; the
difference vanishes for n much smaller than ``max_position``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

MODES = ("rope", "random_rope", "coupled", "none")
SKIPPABLE = ("rope", "coupled")  # the modes model.position_skip applies to
COUPLING_PROMPTS = ("question", "contiguous")  # model.coupling_prompt
# Mixed into the seed so position draws never share a stream with anything else.
_STREAM = 0x9E3779B9 & 0x7FFFFFFF


def random_positions(key, positions, max_position: int):
    """Per-segment sorted random ids in ``[0, max_position)``.

    ``key``: one typed key per row ([B]); ``positions``: int [B, T], 0, 1, ...
    restarting at every segment (padding, id 0 each, is a segment of one).
    Returns int32 [B, T]; a segment of n tokens needs ``n <= max_position``.
    """
    b, t = positions.shape
    positions = positions.astype(jnp.int32)
    index = jnp.arange(t, dtype=jnp.int32)[None, :]
    start = index - positions  # the row index where each token's segment begins
    u = jax.vmap(lambda k: jax.random.uniform(k, (t,)))(key)
    # Segments are contiguous runs, so sorting by (start, u) sorts u within each one.
    _, sorted_u = jax.lax.sort((jnp.broadcast_to(start, (b, t)), u), dimension=1, num_keys=2)
    length = jax.vmap(lambda s: jnp.zeros((t,), jnp.int32).at[s].add(1)[s])(start)
    room = jnp.maximum(max_position - length + 1, 1).astype(jnp.float32)
    spread = jnp.minimum(jnp.floor(sorted_u * room).astype(jnp.int32), room.astype(jnp.int32) - 1)
    return spread + positions


def skip_positions(key, ids, positions, max_position: int):
    """``ids`` with one random skip per segment: a segment whose largest id is
    m is cut at c ~ U{1..m}, and its ids >= c move ahead by J ~ U{0..
    max_position - 1 - m}. ``positions`` (0, 1, ... per segment) say where
    segments start; segments of one token are left alone. Int32 [B, T]."""
    b, t = ids.shape
    ids = ids.astype(jnp.int32)
    start = jnp.arange(t, dtype=jnp.int32)[None, :] - positions.astype(jnp.int32)
    top = jax.vmap(lambda s, i: jnp.zeros((t,), jnp.int32).at[s].max(i)[s])(start, ids)
    u = jax.vmap(lambda k: jax.random.uniform(k, (2, t)))(key)  # [B, 2, T]
    # One (cut, skip) draw per segment: the draws at its first token.
    u_cut, u_skip = (jnp.take_along_axis(u[:, i], start, axis=1) for i in (0, 1))
    cut = 1 + jnp.minimum(jnp.floor(u_cut * top).astype(jnp.int32), jnp.maximum(top - 1, 0))
    room = jnp.maximum(max_position - top, 1)
    skip = jnp.minimum(jnp.floor(u_skip * room).astype(jnp.int32), room - 1)
    return ids + jnp.where((ids >= cut) & (top > 0), skip, 0)


def coupled_positions(tokens, positions, targets, anchor: int, stride: int, newline: int,
                      tail: bool = True):
    """Line-coupled ids for packed rows (module doc, ``coupled``).

    ``tokens``, ``positions`` (0, 1, ... per segment), ``targets`` (1 where a
    token is a target): int [B, T]. A segment's completion starts at its first
    target; its tokens get ``anchor + stride * line + offset`` (line: newlines
    of the completion before the token; offset: tokens since the line began).
    With ``tail``, the prompt's lines after its first (the question) end just
    before the anchor (the prompt's last token at ``anchor - 1``); every other
    token keeps its ``positions`` id."""
    b, t = tokens.shape
    positions = positions.astype(jnp.int32)
    index = jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))
    start = index - positions
    first = jax.vmap(lambda s, i: jnp.full((t,), t, jnp.int32).at[s].min(i)[s])(
        start, jnp.where(targets > 0, index, t))  # t: the segment has no target
    completion = index >= first
    newline_here = ((tokens == newline) & completion).astype(jnp.int32)
    before = jnp.cumsum(newline_here, axis=1) - newline_here  # completion newlines before t
    line = before - jnp.take_along_axis(before, jnp.minimum(first, t - 1), axis=1)
    last = jax.lax.cummax(jnp.where(newline_here > 0, index, -1), axis=1)
    last_before = jnp.concatenate([jnp.full((b, 1), -1, jnp.int32), last[:, :-1]], axis=1)
    offset = index - jnp.maximum(last_before + 1, first)
    ids = jnp.where(completion, anchor + stride * line + offset, positions)
    if not tail:
        return ids
    question_end = jax.vmap(lambda s, i: jnp.full((t,), t, jnp.int32).at[s].min(i)[s])(
        start, jnp.where((tokens == newline) & ~completion, index, t))  # the first newline
    return jnp.where(~completion & (index > question_end), anchor - (first - index), ids)


def coupled_step(tokens, line, offset, anchor: int, stride: int, newline: int):
    """Decoding's side of ``coupled_positions``: the ids of completion tokens
    fed one at a time ([B]), given each row's (line, offset) so far; returns
    (ids, line, offset) after them."""
    ids = anchor + stride * line + offset
    ends = tokens == newline
    return ids, jnp.where(ends, line + 1, line), jnp.where(ends, 0, offset + 1)


def decode_positions(cfg, tokens, positions, completion):
    """The ids decoding feeds RoPE for rows of ``[prompt, completion]``: the
    sampler's prefill and decode steps together (``Sampler.prompt_ids`` is
    this), so that scoring a sampled completion in one forward pass (RL's
    update, ``rtt_jax.rl.update``) gives the log-probabilities it was sampled
    with. ``positions``: 0, 1, ... per row; ``completion``: 1 from the row's
    first completion token on (only where it starts matters). ``coupled``
    ids follow the completion's lines; every other mode counts, as decoding
    does (``random_rope`` ids and ``model.position_skip`` are training's
    only). ``cfg``: the ``ModelConfig``."""
    if cfg.positions != "coupled":
        return positions
    return coupled_positions(tokens, positions, completion, cfg.coupling_anchor,
                             cfg.coupling_stride, cfg.newline_id,
                             tail=cfg.coupling_prompt == "question")


def step_keys(seed: int, step, rows: int):
    """One key per row for training step ``step``: fold_in(seed, step, row)."""
    base = jax.random.fold_in(jax.random.key(_STREAM), seed)
    base = jax.random.fold_in(base, step)
    return jax.vmap(lambda r: jax.random.fold_in(base, r))(jnp.arange(rows))


def train_positions(cfg, batch, seed: int, step):
    """The ids a training step feeds to RoPE for ``batch`` (rows of tokens,
    positions, loss_mask): ``batch["positions"]`` itself for ``rope`` and
    ``none`` without a skip (the same array, so today's computation is
    untouched); random ids for ``random_rope``; line-coupled ids for
    ``coupled``; then the skip of ``model.position_skip``. Random draws come
    from (seed, step, row). ``cfg``: the ``ModelConfig``."""
    positions = batch["positions"]
    ids = positions
    if cfg.positions == "coupled":
        ids = coupled_positions(batch["tokens"], positions, batch["loss_mask"],
                                cfg.coupling_anchor, cfg.coupling_stride, cfg.newline_id,
                                tail=cfg.coupling_prompt == "question")
    elif cfg.positions == "random_rope":
        ids = random_positions(step_keys(seed, step, positions.shape[0]), positions,
                               cfg.max_position)
    if cfg.position_skip:
        key = jax.vmap(lambda k: jax.random.fold_in(k, 1))(step_keys(seed, step, ids.shape[0]))
        ids = skip_positions(key, ids, positions, cfg.max_position)
    return ids


__all__ = ["COUPLING_PROMPTS", "MODES", "SKIPPABLE", "coupled_positions", "coupled_step",
           "decode_positions", "random_positions", "skip_positions", "step_keys",
           "train_positions"]
