"""Byte-level tokenizer: exact round trip for any UTF-8 text.

Ids 0..2 are PAD, BOS, EOS; byte b is id b + 3, so the vocabulary is 259.
The data issue adds SentencePiece behind the same interface.
"""
from __future__ import annotations

import numpy as np

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
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
