"""The quality filter on a clean-vs-corrupted test: how much of what it keeps is clean.

``clean_vs_corrupted(n, seed)`` takes ``n`` held-out synthetic sections (a
seed the default classifier never trained on), makes one corrupted copy of
each, and runs the whole filter (``filter.decide``: heuristic rules,
near-duplicates, classifier score >= 0.5) over the mix. Corruptions come in
two families:

* ``trained``: ``corrupt.BAD_KINDS``, the kinds the classifier learns to reject;
* ``held_out``: ``corrupt.SUBTLE_KINDS``, damage it never sees in training
  (lines shuffled, paragraphs repeated, a boilerplate wrapper, symbol noise).

It reports ``precision`` (the share of kept texts that are clean: the figure a
change of the generator must not lower), ``recall`` (the share of clean texts
kept), the kept share per corruption kind, and the two scores' ranking
(clean above its own corruption) for the held-out kinds.

Used by ``python -m rtt_jax.textbook.generate --check_filter`` (written into
``generate_report.json``); the default classifier is trained on the same
generator, so a more varied generator is measured with a model trained on it.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from rtt_jax.textbook import classifier as clf
from rtt_jax.textbook import corrupt, quality
from rtt_jax.textbook import filter as tb_filter


def clean_vs_corrupted(n: int = 200, seed: int = 1000,
                       model: clf.QualityClassifier | None = None) -> dict[str, Any]:
    """Precision and recall of the full filter on ``n`` clean sections and a
    corrupted copy of each (kinds in turn, trained then held-out)."""
    from rtt_jax.textbook.sections import TextbookSource  # heavy import kept local

    if n < 1:
        raise ValueError(f"clean_vs_corrupted: n={n}, expected at least 1")
    model = model or clf.default_model()
    src = TextbookSource(seed=seed)
    clean = [src[i].text for i in range(n)]
    kinds = [("trained", k) for k in corrupt.BAD_KINDS] + [("held_out", k) for k in corrupt.SUBTLE_KINDS]
    rng = random.Random(seed)
    bad, bad_kinds = [], []
    for i, text in enumerate(clean):
        family, kind = kinds[i % len(kinds)]
        make = corrupt.make_bad if family == "trained" else corrupt.make_subtle
        bad.append(make(kind, text, rng))
        bad_kinds.append((family, kind))
    texts = clean + bad
    scores = model.scores(texts)
    kept, _, _ = tb_filter.decide(texts, scores, keep_fraction=None, threshold=0.5,
                                  dedup_threshold=0.8)
    kept_clean = sum(kept[:n])
    kept_bad = sum(kept[n:])
    by_kind: dict[str, dict[str, Any]] = {}
    for (family, kind), k in zip(bad_kinds, kept[n:]):
        row = by_kind.setdefault(kind, {"family": family, "n": 0, "kept": 0})
        row["n"] += 1
        row["kept"] += int(k)
    held = [i for i, (family, _) in enumerate(bad_kinds) if family == "held_out"]
    rules = [quality.score(clean[i]) > quality.score(bad[i]) for i in held]
    ranked = [scores[i] > scores[n + i] for i in held]
    return {
        "n_clean": n, "n_corrupted": n, "seed": seed,
        "kept_clean": int(kept_clean), "kept_corrupted": int(kept_bad),
        "precision": round(kept_clean / (kept_clean + kept_bad), 4) if kept_clean + kept_bad else None,
        "recall": round(kept_clean / n, 4),
        "kept_by_corruption": dict(sorted(by_kind.items())),
        "held_out_rank_win_rate": {"rules": round(float(np.mean(rules)), 4) if rules else None,
                                   "classifier": round(float(np.mean(ranked)), 4) if ranked else None},
    }
