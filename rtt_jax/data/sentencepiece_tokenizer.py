"""SentencePiece tokenizer with exact round trips, and its trainer.

Training settings, and why (``train_sentencepiece``):

* ``byte_fallback=True``: any character outside the learned pieces becomes
  its UTF-8 bytes (``<0xNN>`` pieces), so nothing maps to UNK and any text,
  including unseen unicode, round-trips.
* ``normalization_rule_name="identity"``, ``add_dummy_prefix=False``,
  ``remove_extra_whitespaces=False``: SentencePiece would otherwise apply NFKC,
  add a leading space and squeeze runs of spaces, all of which change text.
* ``split_digits=True`` (default): every digit is its own piece, so numbers
  are spelled digit by digit, as the arithmetic traces reason about them.
* ids: PAD 0, BOS 1, EOS 2, UNK 3, the same special ids as ``ByteTokenizer``.

One character still needs care: SentencePiece uses U+2581 ("▁") as its
internal space, so a literal "▁" in the text would decode as " ". ``encode``
therefore emits a literal "▁" as its three UTF-8 byte pieces, which decode
back to "▁".
"""
from __future__ import annotations

import io
import os
from typing import Iterable

import numpy as np

from rtt_jax import paths
from rtt_jax.data.tokenizer_protocol import (BOS_ID, EOS_ID, PAD_ID, TokenizerFileError,
                                             write_meta)

MODEL_FILE = "tokenizer.model"
UNK_ID = 3
_SPACE = "\u2581"


def _spm():
    try:
        import sentencepiece
    except ImportError as e:  # an optional dependency: say how to get it
        raise ImportError("the sentencepiece tokenizer needs `pip install sentencepiece`") from e
    return sentencepiece


class SentencePieceTokenizer:
    name = "sentencepiece"
    pad_id, bos_id, eos_id = PAD_ID, BOS_ID, EOS_ID

    def __init__(self, model_file: str | None = None, *, model_proto: bytes | None = None):
        spm = _spm()
        where = model_file or "<in-memory model>"
        try:
            if model_proto is None:
                model_proto = paths.read_bytes(model_file)
            self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
        except FileNotFoundError:
            raise TokenizerFileError(f"{where}: sentencepiece model file is missing") from None
        except (RuntimeError, OSError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise TokenizerFileError(f"{where}: corrupt sentencepiece model ({msg})") from None
        self._proto = model_proto
        sp = self._sp
        got = (sp.pad_id(), sp.bos_id(), sp.eos_id())
        if got != (PAD_ID, BOS_ID, EOS_ID):
            raise TokenizerFileError(f"{where}: special ids (pad, bos, eos) are {got}, "
                                     f"expected {(PAD_ID, BOS_ID, EOS_ID)}")
        byte_ids = [sp.piece_to_id(f"<0x{b:02X}>") for b in range(256)]
        if not all(sp.is_byte(i) for i in byte_ids):
            raise TokenizerFileError(f"{where}: model was trained without byte_fallback, "
                                     "so text would not round-trip")
        self._space_bytes = [byte_ids[b] for b in _SPACE.encode("utf-8")]
        self.vocab_size = int(sp.get_piece_size())

    def __reduce__(self):
        # Grain worker processes get the tokenizer pickled: send the model
        # proto (the SentencePieceProcessor itself does not pickle).
        return (_from_proto, (self._proto,))

    def encode(self, text: str) -> np.ndarray:
        parts = text.split(_SPACE)
        ids: list[int] = []
        for k, part in enumerate(parts):
            if k:
                ids.extend(self._space_bytes)
            if part:
                ids.extend(self._sp.encode(part))
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids) -> str:
        ids = [int(i) for i in np.asarray(ids).reshape(-1)
               if 0 <= int(i) < self.vocab_size and int(i) not in (PAD_ID, BOS_ID, EOS_ID)]
        return self._sp.decode(ids)

    def save(self, directory: str) -> None:
        paths.makedirs(directory)
        paths.write_bytes(os.path.join(directory, MODEL_FILE), self._proto)
        write_meta(directory, {"kind": self.name, "vocab_size": self.vocab_size,
                               "pad_id": self.pad_id, "bos_id": self.bos_id,
                               "eos_id": self.eos_id, "model_file": MODEL_FILE})


def train_sentencepiece(texts: Iterable[str], vocab_size: int, *, model_type: str = "bpe",
                        split_digits: bool = True, num_threads: int = 1,
                        max_sentences: int = 2_000_000,
                        max_sentence_chars: int = 1 << 16,
                        hard_vocab_limit: bool = True) -> SentencePieceTokenizer:
    """Trains a round-tripping SentencePiece model on ``texts`` (one document each).

    ``vocab_size`` counts the 4 specials and 256 byte pieces, so it must be at
    least 261 for any learned piece. Documents longer than
    ``max_sentence_chars`` are cut for training only (SentencePiece skips
    over-long sentences otherwise). ``hard_vocab_limit=False`` makes
    ``vocab_size`` an upper bound: a corpus with fewer distinct pieces gets a
    smaller vocabulary instead of an error. Training on the same texts with
    ``num_threads=1`` gives the same model.
    """
    if vocab_size < 4 + 256 + 1:
        raise ValueError(f"vocab_size={vocab_size}: must be at least 261 "
                         "(4 specials + 256 byte pieces + 1)")
    spm = _spm()
    sentences = (t[:max_sentence_chars] for t in texts if t)
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences, model_writer=buf, vocab_size=vocab_size,
            model_type=model_type, byte_fallback=True, normalization_rule_name="identity",
            add_dummy_prefix=False, remove_extra_whitespaces=False, split_digits=split_digits,
            allow_whitespace_only_pieces=True, character_coverage=1.0,
            pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
            input_sentence_size=max_sentences, shuffle_input_sentence=False,
            max_sentence_length=4 * max_sentence_chars,  # bytes, UTF-8 is <= 4 per char
            num_threads=num_threads, hard_vocab_limit=hard_vocab_limit, minloglevel=2)
    except RuntimeError as e:
        # e.g. "Vocabulary size is too high": the corpus has too few distinct pieces.
        raise ValueError(f"sentencepiece training failed: {str(e).splitlines()[0]}") from None
    return SentencePieceTokenizer(model_proto=buf.getvalue())


def _from_proto(model_proto: bytes) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(model_proto=model_proto)
