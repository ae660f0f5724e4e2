"""Diversity figures of a trace dataset.

* ``distinct_n(texts, n)``: distinct word n-grams / all word n-grams over the
  texts (Li et al. 2016, "distinct-n"); 1.0 means no n-gram repeats.
* ``style_entropy(styles)``: Shannon entropy in bits of the style
  distribution; log2(#styles) when styles are used equally, 0 for one style.
* ``DiversityStats``: streaming accumulation of both, per family and overall
  (overall entropy = record-weighted mean of the families' entropies), plus
  the mean number of distinct styles per problem.

Words are maximal runs of letters or of digits, or single other non-space
characters, so ``12+7=19`` is five tokens. N-gram sets are kept as 8-byte
digests, and only the first ``max_texts`` texts of each family feed the
distinct-n figures, to bound memory on large datasets (style counts use all).
"""
from __future__ import annotations

import collections
import hashlib
import math
import re
from typing import Any, Iterable

_TOKEN_RE = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]")


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def _ngram_digests(toks: list[str], n: int) -> Iterable[bytes]:
    for i in range(len(toks) - n + 1):
        yield hashlib.blake2b("\x1f".join(toks[i:i + n]).encode(), digest_size=8).digest()


def distinct_n(texts: Iterable[str], n: int) -> float:
    seen: set[bytes] = set()
    total = 0
    for text in texts:
        for g in _ngram_digests(tokens(text), n):
            seen.add(g)
            total += 1
    return len(seen) / total if total else 0.0


def style_entropy(styles: Iterable[str]) -> float:
    counts = collections.Counter(styles)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


class _NgramCounter:
    def __init__(self, ns: tuple[int, ...]):
        self.ns = ns
        self.seen = {n: set() for n in ns}
        self.total = {n: 0 for n in ns}

    def add(self, text: str) -> None:
        toks = tokens(text)
        for n in self.ns:
            for g in _ngram_digests(toks, n):
                self.seen[n].add(g)
                self.total[n] += 1

    def figures(self) -> dict[str, float]:
        return {f"distinct_{n}": round(len(self.seen[n]) / self.total[n], 4) if self.total[n] else 0.0
                for n in self.ns}


class DiversityStats:
    """Accumulates diversity figures over kept records."""

    def __init__(self, ns: tuple[int, ...] = (1, 2, 3, 4), max_texts: int = 100_000):
        self.ns = ns
        self.max_texts = max_texts
        self._texts: collections.Counter = collections.Counter()
        self._all = _NgramCounter(ns)
        self._fam: dict[str, _NgramCounter] = {}
        self._styles: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._problem_styles: dict[tuple, set[str]] = collections.defaultdict(set)

    def add(self, family: str, style: str, problem_key: tuple, text: str) -> None:
        self._fam.setdefault(family, _NgramCounter(self.ns))
        if self._texts[family] < self.max_texts:
            self._texts[family] += 1
            self._all.add(text)
            self._fam[family].add(text)
        self._styles[family][style] += 1
        self._problem_styles[(family, *problem_key)].add(style)

    def to_json(self) -> dict[str, Any]:
        per_problem = [len(s) for s in self._problem_styles.values()]
        by_family = {}
        for family in sorted(self._fam):
            counts = self._styles[family]
            fam_problems = [len(s) for k, s in self._problem_styles.items() if k[0] == family]
            by_family[family] = {
                **self._fam[family].figures(),
                "style_entropy_bits": round(style_entropy(counts.elements()), 4),
                "styles": dict(sorted(counts.items())),
                "mean_styles_per_problem": round(sum(fam_problems) / len(fam_problems), 4),
            }
        total = sum(sum(c.values()) for c in self._styles.values())
        # Styles are per family, so the overall figure is the record-weighted
        # mean of the families' entropies (not the entropy of family/style pairs).
        mean_entropy = sum(style_entropy(c.elements()) * sum(c.values())
                           for c in self._styles.values()) / total if total else 0.0
        return {
            **self._all.figures(),
            "style_entropy_bits": round(mean_entropy, 4),
            "mean_styles_per_problem": (round(sum(per_problem) / len(per_problem), 4)
                                        if per_problem else 0.0),
            "by_family": by_family,
        }
