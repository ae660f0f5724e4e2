"""The streamed reply's pieces and events (rtt_jax.serve_stream), without a model."""
from __future__ import annotations

import json

import numpy as np

from rtt_jax.data.tokenizer import make_tokenizer
from rtt_jax.serve_stream import DONE, stream_events, text_pieces

TOK = make_tokenizer("bytes")


def _events(lines):
    assert lines[-1] == DONE
    return [json.loads(line[len("data: "):]) for line in lines[:-1]]


def test_pieces_join_to_the_text_one_token_at_a_time():
    text = "12 + 5 = 17\n#### 17"
    tokens = np.asarray(list(TOK.encode(text)) + [TOK.eos_id])
    pieces = text_pieces(TOK.decode, tokens, text)
    assert "".join(pieces) == text and len(pieces) == len(text)


def test_a_character_split_across_byte_tokens_waits_for_its_last_byte():
    text = "é=5"
    pieces = text_pieces(TOK.decode, TOK.encode(text), text)
    assert pieces == ["é", "=", "5"]


def test_pieces_stop_at_a_stop_string_cut():
    full = "7 + 1 = 8\n#### 8"
    cut = full[:full.index("=")]  # stop=["="]: the text the client gets
    pieces = text_pieces(TOK.decode, TOK.encode(full), cut)
    assert "".join(pieces) == cut and not any("=" in p for p in pieces)
    assert text_pieces(TOK.decode, TOK.encode(full), "") == []


def test_chat_events_carry_the_choice_index_and_end_with_done():
    events = _events(list(stream_events("chat", "chatcmpl-1", 5, "m",
                                        [(["a", "b"], "stop"), (["c"], "length")], None)))
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    assert {e["id"] for e in events} == {"chatcmpl-1"} and "usage" not in events[0]
    by_choice = {0: [], 1: []}
    for e in events:
        [choice] = e["choices"]
        by_choice[choice["index"]].append((choice["delta"], choice["finish_reason"]))
    assert by_choice[0] == [({"role": "assistant", "content": ""}, None),
                            ({"content": "a"}, None), ({"content": "b"}, None), ({}, "stop")]
    assert by_choice[1] == [({"role": "assistant", "content": ""}, None),
                            ({"content": "c"}, None), ({}, "length")]
    # Interleaved as a batch decodes: choice 1's first piece before choice 0's second.
    order = [(e["choices"][0]["index"], e["choices"][0]["delta"].get("content"))
             for e in events]
    assert order.index((1, "c")) < order.index((0, "b"))


def test_completion_events_and_the_usage_chunk():
    usage = dict(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    events = _events(list(stream_events("completion", "cmpl-1", 5, "m",
                                        [(["x", "y"], "stop")], usage)))
    assert [e["choices"][0]["text"] for e in events[:-1]] == ["x", "y", ""]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(e["usage"] is None for e in events[:-1])
    assert events[-1] == dict(id="cmpl-1", object="text_completion", created=5, model="m",
                              choices=[], usage=usage)
