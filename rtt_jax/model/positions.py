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
* ``none`` (NoPE, Kazemnejad et al. 2023): no rotary embedding at all; the
  causal mask is the only source of order.

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

MODES = ("rope", "random_rope", "none")
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


def step_keys(seed: int, step, rows: int):
    """One key per row for training step ``step``: fold_in(seed, step, row)."""
    base = jax.random.fold_in(jax.random.key(_STREAM), seed)
    base = jax.random.fold_in(base, step)
    return jax.vmap(lambda r: jax.random.fold_in(base, r))(jnp.arange(rows))


def train_positions(mode: str, max_position: int, positions, seed: int, step):
    """The ids a training step feeds to RoPE: ``positions`` itself for ``rope``
    and ``none`` (the same array, so today's computation is untouched), random
    ids drawn from (seed, step, row) for ``random_rope``."""
    if mode != "random_rope":
        return positions
    return random_positions(step_keys(seed, step, positions.shape[0]), positions, max_position)


__all__ = ["MODES", "random_positions", "step_keys", "train_positions"]
