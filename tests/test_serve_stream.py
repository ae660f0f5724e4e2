"""Streamed replies without a model: the pieces safe to send as tokens arrive
(rtt_jax.serve_stream), their events, and the batcher's rounds for a streamed
job (rtt_jax.serve_batching) over a scripted stand-in for the sampler."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rtt_jax.data.tokenizer import make_tokenizer
from rtt_jax.serve_batching import Batcher, Job
from rtt_jax.serve_stream import DONE, ChoiceText, EventWriter, sendable

TOK = make_tokenizer("bytes")


def _events(lines):
    assert lines[-1] == DONE
    return [json.loads(line[len("data: "):]) for line in lines[:-1]]


def _fed(text_tokens, stops=(), step=1):
    """Pieces of a choice fed ``step`` tokens at a time, then finished with
    the final text as the server cuts it."""
    choice, pieces = ChoiceText(TOK.decode, stops), []
    tokens = list(text_tokens)
    for end in range(step, len(tokens) + step, step):
        pieces += choice.feed(tokens[:end])
    full = TOK.decode(tokens)
    cut = min((full.find(s) for s in stops if s in full), default=-1)
    return pieces, choice.finish(full[:cut] if cut >= 0 else full), full[:cut] if cut >= 0 \
        else full


def test_pieces_join_to_the_text_one_token_at_a_time():
    text = "12 + 5 = 17\n#### 17"
    pieces, rest, final = _fed(list(TOK.encode(text)) + [TOK.eos_id])
    assert "".join(pieces) == text and len(pieces) == len(text) and rest == []


@pytest.mark.parametrize("step", [1, 2, 5, 100])
def test_pieces_are_the_same_whatever_the_round_size(step):
    text = "Tosa has 12 - 1 = 11 shells.\n#### 11"
    pieces, rest, final = _fed(TOK.encode(text), stops=["####"], step=step)
    assert "".join(pieces + rest) == final == text[:text.index("####")]
    assert not any("#" in p for p in pieces)


def test_a_character_split_across_byte_tokens_waits_for_its_last_byte():
    pieces, rest, _ = _fed(TOK.encode("é=5"))
    assert pieces == ["é", "=", "5"] and rest == []


def test_text_that_could_begin_a_stop_string_is_held_back_until_decided():
    # "ab" then "#": could be "###"; then "x": it was not, so "#x" goes out.
    choice = ChoiceText(TOK.decode, ["###"])
    assert choice.feed(TOK.encode("ab#")) == ["a", "b"]
    assert choice.feed(TOK.encode("ab##")) == []
    assert choice.feed(TOK.encode("ab##x")) == ["##x"]
    assert choice.finish("ab##x") == []
    # A stop string that completes: nothing from its start on is ever sent.
    pieces, rest, final = _fed(TOK.encode("7 + 1 = 8\n#### 8"), stops=["="])
    assert "".join(pieces + rest) == final == "7 + 1 " and not any("=" in p for p in pieces)
    assert sendable("ab", ["abc"]) == "" and sendable("ab", ["b", "abc"]) == "a"
    assert sendable("xy", ["q"]) == "xy"


def test_chat_events_carry_the_choice_index_and_end_with_done():
    w = EventWriter("chat", "chatcmpl-1", 5, "m")
    lines = w.start(2) + w.pieces(0, ["a"]) + w.pieces(1, ["c"]) + w.pieces(0, ["b"])
    lines += [w.finish(0, "stop"), w.finish(1, "length")] + w.end(dict(total_tokens=1))
    events = _events(lines)
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


def test_completion_events_the_usage_chunk_and_an_error():
    usage = dict(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    w = EventWriter("completion", "cmpl-1", 5, "m", include_usage=True)
    assert w.start(1) == []
    events = _events(w.pieces(0, ["x", "y"]) + [w.finish(0, "stop")] + w.end(usage))
    assert [e["choices"][0]["text"] for e in events[:-1]] == ["x", "y", ""]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(e["usage"] is None for e in events[:-1])
    assert events[-1] == dict(id="cmpl-1", object="text_completion", created=5, model="m",
                              choices=[], usage=usage)
    [error] = _events(w.error("the server is shutting down"))
    assert error["error"]["message"] == "the server is shutting down"


# ---------------------------------------------- the batcher's rounds, without a model


class _Rule:
    """A stop rule whose state counts the tokens after the prompt (to check
    that a continued row starts in the state it reached)."""
    name = "count"

    def state(self, ids, prompt, completion):
        return len(completion)


class ScriptedSampler:
    """Stands in for ``Sampler`` in the batcher: row r's step t is token
    ``10 * (r + 1) + t`` (its random stream: row id and step), EOS when that
    is ``eos_at``; records every call."""
    max_batch = 8
    stop_rules = (_Rule(),)
    rule_ids = {"count": None}

    def __init__(self, eos_at=None, prompt_len=3):
        self.calls, self.eos_at, self.prompt_len = [], eos_at, prompt_len

    def decode_rows(self, prompts, rows, **kw):
        self.calls.append(dict(rows, prompt_lens=[len(p) for p in prompts]))
        out = []
        for p, row, step0, limit in zip(prompts, rows["row_ids"], rows["step0"], rows["limit"]):
            assert len(p) == self.prompt_len + step0  # the prompt and the tokens so far
            toks = []
            for t in range(step0, step0 + limit):
                toks.append(10 * (row + 1) + t)
                if toks[-1] == self.eos_at:
                    break
            out.append(np.asarray(toks, np.int32))
        return out

    def stopped_at_end(self, prompt, completion, **kw):
        return self.eos_at is not None and len(completion) and completion[-1] == self.eos_at


def _run(sampler, job):
    batcher = Batcher(sampler, window_s=0.0)
    try:
        return batcher.submit(job).result(timeout=60), batcher
    finally:
        batcher.close()


def test_a_streamed_job_is_decoded_in_rounds_and_sent_after_each():
    sampler, seen = ScriptedSampler(), []
    prompts = [np.arange(3, dtype=np.int32)] * 2

    def on_tokens(tokens, finished):
        seen.append(([len(t) for t in tokens], list(finished), len(sampler.calls)))
    job = Job(prompts, limit=7, seed=0, chunk=3, on_tokens=on_tokens)
    out, batcher = _run(sampler, job)
    # The same tokens as one round would give: row r's steps 0..6.
    assert [list(t) for t in out] == [[10 * (r + 1) + t for t in range(7)] for r in range(2)]
    # Three rounds of at most 3 tokens, each continuing at the step it reached,
    # its stop rule in the state it reached; each round sent before the next ran.
    assert [c["step0"] for c in sampler.calls] == [[0, 0], [3, 3], [6, 6]]
    assert [c["limit"] for c in sampler.calls] == [[3, 3], [3, 3], [1, 1]]
    assert [c["states"]["count"] for c in sampler.calls] == [[0, 0], [3, 3], [6, 6]]
    assert [c["prompt_lens"] for c in sampler.calls] == [[3, 3], [6, 6], [9, 9]]
    assert seen == [([3, 3], [False, False], 1), ([6, 6], [False, False], 2),
                    ([7, 7], [True, True], 3)]
    assert batcher.sampler_calls == 3 and batcher.jobs_served == 1


def test_a_row_that_stops_is_not_decoded_again_and_a_stop_string_ends_a_row():
    sampler = ScriptedSampler(eos_at=11)  # row 0 stops at its step 1
    job = Job([np.arange(3, dtype=np.int32)] * 2, limit=9, seed=0, chunk=4,
              on_tokens=lambda tokens, finished: [False, len(tokens[1]) >= 4])
    out, _ = _run(sampler, job)
    assert [list(t) for t in out] == [[10, 11], [20, 21, 22, 23]]
    assert len(sampler.calls) == 1  # row 1 ended by its callback after the first round
    sampler = ScriptedSampler(eos_at=11)
    out, _ = _run(sampler, Job([np.arange(3, dtype=np.int32)] * 2, limit=6, seed=0, chunk=4,
                               on_tokens=lambda *_: None))
    assert [c["row_ids"] for c in sampler.calls] == [[0, 1], [1]]  # row 0 done after round 1
    assert [list(t) for t in out] == [[10, 11], [20, 21, 22, 23, 24, 25]]


def test_a_job_without_chunk_is_one_round_and_an_abandoned_stream_stops():
    sampler = ScriptedSampler()
    out, _ = _run(sampler, Job([np.arange(3, dtype=np.int32)], limit=5, seed=0))
    assert len(sampler.calls) == 1 and [list(t) for t in out] == [[10, 11, 12, 13, 14]]
    sampler = ScriptedSampler()
    job = Job([np.arange(3, dtype=np.int32)], limit=9, seed=0, chunk=2,
              on_tokens=lambda *_: job.abandon())
    batcher = Batcher(sampler, window_s=0.0)
    try:
        with pytest.raises(RuntimeError, match="client went away"):
            batcher.submit(job).result(timeout=60)
    finally:
        batcher.close()
    assert len(sampler.calls) == 1
    with pytest.raises(ValueError, match="Job.chunk=0"):
        Job([np.arange(3)], limit=2, chunk=0)


def test_a_coupled_positions_model_streams_in_one_round():
    """Continuing a row reads its tokens so far as prompt, which coupled
    position ids would number differently: such a model is not chunked."""
    import types

    from rtt_jax.serve import Engine
    for positions, chunk in (("rope", 5), ("random_rope", 5), ("coupled", None)):
        sampler = ScriptedSampler()
        sampler.cfg = types.SimpleNamespace(positions=positions)
        engine = Engine(sampler, "m", window_s=0.0, stream_chunk=5)
        try:
            assert engine.stream_chunk == chunk, positions
        finally:
            engine.close()
