"""``stream: true`` for ``rtt_jax.serve``: server-sent events in OpenAI's chunk format.

A streamed response is a ``text/event-stream`` of ``data: {chunk}`` events
and a closing ``data: [DONE]``, as the OpenAI API and vLLM send them:

* completions: ``object="text_completion"`` chunks, ``choices[i].text`` a
  piece of choice i's text, then a chunk with its ``finish_reason``;
* chat: ``object="chat.completion.chunk"``, first ``delta={"role":
  "assistant", "content": ""}``, then ``delta={"content": piece}``, then
  ``delta={}`` with the ``finish_reason``;
* with ``stream_options={"include_usage": true}`` every chunk carries
  ``usage: null`` and a last chunk with no choices carries the usage.

Every chunk names its choice's ``index``, so ``n > 1`` (or a list of
prompts) interleaves choices as a server decoding them together would. The
pieces are the text one generated token added (a multi-byte character split
across byte tokens waits for its last byte), and they join to exactly the
non-streamed text, stop strings applied.

The sampler decodes a batch in one jitted loop, so a request's chunks are
all sent when its decode ends: the wire format is the streaming one (clients
and chat front ends work unchanged), the time to the first token is that of
the whole completion.
"""
from __future__ import annotations

import json
from typing import Callable, Iterator, Sequence

DONE = "data: [DONE]\n\n"


def event(chunk: dict) -> str:
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def text_pieces(decode: Callable[[Sequence[int]], str], tokens: Sequence[int],
                text: str) -> list[str]:
    """The pieces of ``text`` (the final text of ``tokens``, cut at a stop
    string) that each token added; they join to ``text`` exactly."""
    pieces, done = [], 0
    for i in range(1, len(tokens) + 1):
        prefix = decode(tokens[:i]).rstrip("\ufffd")  # a character still incomplete
        upto = 0
        limit = min(len(prefix), len(text))
        while upto < limit and prefix[upto] == text[upto]:
            upto += 1
        if upto > done:
            pieces.append(text[done:upto])
            done = upto
        if done == len(text):
            break
    if done < len(text):
        pieces.append(text[done:])
    return pieces


def stream_events(kind: str, response_id: str, created: int, model: str,
                  choices: Sequence[tuple[list[str], str]], usage: dict | None
                  ) -> Iterator[str]:
    """The events of one streamed response. ``kind``: ``"completion"`` or
    ``"chat"``; ``choices``: (text pieces, finish_reason) per choice index;
    ``usage``: the usage chunk's figures, or None when not asked for."""
    chat = kind == "chat"
    base = dict(id=response_id, object="chat.completion.chunk" if chat else "text_completion",
                created=created, model=model)
    if usage is not None:
        base["usage"] = None

    def chunk(index: int, body: dict, finish: str | None = None) -> str:
        return event({**base, "choices": [dict(index=index, **body, logprobs=None,
                                               finish_reason=finish)]})

    if chat:
        for i in range(len(choices)):
            yield chunk(i, dict(delta=dict(role="assistant", content="")))
    longest = max((len(p) for p, _ in choices), default=0)
    for step in range(longest):
        for i, (pieces, _) in enumerate(choices):
            if step < len(pieces):
                yield chunk(i, dict(delta=dict(content=pieces[step])) if chat
                            else dict(text=pieces[step]))
    for i, (_, finish) in enumerate(choices):
        yield chunk(i, dict(delta={}) if chat else dict(text=""), finish)
    if usage is not None:
        yield event({**base, "choices": [], "usage": usage})
    yield DONE
