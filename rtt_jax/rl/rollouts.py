"""Rollouts: G samples per prompt through the KV-cache sampler, and the rows
the update trains on.

Determinism. Completion g of prompt i at iteration k is row ``i * G + g`` of
the sampler's random stream seeded by ``rollout_seed(seed, k)``: the sampler
draws each row from ``fold_in(fold_in(key(seed), row), step)``
(``model.sampler``), so a completion depends on (seed, k, i, g) and the
params, never on which prompts share its batch, its padding bucket or its
host. A resumed run therefore samples what the killed run sampled.

Stops: EOS (training put one after every completion) or the end of a
``#### answer`` line; at most ``rl.max_new_tokens`` tokens. The completion's
tokens include its stop token: the policy chose it, so it is trained too.

Rows (``pack_rows``): ``[BOS] prompt completion`` then padding, ``seq_len +
1`` tokens, laid out as training's rows (``tokens``, ``positions``,
``segment_ids``: 1 on real tokens, 0 on padding) plus ``completion``: 1 on
the sampled tokens, the only ones with a loss. ``positions`` count 0, 1, ...
along the row; the update turns them into the ids the sampler used
(``model.positions.decode_positions``: line-coupled under ``coupled``).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from rtt_jax.config_error import ConfigError
from rtt_jax.data.sources import mix64, name_key
from rtt_jax.evaluation.stops import ANSWER_LINE
from rtt_jax.rl.prompts import RolloutPrompt

_SEED_KEY = name_key("rl_rollouts")


def rollout_seed(seed: int, iteration: int) -> int:
    """The sampler seed of iteration ``iteration`` (int32, non-negative)."""
    return mix64(seed, _SEED_KEY, iteration) & 0x7FFF_FFFF


@dataclasses.dataclass
class Rollouts:
    """Row ``p * G + g`` (local order) is the g-th sample of ``prompts[p]``."""

    prompts: list[RolloutPrompt]
    group_size: int
    prompt_ids: list[np.ndarray]  # one per row
    completions: list[np.ndarray]  # one per row, its stop token included
    texts: list[str]  # decoded, special tokens dropped

    def prompt_of(self, row: int) -> RolloutPrompt:
        return self.prompts[row // self.group_size]


def sample_groups(sampler, prompts: Sequence[RolloutPrompt], group_size: int, *, seed: int,
                  iteration: int, temperature: float, top_p: float, max_new_tokens: int,
                  seq_len: int) -> Rollouts:
    """G completions of each prompt (module doc). ``sampler.params`` is the
    policy; a prompt that leaves no room for ``max_new_tokens`` in a row of
    ``seq_len + 1`` tokens is a ConfigError naming rl.seq_len."""
    encoded = [sampler.encode_prompt(p.text) for p in prompts]
    for p, ids in zip(prompts, encoded):
        if len(ids) + max_new_tokens > seq_len + 1:
            raise ConfigError(
                f"config.rl.seq_len={seq_len}: a prompt of {len(ids)} tokens ({p.source} level "
                f"{p.level}) + rl.max_new_tokens={max_new_tokens} does not fit seq_len + 1")
    row_prompts = [ids for ids in encoded for _ in range(group_size)]
    row_ids = np.array([p.index * group_size + g for p in prompts for g in range(group_size)])
    n = len(row_prompts)
    completions = sampler.decode_rows(
        row_prompts, dict(row_ids=row_ids, step0=np.zeros(n), limit=np.full(n, max_new_tokens)),
        temperature=temperature, top_p=top_p, seed=rollout_seed(seed, iteration),
        stop_on_eos=True, stops={ANSWER_LINE.name: True})
    completions = [np.asarray(c, np.int32) for c in completions]
    texts = [sampler.tokenizer.decode(c) for c in completions]
    return Rollouts(list(prompts), group_size, row_prompts, completions, texts)


def pack_rows(prompt_ids: Sequence[np.ndarray], completions: Sequence[np.ndarray],
              width: int, pad_id: int) -> dict[str, np.ndarray]:
    """Training-style rows of ``width`` tokens (module doc), int32 [N, width]."""
    n = len(prompt_ids)
    tokens = np.full((n, width), pad_id, np.int32)
    segment_ids = np.zeros((n, width), np.int32)
    completion = np.zeros((n, width), np.int32)
    for r, (p, c) in enumerate(zip(prompt_ids, completions)):
        end = len(p) + len(c)
        if end > width:
            raise ValueError(f"row {r}: {len(p)} prompt + {len(c)} completion tokens > {width}")
        tokens[r, :len(p)] = p
        tokens[r, len(p):end] = c
        segment_ids[r, :end] = 1
        completion[r, len(p):end] = 1
    positions = np.broadcast_to(np.arange(width, dtype=np.int32), (n, width)).copy()
    return {"tokens": tokens, "positions": positions, "segment_ids": segment_ids,
            "completion": completion}
