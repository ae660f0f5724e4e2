"""Stop rules: per-row state machines that the decode loop advances on every
sampled token, stopping a row when one fires.

A rule is any object with (``StopRule``):

* ``name``: its switch in a call's ``stops`` (``Sampler.generate(...,
  stops={name: bool})``), and ``on_by_default``: whether it is on when the
  call does not say. The switches are traced values, so turning a rule on or
  off never recompiles.
* ``token_ids(tokenizer) -> {key: np.ndarray}``: the ids it matches. They are
  arguments of the compiled program, not constants in it, so samplers over
  different tokenizers share programs.
* ``state(ids, prompt, completion) -> int`` (host, numpy): a row's state
  after ``prompt`` and the part of the completion decoded so far; the decode
  loop starts from it (a row resumed after a pause keeps its state).
* ``advance(ids, state, prev, tok) -> (state, fired)`` (traced, [B] arrays):
  after a row sampled ``tok`` following ``prev`` (the prompt's last token at
  the first step).

The model part knows no task's text: the two machines here are generic token
patterns, and which strings they match is chosen by the caller
(``rtt_jax.evaluation.stops``: the final-answer line, GSM8K's calculator
annotations). A rule fires only where its strings come out as the tokens it
expects (exact for the byte tokenizer); a string a tokenizer cannot spell
that way never matches (id -1).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax.numpy as jnp
import numpy as np

NEVER = -1  # an id no token has: the pattern never matches


@runtime_checkable
class StopRule(Protocol):
    name: str
    on_by_default: bool

    def token_ids(self, tokenizer) -> dict[str, np.ndarray]: ...

    def state(self, ids: dict, prompt: np.ndarray, completion: np.ndarray) -> int: ...

    def advance(self, ids: dict, state, prev, tok): ...


def single_token(tokenizer, text: str) -> int:
    """``text``'s id when the tokenizer spells it as one token, else ``NEVER``."""
    enc = list(tokenizer.encode(text))
    return int(enc[0]) if len(enc) == 1 else NEVER


class LineStartsWith:
    """Stop at the end of a line that starts with ``prefix``: the newline that
    closes it is the row's last token.

    State: how many prefix tokens the current line has matched from its
    start; ``len(prefix)`` inside such a line; -1 when the current line cannot
    be one. The completion's start is a line start when the prompt ends in a
    newline or is only BOS (a prompt's own unfinished line never counts).
    """

    def __init__(self, name: str, prefix: str, on_by_default: bool = True):
        self.name, self.prefix, self.on_by_default = name, prefix, on_by_default

    def token_ids(self, tokenizer) -> dict[str, np.ndarray]:
        newline = single_token(tokenizer, "\n")
        if newline == NEVER:
            raise ValueError(f"tokenizer {tokenizer.name!r}: '\\n' must be one token "
                             f"for the {self.name} stop rule")
        return dict(newline=np.int32(newline), bos=np.int32(tokenizer.bos_id),
                    prefix=np.asarray(tokenizer.encode(self.prefix), np.int32))

    def state(self, ids, prompt, completion) -> int:
        prefix, newline = np.asarray(ids["prefix"]), int(ids["newline"])
        completion = np.asarray(completion)
        hits = np.flatnonzero(completion == newline)
        if len(hits):
            line = completion[hits[-1] + 1:]
        elif len(prompt) and prompt[-1] in (newline, int(ids["bos"])):
            line = completion
        else:
            return -1
        m = len(prefix)
        if len(line) >= m:
            return m if np.array_equal(line[:m], prefix) else -1
        return len(line) if np.array_equal(line, prefix[:len(line)]) else -1

    def advance(self, ids, state, prev, tok):
        prefix = ids["prefix"]
        m = prefix.shape[0]
        newline = tok == ids["newline"]
        fired = newline & (state == m)
        expected = prefix[jnp.clip(state, 0, m - 1)]
        state = jnp.where(newline, 0,
                jnp.where(state == m, state,
                jnp.where((state >= 0) & (tok == expected), state + 1, -1)))
        return state.astype(jnp.int32), fired


class FirstInside:
    """Stop right after the first ``at`` inside an open ``opener`` (an
    ``opener`` with no ``closer`` after it); ``opener`` and ``closer`` are a
    character written twice (``<<``, ``>>``), ``at`` one character.

    State: 0 outside, 1 inside with no ``at`` yet, 2 inside after it (fired).
    """

    def __init__(self, name: str, opener: str, closer: str, at: str,
                 on_by_default: bool = False):
        for text in (opener, closer):
            if len(text) != 2 or text[0] != text[1]:
                raise ValueError(f"{name}: {text!r} must be one character written twice")
        self.name, self.on_by_default = name, on_by_default
        self.chars = dict(open=opener[0], close=closer[0], at=at)

    def token_ids(self, tokenizer) -> dict[str, np.ndarray]:
        return {k: np.int32(single_token(tokenizer, c)) for k, c in self.chars.items()}

    def matches_on(self, ids) -> bool:
        """Whether every character is one token (else the rule never fires)."""
        return min(int(v) for v in ids.values()) >= 0

    def state(self, ids, prompt, completion) -> int:
        tokens = np.concatenate([np.asarray(prompt), np.asarray(completion)]).astype(np.int64)
        opened = _last_pair(tokens, int(ids["open"]))
        if opened <= _last_pair(tokens, int(ids["close"])):
            return 0
        return 2 if np.any(tokens[opened + 1:] == int(ids["at"])) else 1

    def advance(self, ids, state, prev, tok):
        fired = (state == 1) & (tok == ids["at"])
        state = jnp.where((prev == ids["open"]) & (tok == ids["open"]), 1,
                jnp.where((prev == ids["close"]) & (tok == ids["close"]), 0,
                jnp.where(fired, 2, state)))
        return state.astype(jnp.int32), fired


def _last_pair(tokens: np.ndarray, a: int) -> int:
    """Index of the second token of the last ``a a`` pair in ``tokens``, else -1."""
    hit = np.flatnonzero((tokens[1:] == a) & (tokens[:-1] == a))
    return int(hit[-1]) + 1 if len(hit) else -1
