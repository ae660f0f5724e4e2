"""Log-probabilities of continuations under a trained model (teacher forcing).

``continuation_logprobs(sampler, contexts, continuations, prompts)`` returns,
for each pair, ``log p(continuation | BOS + context)``: the sum over the
continuation's tokens of the model's log-probability of that token, the
text before it given. A context is a prompt followed by the first lines of
a completion (``prompts`` says where each prompt ends; without it the whole
context is the prompt). Rows are tokenized as decoding sees them: ``BOS``
and the prompt, then the completion's text; right-padded to a power-of-two
width (one compiled program per width) and scored in fixed-size batches.
The RoPE ids are decoding's (``model.positions.decode_positions``), so
under ``model.positions=coupled`` a completion line sits on the ids the
sampler would give it, not on the row's counting ids.

It is what probes use (``evaluation.probes``) to ask how much a model
believes a line it may never write under greedy decoding.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rtt_jax.model.positions import decode_positions
from rtt_jax.model.transformer import log_probs

BATCH = 64
_PROGRAMS: dict = {}


def _program(graphdef):
    key = id(graphdef)
    if key not in _PROGRAMS:
        def score(params, tokens, target_mask, prompt_lengths):
            model = nnx.merge(graphdef, params)
            inputs = tokens[:, :-1]
            positions = jnp.broadcast_to(jnp.arange(inputs.shape[1], dtype=jnp.int32),
                                         inputs.shape)
            ids = decode_positions(model.cfg, inputs, positions,
                                   positions >= prompt_lengths[:, None])
            # Right padding sits after each row's text: causally unseen.
            lp = log_probs(model(inputs, ids, jnp.ones_like(inputs)))
            picked = jnp.take_along_axis(lp, tokens[:, 1:, None], axis=-1)[..., 0]
            return jnp.sum(picked * target_mask[:, 1:], axis=-1)
        _PROGRAMS[key] = (graphdef, jax.jit(score))
    return _PROGRAMS[key][1]


def continuation_logprobs(sampler, contexts: Sequence[str], continuations: Sequence[str],
                          prompts: Sequence[str] | None = None, batch: int = BATCH
                          ) -> list[float]:
    """``log p(continuation | BOS + context)`` for each pair (module doc).
    ``prompts[i]``, when given, is the start of ``contexts[i]`` that is the
    prompt; the rest of the context is the completion's first lines."""
    if len(contexts) != len(continuations):
        raise ValueError(f"continuation_logprobs: {len(contexts)} contexts but "
                         f"{len(continuations)} continuations")
    if prompts is None:
        prompts = contexts
    elif len(prompts) != len(contexts):
        raise ValueError(f"continuation_logprobs: {len(prompts)} prompts for "
                         f"{len(contexts)} contexts")
    tok, bos = sampler.tokenizer, sampler.ids["bos"]
    rows, masks, prompt_lengths = [], [], []
    for i, (context, continuation, prompt) in enumerate(zip(contexts, continuations, prompts)):
        if not context.startswith(prompt):
            raise ValueError(f"continuation_logprobs: context {i} does not start with its "
                             f"prompt {prompt[:40]!r}")
        p = [bos] + list(tok.encode(prompt))
        lines = list(tok.encode(context[len(prompt):]))  # [] when the context is the prompt
        t = list(tok.encode(continuation))
        if not t:
            raise ValueError(f"continuation_logprobs: empty continuation after {context!r}")
        rows.append(p + lines + t)
        masks.append([0] * (len(p) + len(lines)) + [1] * len(t))
        prompt_lengths.append(len(p))
    return score_rows(sampler, rows, masks, prompt_lengths, batch)


def score_rows(sampler, rows: Sequence[Sequence[int]], masks: Sequence[Sequence[int]],
               prompt_lengths: Sequence[int], batch: int = BATCH) -> list[float]:
    """For rows of token ids (each starting with its prompt, BOS included, of
    ``prompt_lengths[i]`` ids), the sum of ``log p(token | tokens before)``
    over the tokens whose ``masks`` entry is 1."""
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
        tokens = np.full((batch, width), sampler.ids["pad"], np.int32)
        mask = np.zeros((batch, width), np.float32)
        lengths = np.zeros((batch,), np.int32)
        for i, (r, m) in enumerate(zip(chunk, masks[start:start + batch])):
            tokens[i, :len(r)], mask[i, :len(m)] = r, m
            lengths[i] = prompt_lengths[start + i]
        got = np.asarray(jax.device_get(score(sampler.params, tokens, mask, lengths)))
        out.extend(float(v) for v in got[:len(chunk)])
    return out
