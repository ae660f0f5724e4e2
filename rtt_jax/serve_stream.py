"""``stream: true`` for ``rtt_jax.serve``: server-sent events in OpenAI's chunk format.

A streamed response is a ``text/event-stream`` of ``data: {chunk}`` events
and a closing ``data: [DONE]``, as the OpenAI API and vLLM send them:

* completions: ``object="text_completion"`` chunks, ``choices[i].text`` a
  piece of choice i's text, then a chunk with its ``finish_reason``;
* chat: ``object="chat.completion.chunk"``, first ``delta={"role":
  "assistant", "content": ""}``, then ``delta={"content": piece}``, then
  ``delta={}`` with the ``finish_reason``;
* with ``stream_options={"include_usage": true}`` every chunk carries
  ``usage: null`` and a last chunk with no choices carries the usage;
* a failure after the first event (the headers are sent) is an ``error``
  event, then ``[DONE]``.

Every chunk names its choice's ``index``, so ``n > 1`` (or a list of
prompts) interleaves choices as the server decodes them together.

Tokens arrive as they are decoded (``serve_batching``: a streamed request is
decoded ``stream_chunk`` tokens at a time). ``ChoiceText`` turns each
choice's growing token list into the pieces that are safe to send: what each
new token added, a character split across byte tokens once its last byte has
come, and text that could be the start of a stop string only once it cannot
be (a stop string is never sent, and nothing after it). The pieces join to
exactly the non-streamed text.
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

DONE = "data: [DONE]\n\n"


def event(chunk: dict) -> str:
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def sendable(text: str, stops: Sequence[str]) -> str:
    """The part of ``text`` (decoded so far) that no later token can take
    back: cut at the first stop string, and short of any tail that could
    still grow into one."""
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    if cut >= 0:
        return text[:cut]
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    return text[:len(text) - hold]


class ChoiceText:
    """One choice's text as its tokens arrive (``feed``), then its final text
    (``finish``), as the pieces to send; they join to the final text."""

    def __init__(self, decode: Callable[[Sequence[int]], str], stops: Sequence[str] = ()):
        self.decode, self.stops = decode, list(stops)
        self.seen = 0  # tokens fed so far
        self.sent = ""  # text sent so far: a prefix of the final text

    def feed(self, tokens: Sequence[int]) -> list[str]:
        """The pieces the tokens after the ones seen add, one per token that
        adds any; ``tokens``: every token of the choice so far."""
        pieces = []
        for i in range(self.seen + 1, len(tokens) + 1):
            # A character still incomplete decodes as U+FFFD: wait for its last byte.
            text = sendable(self.decode(tokens[:i]).rstrip("\ufffd"), self.stops)
            if len(text) > len(self.sent) and text.startswith(self.sent):
                pieces.append(text[len(self.sent):])
                self.sent = text
        self.seen = max(self.seen, len(tokens))
        return pieces

    def finish(self, text: str) -> list[str]:
        """The rest of ``text``, the choice's final text (cut at a stop string).
        What was sent is a prefix of it: decoding a token prefix gives a prefix
        of the text, and a stop string's start is held back until it is decided."""
        rest = text[len(self.sent):] if text.startswith(self.sent) else ""
        self.sent = text
        return [rest] if rest else []


class EventWriter:
    """The events of one streamed response. ``kind``: ``"completion"`` or
    ``"chat"``; ``include_usage``: every chunk carries ``usage: null`` and
    ``end`` sends the usage chunk."""

    def __init__(self, kind: str, response_id: str, created: int, model: str,
                 include_usage: bool = False):
        self.chat = kind == "chat"
        self.base = dict(id=response_id,
                         object="chat.completion.chunk" if self.chat else "text_completion",
                         created=created, model=model)
        self.include_usage = include_usage
        if include_usage:
            self.base["usage"] = None

    def _chunk(self, index: int, body: dict, finish: str | None = None) -> str:
        return event({**self.base, "choices": [dict(index=index, **body, logprobs=None,
                                                    finish_reason=finish)]})

    def start(self, choices: int) -> list[str]:
        """Chat: each choice's first chunk (its role); completions: none."""
        if not self.chat:
            return []
        return [self._chunk(i, dict(delta=dict(role="assistant", content="")))
                for i in range(choices)]

    def pieces(self, index: int, pieces: Sequence[str]) -> list[str]:
        return [self._chunk(index, dict(delta=dict(content=p)) if self.chat else dict(text=p))
                for p in pieces]

    def finish(self, index: int, reason: str) -> str:
        return self._chunk(index, dict(delta={}) if self.chat else dict(text=""), reason)

    def end(self, usage: dict) -> list[str]:
        """The usage chunk (when asked for), then ``[DONE]``."""
        tail = [event({**self.base, "choices": [], "usage": usage})] if self.include_usage \
            else []
        return tail + [DONE]

    def error(self, message: str) -> list[str]:
        """A failure once the stream has begun: an ``error`` event, then ``[DONE]``."""
        return [event(dict(error=dict(message=message, type="server_error", param=None,
                                      code=None))), DONE]
