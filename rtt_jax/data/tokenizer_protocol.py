"""What every tokenizer is: the interface, the special ids and the saved form.

Every tokenizer has ``encode(text) -> np.int32 array`` (no BOS/EOS added),
``decode(ids) -> str`` (special ids skipped), ``vocab_size``, ``pad_id``,
``bos_id``, ``eos_id``, ``name`` and ``save(dir)``, and round-trips any text
exactly: ``decode(encode(s)) == s``. The kinds share the ids PAD 0, BOS 1,
EOS 2.

On disk a tokenizer is a directory holding ``tokenizer.json``::

    {"kind": "bytes" | "sentencepiece", "vocab_size": N,
     "pad_id": 0, "bos_id": 1, "eos_id": 2, "model_file": "tokenizer.model"}

(``model_file`` only for SentencePiece, relative to the directory). This
module imports no tokenizer kind, so each kind (``tokenizer.ByteTokenizer``,
``sentencepiece_tokenizer.SentencePieceTokenizer``) and the loader that
dispatches over them (``tokenizer.load_tokenizer``) import it without a cycle.
"""
from __future__ import annotations

import json
import os
from typing import Protocol, runtime_checkable

import numpy as np

from rtt_jax import paths

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
META_FILE = "tokenizer.json"


class TokenizerFileError(ValueError):
    """A saved tokenizer that cannot be used; the message names the file."""


@runtime_checkable
class Tokenizer(Protocol):
    name: str
    vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids) -> str: ...

    def save(self, directory: str) -> None: ...


def write_meta(directory: str, meta: dict) -> None:
    paths.makedirs(directory)
    # Never leave a half-written meta file behind (ASCII: json.dump escapes the rest).
    paths.replace_text(os.path.join(directory, META_FILE),
                       json.dumps(meta, indent=1, sort_keys=True))
