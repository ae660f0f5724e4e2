"""A small model-based quality score: hashed n-gram logistic regression.

In the spirit of phi-1's and FineWeb-Edu's educational-value classifiers, but
tiny and dependency-free: a text becomes a sparse vector of hashed token 1-,
2- and 3-grams (digit runs collapsed to a length shape, so the model learns
form rather than particular numbers; line breaks kept as a token, so layout
counts), log-scaled and L2-normalised. A logistic regression trained by
full-batch Adam (optax; scoring is numpy) separates good text (synthetic textbook sections) from bad
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
    """Full-batch Adam (optax) on the mean logistic loss plus ``l2`` * |w|^2.

    The whole loop is one jitted ``fori_loop``; JAX and optax are imported
    here, so scoring with a trained model stays numpy-only."""
    import jax
    import jax.numpy as jnp
    import optax

    rows, idx, vals = _design(texts, dim)
    n = len(texts)
    y = jnp.asarray(labels, jnp.float32)
    rows, idx, vals = jnp.asarray(rows), jnp.asarray(idx), jnp.asarray(vals, jnp.float32)
    opt = optax.adam(lr)

    def loss(params):
        w, b = params
        z = jax.ops.segment_sum(w[idx] * vals, rows, num_segments=n) + b
        return jnp.mean(optax.sigmoid_binary_cross_entropy(z, y)) + l2 * jnp.sum(w * w)

    def step(_, carry):
        params, state = carry
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state

    params = (jnp.zeros(dim, jnp.float32), jnp.zeros((), jnp.float32))
    run = jax.jit(lambda p: jax.lax.fori_loop(0, steps, step, (p, opt.init(p)))[0])
    w, b = run(params)
    return QualityClassifier(np.asarray(w, np.float64), float(b), dim)


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


PROG = "python -m rtt_jax.textbook.classifier"


def _define_flags(fv) -> None:
    from absl import flags
    flags.DEFINE_string("out", None, "where to write the model JSON", flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    flags.DEFINE_integer("n_good", 300, "good sections in the training corpus (as many bad)",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("seed", 0, "seed of the training corpus", flag_values=fv)
    flags.DEFINE_string("labelled", None,
                        "extra JSONL training records {text, label: 1 good / 0 bad}",
                        flag_values=fv)


def _train_and_save(a) -> None:
    import time

    t0 = time.time()
    if a.labelled:
        from rtt_jax.textbook import readers
        texts, labels, _ = labelled_corpus(a.n_good, a.seed)
        for doc in readers.read_jsonl(a.labelled):
            if doc.record.get("label") not in (0, 1):
                raise ValueError(f"{a.labelled}:{doc.line}: expected field 'label' to be 0 or 1")
            texts.append(doc.text)
            labels.append(doc.record["label"])
        model = train(texts, labels)
    else:
        model = default_model(a.seed, a.n_good)
    train_s = time.time() - t0
    held = evaluate(model, *labelled_corpus(max(1, a.n_good // 2), a.seed + 1000))
    model.save(a.out)
    print(json.dumps({"out": a.out, "train_seconds": round(train_s, 2), "held_out": held},
                     indent=1))


def main(argv=None) -> int:
    """Train per the flags in ``argv`` (default ``sys.argv[1:]``); the exit status."""
    import sys

    from rtt_jax import cli_errors
    a, rest = cli_errors.parse_flags(sys.argv[1:] if argv is None else argv, _define_flags, PROG)
    if rest:
        cli_errors.usage_error(f"unexpected arguments: {' '.join(rest)}", PROG)
    return cli_errors.run_reporting(lambda: _train_and_save(a), path=a.out,
                                    verbosity=a.verbosity)


if __name__ == "__main__":
    raise SystemExit(main())
