"""A built-in synthetic task so the training loop runs end to end.

Rows of packed ``a+b=c`` examples (byte tokens), loss on the answer and EOS.
Batch ``k`` is a pure function of (seed, k), so the iterator state is just the
next batch index and resume is exact. The Grain pipeline replaces this source.
"""
from __future__ import annotations

import numpy as np

from rtt_jax.data.tokenizer import ByteTokenizer


def _example(rng: np.random.Generator, min_digits: int, max_digits: int, tok: ByteTokenizer):
    digits = rng.integers(min_digits, max_digits + 1, size=2)
    a, b = (int(rng.integers(10 ** (d - 1) if d > 1 else 0, 10 ** d)) for d in digits)
    prompt = np.concatenate([[tok.bos_id], tok.encode(f"{a}+{b}=")])
    target = np.concatenate([tok.encode(str(a + b)), [tok.eos_id]])
    return prompt, target


def batch_for_step(seed: int, index: int, batch_size: int, seq_len: int,
                   min_digits: int = 1, max_digits: int = 3) -> dict[str, np.ndarray]:
    """Global batch ``index``: tokens/segment_ids/positions/loss_mask of shape [B, seq_len + 1].

    ``loss_mask[t] = 1`` marks token t as a target (predicted from t - 1).
    """
    tok = ByteTokenizer()
    width = seq_len + 1
    out = {k: np.zeros((batch_size, width), np.int32)
           for k in ("tokens", "segment_ids", "positions", "loss_mask")}
    rng = np.random.default_rng([seed, index])
    for row in range(batch_size):
        col, seg = 0, 1
        while True:
            prompt, target = _example(rng, min_digits, max_digits, tok)
            n = len(prompt) + len(target)
            if col + n > width:
                break
            sl = slice(col, col + n)
            out["tokens"][row, sl] = np.concatenate([prompt, target])
            out["segment_ids"][row, sl] = seg
            out["positions"][row, sl] = np.arange(n)
            out["loss_mask"][row, col + len(prompt):col + n] = 1
            col, seg = col + n, seg + 1
    return out


class BuiltinAdditionData:
    """Iterator of (rows ``rows`` of each global batch, {} metrics); state is {"next_index": k}."""

    def __init__(self, seed: int, batch_size: int, seq_len: int, min_digits: int, max_digits: int,
                 rows: slice = slice(None)):
        self.seed, self.batch_size, self.seq_len, self.rows = seed, batch_size, seq_len, rows
        self.min_digits, self.max_digits = min_digits, max_digits
        self.next_index = 0

    def get_state(self) -> dict:
        return {"kind": "builtin_addition", "next_index": self.next_index}

    def set_state(self, state: dict) -> None:
        if state.get("kind") != "builtin_addition":
            raise ValueError(f"data iterator state is for {state.get('kind')!r}, not builtin_addition")
        self.next_index = int(state["next_index"])

    def __iter__(self):
        return self

    def __next__(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        batch = batch_for_step(self.seed, self.next_index, self.batch_size, self.seq_len,
                               self.min_digits, self.max_digits)
        self.next_index += 1
        return {k: v[self.rows] for k, v in batch.items()}, {}

    def close(self) -> None:
        pass
