"""The tokenizer kinds, and loading whichever kind a directory holds.

The interface, the special ids and the saved form are
``tokenizer_protocol.py``'s.

* ``ByteTokenizer`` (``name="bytes"``): ids 0..2 are PAD, BOS, EOS; byte b is
  id b + 3, so the vocabulary is 259. Needs no files.
* ``SentencePieceTokenizer`` (``name="sentencepiece"``, in
  ``sentencepiece_tokenizer.py``): trained by ``python -m
  rtt_jax.data.train_tokenizer``; the same PAD/BOS/EOS ids 0..2, UNK 3.

``make_tokenizer(spec)`` builds the one ``config.data.tokenizer`` names:
``"bytes"``, a saved directory, or ``"family:NAME:VOCAB"`` (trained on a task
family's own text, ``family_tokenizer.py``).

``load_tokenizer(dir)`` restores whichever kind was saved; a missing or
corrupt file gives one ``TokenizerFileError`` line that names the file.
"""
from __future__ import annotations

import json
import os

import numpy as np

from rtt_jax import paths
from rtt_jax.data.family_tokenizer import family_tokenizer, is_family_spec
from rtt_jax.data.tokenizer_protocol import (BOS_ID, EOS_ID, META_FILE, PAD_ID, Tokenizer,
                                             TokenizerFileError, write_meta)

_OFFSET = 3


class ByteTokenizer:
    name = "bytes"
    vocab_size = 256 + _OFFSET
    pad_id, bos_id, eos_id = PAD_ID, BOS_ID, EOS_ID

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32) + _OFFSET

    def decode(self, ids) -> str:
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= _OFFSET) & (ids < self.vocab_size)] - _OFFSET
        return ids.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def save(self, directory: str) -> None:
        write_meta(directory, {"kind": self.name, "vocab_size": self.vocab_size,
                               "pad_id": self.pad_id, "bos_id": self.bos_id,
                               "eos_id": self.eos_id})


def load_tokenizer(directory: str) -> Tokenizer:
    """The tokenizer saved in ``directory`` by ``save``, of whichever kind."""
    path = os.path.join(directory, META_FILE)
    try:
        meta = json.loads(paths.read_text(path))
    except FileNotFoundError:
        raise TokenizerFileError(f"{path}: no tokenizer saved here (expected {META_FILE} "
                                 "written by Tokenizer.save or train_tokenizer)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerFileError(f"{path}: corrupt tokenizer metadata, not JSON ({e})") from None
    if not isinstance(meta, dict) or "kind" not in meta:
        raise TokenizerFileError(f"{path}: expected a JSON object with a 'kind' field")
    kind = meta["kind"]
    if kind == ByteTokenizer.name:
        tok = ByteTokenizer()
    elif kind == "sentencepiece":
        # Imported lazily so the byte path never needs the sentencepiece wheel.
        from rtt_jax.data.sentencepiece_tokenizer import SentencePieceTokenizer
        model = meta.get("model_file")
        if not isinstance(model, str):
            raise TokenizerFileError(f"{path}: sentencepiece tokenizer lacks 'model_file'")
        tok = SentencePieceTokenizer(os.path.join(directory, model))
    else:
        raise TokenizerFileError(f"{path}: unknown tokenizer kind {kind!r}; "
                                 "expected 'bytes' or 'sentencepiece'")
    for field in ("vocab_size", "pad_id", "bos_id", "eos_id"):
        if field in meta and meta[field] != getattr(tok, field):
            raise TokenizerFileError(f"{path}: {field}={meta[field]} but the loaded "
                                     f"tokenizer has {getattr(tok, field)}")
    return tok


def make_tokenizer(spec: str) -> Tokenizer:
    """``config.data.tokenizer``: ``"bytes"``, ``"family:NAME[,NAME...]:VOCAB"``
    (a SentencePiece tokenizer trained now on those families' text,
    ``family_tokenizer.py``) or a directory written by ``Tokenizer.save``.
    Built once per run (``config_validation.validate``) and passed down."""
    if spec in ("", "bytes"):
        return ByteTokenizer()
    if is_family_spec(spec):
        return family_tokenizer(spec)
    return load_tokenizer(spec)


RUN_TOKENIZER_DIR = "tokenizer"


def save_run_tokenizer(tokenizer: Tokenizer, workdir: str) -> None:
    """Keep the training tokenizer in the workdir (once; the loop calls this on
    process 0), so that evaluation and sampling always decode with the one
    that trained."""
    path = os.path.join(workdir, RUN_TOKENIZER_DIR)
    if not paths.exists(path):
        tokenizer.save(path)


def run_tokenizer(workdir: str, fallback: Tokenizer) -> Tokenizer:
    """The tokenizer a run in ``workdir`` trained with (``fallback``, the
    config's, when the workdir has none)."""
    path = os.path.join(workdir, RUN_TOKENIZER_DIR)
    return load_tokenizer(path) if paths.exists(path) else fallback
