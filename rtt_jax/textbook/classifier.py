"""A small model-based quality score: hashed n-gram logistic regression in numpy.

In the spirit of phi-1's and FineWeb-Edu's educational-value classifiers, but
tiny and dependency-free: a text becomes a sparse vector of hashed token 1-,
2- and 3-grams (digit runs collapsed to a length shape, so the model learns
form rather than particular numbers; line breaks kept as a token, so layout
counts), log-scaled and L2-normalised. A logistic regression trained by
full-batch Adam separates good text (synthetic textbook sections) from bad
(``corrupt.BAD_KINDS``). ``QualityClassifier.score(text)`` is P(good).

Models are saved as JSON (never pickle): the format tag, the hash size, the
bias and the non-zero weights.

Train and report held-out accuracy::

    python -m rtt_jax.textbook.classifier --out=/tmp/quality_model.json [--labelled=L.jsonl]

Scope: trained on synthetic sections only, the default model scores
"reads like our textbook sections", not general educational value: ordinary
good prose on other subjects scores low (about 0.1). To filter outside
corpora, add labelled examples of them with ``--labelled``.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import random
import re
import zlib
from typing import Sequence

import numpy as np

from rtt_jax import json_lines
from rtt_jax.cli_errors import naming
from rtt_jax.textbook import corrupt

FORMAT = "rtt_jax.textbook.classifier/1"
_TOKEN_RE = re.compile(r"[a-z]+|\d+|\n|[^\sa-z\d]")


def _tokens(text: str) -> list[str]:
    return [("<nl>" if t == "\n" else f"<d{min(len(t), 6)}>" if t[0].isdigit() else t)
            for t in _TOKEN_RE.findall(text.lower()[:20_000])]


def featurize(text: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted hashed feature indices, values) of one text."""
    toks = _tokens(text)
    grams = toks + [a + " " + b for a, b in zip(toks, toks[1:])] + \
        [a + " " + b + " " + c for a, b, c in zip(toks, toks[1:], toks[2:])]
    # crc32 is deterministic across processes (unlike hash()) and fast.
    idx = np.fromiter((zlib.crc32(g.encode()) % dim for g in grams), dtype=np.int64, count=len(grams))
    uniq, counts = np.unique(idx, return_counts=True)
    vals = np.log1p(counts.astype(np.float64))
    norm = np.linalg.norm(vals)
    return uniq, (vals / norm if norm else vals)


def _design(texts: Sequence[str], dim: int):
    feats = [featurize(t, dim) for t in texts]
    lengths = np.array([len(i) for i, _ in feats])
    indices = np.concatenate([i for i, _ in feats]) if feats else np.zeros(0, np.int64)
    values = np.concatenate([v for _, v in feats]) if feats else np.zeros(0)
    rows = np.repeat(np.arange(len(feats)), lengths)
    return rows, indices, values


@dataclasses.dataclass
class QualityClassifier:
    weights: np.ndarray
    bias: float
    dim: int

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        rows, idx, vals = _design(texts, self.dim)
        return np.bincount(rows, weights=self.weights[idx] * vals, minlength=len(texts)) + self.bias

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(texts)))

    def score(self, text: str) -> float:
        return float(self.scores([text])[0])

    def to_json(self) -> dict:
        nz = np.flatnonzero(np.abs(self.weights) > 1e-6)
        return {"format": FORMAT, "dim": self.dim, "bias": round(float(self.bias), 6),
                "weights": {str(i): round(float(self.weights[i]), 6) for i in nz}}

    def save(self, path: str) -> None:
        with naming(path), open(path, "w") as f:
            json.dump(self.to_json(), f)

    @classmethod
    def load(cls, path: str) -> "QualityClassifier":
        """A model saved by ``save``; ValueError naming ``path`` for anything else
        (not UTF-8, JSON nested too deep, missing or mistyped fields)."""
        try:
            with open(path, "rb") as f:
                text = json_lines.decode_line(f.read(), path)
            d = json_lines.parse_line(text, path)
        except OSError as e:
            raise ValueError(f"{path}: cannot read quality model JSON ({e.strerror})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"{path}: field 'format' is {got!r}, expected {FORMAT!r}")
        try:
            w = np.zeros(int(d["dim"]))
            for k, v in d["weights"].items():
                w[int(k)] = v
            return cls(w, float(d["bias"]), int(d["dim"]))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise ValueError(f"{path}: not a quality model ({type(e).__name__}: {e})") from None


def train(texts: Sequence[str], labels: Sequence[int], dim: int = 2 ** 18, steps: int = 300,
          lr: float = 0.05, l2: float = 1e-5) -> QualityClassifier:
    """Full-batch Adam on the mean logistic loss plus ``l2`` * |w|^2."""
    y = np.asarray(labels, dtype=np.float64)
    rows, idx, vals = _design(texts, dim)
    n = len(texts)
    w, b = np.zeros(dim), 0.0
    m, v, mb, vb = np.zeros(dim), np.zeros(dim), 0.0, 0.0
    for t in range(1, steps + 1):
        z = np.bincount(rows, weights=w[idx] * vals, minlength=n) + b
        g = (1.0 / (1.0 + np.exp(-z)) - y) / n  # d loss / d logit
        gw = np.bincount(idx, weights=g[rows] * vals, minlength=dim) + 2 * l2 * w
        gb = g.sum()
        m, v = 0.9 * m + 0.1 * gw, 0.999 * v + 0.001 * gw ** 2
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb ** 2
        corr = np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        w -= lr * corr * m / (np.sqrt(v) + 1e-8)
        b -= lr * corr * mb / (np.sqrt(vb) + 1e-8)
    return QualityClassifier(w, b, dim)


def labelled_corpus(n_good: int, seed: int) -> tuple[list[str], list[int], list[str]]:
    """``n_good`` textbook sections and as many bad texts, all bad kinds in turn.

    Returns (texts, labels, kinds); kind is "good" or a ``corrupt`` kind.
    """
    from rtt_jax.textbook.sections import TextbookSource  # heavy import kept local

    src = TextbookSource(seed=seed)
    rng = random.Random(seed)
    good = [src[i].text for i in range(n_good)]
    texts, labels, kinds = list(good), [1] * n_good, ["good"] * n_good
    for i in range(n_good):
        kind = corrupt.BAD_KINDS[i % len(corrupt.BAD_KINDS)]
        texts.append(corrupt.make_bad(kind, good[rng.randrange(n_good)], rng))
        labels.append(0)
        kinds.append(kind)
    return texts, labels, kinds


def evaluate(model: QualityClassifier, texts, labels, kinds) -> dict:
    pred = model.scores(texts) >= 0.5
    y = np.asarray(labels) == 1
    by_kind = {k: round(float(np.mean(pred[np.asarray(kinds) == k] == y[np.asarray(kinds) == k])), 4)
               for k in sorted(set(kinds))}
    return {"accuracy": round(float(np.mean(pred == y)), 4), "n": len(texts), "by_kind": by_kind}


@functools.lru_cache(maxsize=2)
def default_model(seed: int = 0, n_good: int = 300) -> QualityClassifier:
    """The classifier trained on ``labelled_corpus(n_good, seed)``; deterministic."""
    texts, labels, _ = labelled_corpus(n_good, seed)
    return train(texts, labels)


def main(argv=None) -> None:
    import argparse
    import time

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="where to write the model JSON")
    ap.add_argument("--n_good", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--labelled", default=None,
                    help="extra JSONL training records {text, label: 1 good / 0 bad}")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.labelled:
        from rtt_jax.textbook import readers
        texts, labels, _ = labelled_corpus(args.n_good, args.seed)
        for doc in readers.read_jsonl(args.labelled):
            if doc.record.get("label") not in (0, 1):
                raise SystemExit(f"{args.labelled}:{doc.line}: expected field 'label' to be 0 or 1")
            texts.append(doc.text)
            labels.append(doc.record["label"])
        model = train(texts, labels)
    else:
        model = default_model(args.seed, args.n_good)
    train_s = time.time() - t0
    held = evaluate(model, *labelled_corpus(args.n_good // 2, args.seed + 1000))
    model.save(args.out)
    print(json.dumps({"out": args.out, "train_seconds": round(train_s, 2), "held_out": held}, indent=1))


if __name__ == "__main__":
    main()
