"""Tokenizers, example formatting and packing: the numpy front of the data pipeline."""
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rtt_jax import tasks
from rtt_jax.data import packing as pk
from rtt_jax.data.formatting import Example, format_example
from rtt_jax.data.tokenizer import ByteTokenizer, TokenizerFileError, load_tokenizer

# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = pytest.mark.xdist_group("data_front")

TRICKY = ["", " ", "  two leading, two trailing  ", "\n", "a\n\n\nb\n", "\t\ttab\r\nCRLF\r",
          "12345 + 0007 = 12352", "-3.50e+10", "héllo wörld ∑ 数学 🙂 \u200b", "▁literal ▁▁ space-mark▁",
          "<s></s><unk><pad> [BOS]", "\x00nul\x7f", "#### 42\n", "   \n  \n", "ǅ ﬁ Å Å"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "sample.jsonl"
    fam = tasks.get("counting")
    with open(path, "w") as f:
        for i in range(150):
            prompt, completion = fam.format_example(fam.generate(0, i, 1 + i % 4), "per_kind")
            f.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")
        for i in range(50):
            f.write(json.dumps({"text": f"Definition {i}: a prime has exactly two divisors.\n"
                                        "Worked example: 7 is prime.\n"}) + "\n")
    return path


@pytest.fixture(scope="module")
def spm_dir(corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("spm")
    res = subprocess.run([sys.executable, "-m", "rtt_jax.data.train_tokenizer",
                          f"--input={corpus_file}", "--vocab_size=400", f"--out={out}"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "saved sentencepiece tokenizer" in res.stdout
    return out


# --- tokenizers --------------------------------------------------------------

def test_byte_tokenizer_round_trip_and_ids():
    tok = ByteTokenizer()
    for s in TRICKY:
        ids = tok.encode(s)
        assert ids.dtype == np.int32 and tok.decode(ids) == s
    assert tok.encode("A").tolist() == [ord("A") + 3]  # ids unchanged from the seed
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.vocab_size) == (0, 1, 2, 259)


@pytest.mark.slow
def test_sentencepiece_round_trip(spm_dir):
    tok = load_tokenizer(str(spm_dir))
    assert tok.name == "sentencepiece" and tok.vocab_size == 400
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    for s in TRICKY:
        ids = tok.encode(s)
        assert ids.dtype == np.int32
        assert not np.isin(ids, [0, 1, 2, 3]).any(), s  # no specials, no UNK
        assert tok.decode(ids) == s, (s, tok.decode(ids))
    ids = tok.encode("#### 1234")
    assert tok.decode(np.concatenate([[tok.bos_id], ids, [tok.eos_id, tok.pad_id]])) == "#### 1234"
    # split_digits: a number is spelled digit by digit.
    assert len(tok.encode("98765")) == 5
    # It learned something: fewer tokens than bytes on in-domain text.
    text = "3 chickens have 3 * 2 = 6 legs. How many legs are there in total?"
    assert len(tok.encode(text)) < len(text.encode()) * 0.7


@pytest.mark.slow
def test_sentencepiece_pipeline_in_grain_workers_equals_in_process(spm_dir):
    """Grain workers get the tokenizer pickled (cloudpickle): the model proto
    travels, and worker batches equal in-process ones."""
    import cloudpickle
    from rtt_jax.configs.base import get_config
    from in_process import data_pipeline as make_curriculum_data
    tok = load_tokenizer(str(spm_dir))
    copy = cloudpickle.loads(cloudpickle.dumps(tok))
    np.testing.assert_array_equal(copy.encode(TRICKY[0]), tok.encode(TRICKY[0]))
    batches = {}
    for workers in (0, 1):
        c = get_config("tiny")
        c.data.update(tokenizer=str(spm_dir), worker_count=workers, prefetch=1)
        data = make_curriculum_data(c, 0, 1)
        batches[workers] = [next(data)[0]["tokens"] for _ in range(3)]
        data.close()
    for a, b in zip(batches[0], batches[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_save_load_both_kinds(tmp_path, spm_dir):
    ByteTokenizer().save(str(tmp_path / "b"))
    assert isinstance(load_tokenizer(str(tmp_path / "b")), ByteTokenizer)
    spm = load_tokenizer(str(spm_dir))
    spm.save(str(tmp_path / "s"))
    again = load_tokenizer(str(tmp_path / "s"))
    assert again.encode("some text 12").tolist() == spm.encode("some text 12").tolist()


@pytest.mark.slow
def test_load_errors_name_the_file(tmp_path, spm_dir):
    with pytest.raises(TokenizerFileError, match=r"empty/tokenizer\.json: no tokenizer saved"):
        load_tokenizer(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerFileError, match=r"bad/tokenizer\.json: corrupt"):
        load_tokenizer(str(bad))
    (bad / "tokenizer.json").write_text('{"kind": "wordpiece"}')
    with pytest.raises(TokenizerFileError, match="unknown tokenizer kind 'wordpiece'"):
        load_tokenizer(str(bad))
    spm = load_tokenizer(str(spm_dir))
    for name, content in [("missing", None), ("corrupt", b"\x00garbage\xff" * 10)]:
        d = tmp_path / name
        spm.save(str(d))
        if content is None:
            (d / "tokenizer.model").unlink()
        else:
            (d / "tokenizer.model").write_bytes(content)
        with pytest.raises(TokenizerFileError, match=rf"{name}/tokenizer\.model: (sentencepiece model file is missing|corrupt)") as e:
            load_tokenizer(str(d))
        assert "\n" not in str(e.value)


@pytest.mark.slow
def test_train_tokenizer_cli_bad_input(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    res = subprocess.run([sys.executable, "-m", "rtt_jax.data.train_tokenizer", f"--input={bad}",
                          "--vocab_size=300", f"--out={tmp_path / 'o'}"], capture_output=True, text=True)
    assert res.returncode != 0 and f"{bad}:2: not valid JSON" in res.stderr
    assert "Traceback" not in res.stderr


# --- formatting ----------------------------------------------------------------

def test_format_modes_exact():
    tok = ByteTokenizer()
    prompt, completion = "Q?\n", "a=1\n#### 1"
    b = lambda s: [c + 3 for c in s.encode()]  # noqa: E731
    ex = format_example(prompt, completion, "trace", tok)
    assert ex.tokens.tolist() == [1] + b("Q?\n") + b("a=1\n#### 1") + [2]
    assert ex.loss_mask.tolist() == [0] * 4 + [1] * 10 + [1]
    ex = format_example(prompt, completion, "answer_only", tok)
    assert ex.tokens.tolist() == [1] + b("Q?\n") + b("#### 1") + [2]
    assert ex.loss_mask.tolist() == [0] * 4 + [1] * 6 + [1]
    ex = format_example("", "Text.", "full", tok)
    assert ex.tokens.tolist() == [1] + b("Text.") + [2]
    assert ex.loss_mask.tolist() == [0] + [1] * 6
    ex = format_example("Q", "A", "full", tok)
    assert ex.loss_mask.tolist() == [0, 1, 1, 1]
    assert ex.tokens.dtype == np.int32 and ex.loss_mask.dtype == np.int32
    # prompt_loss: the prompt's tokens are targets too (BOS never is).
    ex = format_example(prompt, completion, "trace", tok, prompt_loss=True)
    assert ex.tokens.tolist() == [1] + b("Q?\n") + b("a=1\n#### 1") + [2]
    assert ex.loss_mask.tolist() == [0] + [1] * 3 + [1] * 10 + [1]
    ex = format_example(prompt, completion, "answer_only", tok, prompt_loss=True)
    assert ex.tokens.tolist() == [1] + b("Q?\n") + b("#### 1") + [2]
    assert ex.loss_mask.tolist() == [0] + [1] * 3 + [1] * 6 + [1]


def test_format_family_example_and_answer_override(spm_dir):
    tok = load_tokenizer(str(spm_dir))
    fam = tasks.get("counting")
    prompt, completion = fam.format_example(fam.generate(0, 3, 2), "per_kind")
    ex = format_example(prompt, completion, "trace", tok)
    assert tok.decode(ex.tokens[ex.loss_mask == 1]) == completion
    assert tok.decode(ex.tokens) == prompt + completion
    ans = format_example(prompt, completion, "answer_only", tok)
    assert tok.decode(ans.tokens[ans.loss_mask == 1]) == f"#### {fam.generate(0, 3, 2).answer}"
    # Formats without a marker (Lee et al. addition) need answer= for answer_only.
    with pytest.raises(ValueError, match="no '#### answer' line"):
        format_example("12+3=", "15", "answer_only", tok)
    ex = format_example("12+3=", "15", "answer_only", tok, answer="15")
    assert tok.decode(ex.tokens[ex.loss_mask == 1]) == "#### 15"


def test_empty_targets_raise():
    tok = ByteTokenizer()
    with pytest.raises(ValueError, match="empty completion"):
        format_example("Q?\n", "", "trace", tok)
    with pytest.raises(ValueError, match="empty text"):
        format_example("", "", "full", tok)
    with pytest.raises(ValueError, match="unknown target mode"):
        format_example("Q", "A", "prompt", tok)
    zero = Example(np.array([1, 5, 2], np.int32), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="example 1 of the packing input: loss_mask is all zero"):
        pk.pack_rows([_ex(3, 1), zero], 8)


# --- packing ----------------------------------------------------------------------

def _ex(n: int, prompt: int = 1, seed: int = 0) -> Example:
    """An example of n tokens, the first ``prompt`` (>= 1) not targets.

    Token = 3 + 1000 * seed + offset, so a packed token names its example and
    offset (tests give distinct seeds to examples packed together).
    """
    tokens = (3 + 1000 * seed + np.arange(n)).astype(np.int32)
    mask = np.ones(n, np.int32)
    mask[:prompt] = 0
    return Example(tokens, mask)


def _check_rows(rows, examples, stats, width, overflow):
    """Every placed segment is a contiguous span of some example; every token is accounted."""
    tok, seg, pos, mask = (rows[k] for k in pk.ROW_KEYS)
    assert all(v.shape == (stats.rows, width) and v.dtype == np.int32 for v in rows.values())
    placed = 0
    by_id = {(int(e.tokens[0]) - 3) // 1000: i for i, e in enumerate(examples)}
    assert len(by_id) == len(examples)
    covered = {i: np.zeros(len(e), np.int64) for i, e in enumerate(examples)}
    for r in range(tok.shape[0]):
        ids = seg[r]
        n_used = int((ids > 0).sum())
        assert (ids[:n_used] > 0).all() and (ids[n_used:] == 0).all()  # padding only at the end
        assert (tok[r, n_used:] == 0).all() and (mask[r, n_used:] == 0).all()
        assert (pos[r, n_used:] == 0).all()
        if n_used:
            assert ids[0] == 1 and (np.diff(ids[:n_used]) >= 0).all() and (np.diff(ids[:n_used]) <= 1).all()
        for s in range(1, int(ids.max(initial=0)) + 1):
            cols = np.flatnonzero(ids == s)
            assert (np.diff(cols) == 1).all()  # contiguous
            assert pos[r, cols].tolist() == list(range(len(cols)))  # positions restart
            assert mask[r, cols[0]] == 0  # first token of a segment is never a target
            piece = tok[r, cols]
            i, o = by_id[(int(piece[0]) - 3) // 1000], (int(piece[0]) - 3) % 1000
            assert piece.tolist() == examples[i].tokens[o:o + len(piece)].tolist()
            expect_mask = examples[i].loss_mask[o:o + len(piece)].copy()
            expect_mask[0] = 0
            assert mask[r, cols].tolist() == expect_mask.tolist()
            covered[i][o:o + len(piece)] += 1
            placed += len(cols)
    assert placed == stats.placed_tokens
    assert stats.placed_tokens == stats.input_tokens - stats.lost_tokens + stats.repeated_tokens
    assert stats.rows * width == stats.placed_tokens + stats.pad_tokens
    assert stats.placed_targets == stats.input_targets - stats.lost_targets
    assert int(mask.sum()) == stats.placed_targets
    # Each token is placed once; only split repeats a context token per continuation.
    assert sum(int((c - 1).clip(0).sum()) for c in covered.values()) == stats.repeated_tokens
    for i, e in enumerate(examples):
        c = covered[i]
        if len(e) <= width or overflow == "split":
            assert (c >= 1).all()  # every token of a fitting (or split) example is placed
            assert (c <= 1).all() or overflow == "split"
        elif overflow == "truncate":
            assert (c[:width] == 1).all() and not c[width:].any()
        else:
            assert not c.any()


@pytest.mark.parametrize("algorithm", pk.ALGORITHMS)
@pytest.mark.parametrize("overflow", pk.POLICIES)
def test_pack_accounts_for_every_token(algorithm, overflow):
    lengths = [5, 17, 3, 40, 9, 16, 2, 33, 16, 1 + 16, 7, 12, 60]
    examples = [_ex(n, min(2, n - 1), seed=k) for k, n in enumerate(lengths)]
    rows, stats = pk.pack_rows(examples, 15, algorithm=algorithm, overflow=overflow)
    _check_rows(rows, examples, stats, 16, overflow)
    long = [n for n in lengths if n > 16]
    if overflow == "split":
        assert stats.split_examples == len(long) and stats.lost_tokens == 0
        assert stats.repeated_tokens == sum(-(-(n - 16) // 15) for n in long)
    elif overflow == "truncate":
        assert stats.truncated_examples == len(long)
        assert stats.lost_tokens == sum(n - 16 for n in long)
        assert stats.lost_targets == sum(n - 16 for n in long)  # the tails are all targets
    else:
        assert stats.dropped_examples == len(long) and stats.lost_tokens == sum(long)
    assert 0 <= stats.padding_fraction < 1
    assert stats.as_metrics()["data/lost_tokens"] == stats.lost_tokens


def test_truncate_without_surviving_target_drops():
    ex = _ex(30, prompt=20)  # the head of 16 tokens is all prompt
    rows, stats = pk.pack_rows([ex], 15, overflow="truncate")
    assert stats.dropped_examples == 1 and stats.truncated_examples == 0 and stats.rows == 0
    assert stats.lost_tokens == 30 and stats.lost_targets == 10


def test_split_exact_layout():
    ex = _ex(10, prompt=3)
    rows, stats = pk.pack_rows([ex], 4, algorithm="first_fit", overflow="split")  # width 5
    # pieces [0,5) [4,9) [8,10): each continuation repeats one context token.
    assert stats.rows == 3 and stats.repeated_tokens == 2 and stats.lost_tokens == 0
    assert rows["tokens"][0].tolist() == ex.tokens[0:5].tolist()
    assert rows["tokens"][1].tolist() == ex.tokens[4:9].tolist()
    assert rows["tokens"][2, :2].tolist() == ex.tokens[8:10].tolist()
    assert rows["loss_mask"].tolist() == [[0, 0, 0, 1, 1], [0, 1, 1, 1, 1], [0, 1, 0, 0, 0]]
    assert rows["positions"][2].tolist() == [0, 1, 0, 0, 0]


def test_best_fit_at_least_as_tight_as_first_fit():
    rng = np.random.default_rng(0)
    examples = [_ex(int(n), 1, seed=k) for k, n in enumerate(rng.integers(2, 100, 300))]
    _, ff = pk.pack_rows(examples, 127, algorithm="first_fit")
    _, bf = pk.pack_rows(examples, 127, algorithm="best_fit")
    assert bf.rows <= ff.rows and bf.padding_fraction <= ff.padding_fraction
    assert bf.placed_tokens == ff.placed_tokens
    # first-fit keeps input order within a row
    rows, _ = pk.pack_rows(examples[:5], 127, algorithm="first_fit")
    assert rows["tokens"][0, :len(examples[0])].tolist() == examples[0].tokens.tolist()


def test_packing_is_deterministic():
    examples = [_ex(n, 1, seed=k) for k, n in enumerate((5, 30, 7, 64, 2, 19))]
    a, sa = pk.pack_rows(examples, 31)
    b, sb = pk.pack_rows(examples, 31)
    assert sa == sb and all(np.array_equal(a[k], b[k]) for k in pk.ROW_KEYS)


def test_first_fit_fills_rows_in_input_order_and_places_every_example():
    examples = [_ex(n, 1, seed=k) for k, n in enumerate((16, 10, 16, 4, 3, 2))]
    rows, stats = pk.pack_rows(examples, 15, algorithm="first_fit")
    # 16 | 10+4+2 | 16 | 3: each example goes to the first row with room.
    assert rows["tokens"].shape == (4, 16) and stats.examples == 6 and stats.lost_tokens == 0
    assert rows["segment_ids"][1].tolist() == [1] * 10 + [2] * 4 + [3] * 2
    assert rows["segment_ids"][3].tolist() == [1] * 3 + [0] * 13
    _check_rows(rows, examples, stats, 16, "split")


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(2, 70), min_size=0, max_size=25),
       seq_len=st.integers(1, 40), algorithm=st.sampled_from(pk.ALGORITHMS),
       overflow=st.sampled_from(pk.POLICIES), data=st.data())
def test_packing_property(lengths, seq_len, algorithm, overflow, data):
    examples = []
    for k, n in enumerate(lengths):
        prompt = data.draw(st.integers(1, n - 1))
        examples.append(_ex(n, prompt, seed=k))
    rows, stats = pk.pack_rows(examples, seq_len, algorithm=algorithm, overflow=overflow)
    width = seq_len + 1
    if overflow == "truncate":
        # truncate may drop an example whose head has no target; check coverage accordingly
        kept = [e for e in examples if len(e) <= width or e.loss_mask[1:width].any()]
        assert stats.dropped_examples == len(examples) - len(kept)
        lost_whole = sum(len(e) for e in examples if e not in kept)
        assert stats.lost_tokens == lost_whole + sum(len(e) - width for e in kept if len(e) > width)
        _check_rows(rows, kept, stats if not lost_whole else _minus(stats, examples, kept), width, overflow)
    else:
        _check_rows(rows, examples, stats, width, overflow)


def _minus(stats, examples, kept):
    """Stats restricted to ``kept`` (drops whole examples that truncate could not keep)."""
    gone = [e for e in examples if e not in kept]
    return pk.PackStats(**{**stats.__dict__,
                           "input_tokens": stats.input_tokens - sum(len(e) for e in gone),
                           "input_targets": stats.input_targets - sum(e.num_targets for e in gone),
                           "lost_tokens": stats.lost_tokens - sum(len(e) for e in gone),
                           "lost_targets": stats.lost_targets - sum(e.num_targets for e in gone)})
