"""Log-probabilities of continuations under a trained model (teacher forcing).

``continuation_logprobs(sampler, contexts, continuations)`` returns, for each
pair, ``log p(continuation | BOS + context)``: the sum over the
continuation's tokens of the model's log-probability of that token, the
text before it given. Rows are tokenized as training tokenizes a prompt and
its completion (``BOS`` then the text), right-padded to a power-of-two width
(one compiled program per width) and scored in fixed-size batches. It is
what probes use (``evaluation.probes``) to ask how much a model believes a
line it may never write under greedy decoding.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rtt_jax.model.transformer import log_probs

BATCH = 64
_PROGRAMS: dict = {}


def _program(graphdef):
    key = id(graphdef)
    if key not in _PROGRAMS:
        def score(params, tokens, target_mask):
            model = nnx.merge(graphdef, params)
            inputs = tokens[:, :-1]
            positions = jnp.broadcast_to(jnp.arange(inputs.shape[1], dtype=jnp.int32),
                                         inputs.shape)
            # Right padding sits after each row's text: causally unseen.
            lp = log_probs(model(inputs, positions, jnp.ones_like(inputs)))
            picked = jnp.take_along_axis(lp, tokens[:, 1:, None], axis=-1)[..., 0]
            return jnp.sum(picked * target_mask[:, 1:], axis=-1)
        _PROGRAMS[key] = (graphdef, jax.jit(score))
    return _PROGRAMS[key][1]


def continuation_logprobs(sampler, contexts: Sequence[str], continuations: Sequence[str],
                          batch: int = BATCH) -> list[float]:
    if len(contexts) != len(continuations):
        raise ValueError(f"continuation_logprobs: {len(contexts)} contexts but "
                         f"{len(continuations)} continuations")
    tok, bos, pad = sampler.tokenizer, sampler.ids["bos"], sampler.ids["pad"]
    rows, masks = [], []
    for context, continuation in zip(contexts, continuations):
        c, t = list(tok.encode(context)), list(tok.encode(continuation))
        if not t:
            raise ValueError(f"continuation_logprobs: empty continuation after {context!r}")
        rows.append([bos] + c + t)
        masks.append([0] * (1 + len(c)) + [1] * len(t))
    if not rows:
        return []
    width = 1 << (max(len(r) for r in rows) - 1).bit_length()
    if width > sampler.max_len:
        raise ValueError(f"continuation_logprobs: a row of {max(len(r) for r in rows)} tokens "
                         f"does not fit max_len={sampler.max_len}")
    score = _program(sampler.graphdef)
    out: list[float] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        tokens = np.full((batch, width), pad, np.int32)
        mask = np.zeros((batch, width), np.float32)
        for i, (r, m) in enumerate(zip(chunk, masks[start:start + batch])):
            tokens[i, :len(r)], mask[i, :len(m)] = r, m
        got = np.asarray(jax.device_get(score(sampler.params, tokens, mask)))
        out.extend(float(v) for v in got[:len(chunk)])
    return out
