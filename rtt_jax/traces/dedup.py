"""Near-duplicate detection with datasketch MinHash LSH.

Standalone on purpose: trace filtering uses it on solution texts and the
textbook builder reuses it on passages. It knows nothing about traces.

How text becomes a set: lowercase, collapse whitespace, then take the set of
character ``shingle``-grams (default 5). Character shingles rather than word
n-grams because arithmetic traces are short and differ mostly inside numbers
("12 + 7 = 19" vs "12 + 8 = 20"); word n-grams would make every such pair
look unrelated or identical depending on n.

Two texts are near-duplicates when the MinHash estimate of the Jaccard
similarity of their shingle sets is at least ``threshold``. LSH finds
candidates in sub-linear time; candidates are then confirmed with the MinHash
Jaccard estimate so that LSH banding false positives do not drop texts.
Exact duplicates (same normalized text) are caught first by a blake2b digest,
which is cheaper and exact.

Deterministic: the MinHash permutations depend only on ``seed``; which copy
of a near-duplicate pair is kept depends only on insertion order.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import zlib
from typing import Hashable, Iterable

import datasketch
import numpy as np

_SPACE_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lowercase and collapse whitespace; the form all comparisons use."""
    return _SPACE_RE.sub(" ", text.strip().lower())


def shingles(text: str, n: int = 5) -> set[bytes]:
    """Character ``n``-grams of the normalized text (the whole text if shorter)."""
    t = normalize(text)
    if len(t) <= n:
        return {t.encode()}
    return {t[i:i + n].encode() for i in range(len(t) - n + 1)}


@functools.lru_cache(maxsize=8)
def _blank(num_perm: int, seed: int) -> datasketch.MinHash:
    # Building the permutations is most of a MinHash's set-up cost; do it once.
    # crc32 (C, deterministic) hashes shingles several times faster than the
    # default SHA-1 wrapper, and 32 bits are what the affine32 scheme uses.
    return datasketch.MinHash(num_perm=num_perm, seed=seed, hashfunc=zlib.crc32)


def minhash(text: str, num_perm: int = 64, shingle: int = 5, seed: int = 1) -> datasketch.MinHash:
    m = _blank(num_perm, seed).copy()
    m.update_batch(shingles(text, shingle))
    return m


def exact_digest(text: str) -> bytes:
    return hashlib.blake2b(normalize(text).encode(), digest_size=16).digest()


def lines_digest(text: str) -> bytes:
    """A digest of the text's non-blank lines as a multiset (each normalized):
    equal for two texts with the same lines in any order."""
    lines = sorted(normalize(line) for line in text.splitlines() if line.strip())
    return hashlib.blake2b("\n".join(lines).encode(), digest_size=16).digest()


@dataclasses.dataclass
class DedupStats:
    seen: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0

    @property
    def kept(self) -> int:
        return self.seen - self.exact_duplicates - self.near_duplicates


class NearDuplicateIndex:
    """A growing set of texts; ``add`` says whether a text is new.

    >>> idx = NearDuplicateIndex(threshold=0.8)
    >>> idx.add("a", "the cat sat on the mat today")
    True
    >>> idx.add("b", "the cat sat on the mat today!")   # near-duplicate of "a"
    False

    ``threshold`` is the Jaccard similarity at or above which a text counts as
    a duplicate; ``threshold >= 1`` keeps only the exact-duplicate check.
    ``lines_in_any_order``: a text with the same lines as a stored one, in
    another order, is a duplicate too (prose corpora, where reordered lines
    are the same content; character shingles miss such a copy when its lines
    are short, since most shingles then cross a line boundary). Off for
    traces, whose line order is the reasoning.
    """

    def __init__(self, threshold: float = 0.85, num_perm: int = 64, shingle: int = 5,
                 seed: int = 1, lines_in_any_order: bool = False):
        if not 0.0 < threshold:
            raise ValueError(f"dedup threshold must be > 0, got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.seed = seed
        self.stats = DedupStats()
        self._digests: dict[bytes, Hashable] = {}
        self._line_digests: dict[bytes, Hashable] | None = {} if lines_in_any_order else None
        # Only the signature arrays are kept (not MinHash objects): about 600
        # bytes per text at num_perm=64.
        self._signatures: dict[Hashable, np.ndarray] = {}
        self._keys: set[Hashable] = set()
        self._lsh = (datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
                     if threshold < 1.0 else None)

    def __len__(self) -> int:
        return len(self._digests)

    def duplicate_of(self, text: str) -> Hashable | None:
        """The key of a stored text this one duplicates, or None."""
        found = self._digests.get(exact_digest(text))
        if found is None and self._line_digests is not None:
            found = self._line_digests.get(lines_digest(text))
        if found is not None or self._lsh is None:
            return found
        return self._near(minhash(text, self.num_perm, self.shingle, self.seed))

    def _near(self, m: datasketch.MinHash) -> Hashable | None:
        for key in self._lsh.query(m):
            if float(np.mean(self._signatures[key] == m.hashvalues)) >= self.threshold:
                return key
        return None

    def add(self, key: Hashable, text: str) -> bool:
        """Insert ``text`` under ``key`` unless it duplicates a stored text.

        Returns True when inserted (the text is new), False for a duplicate.
        """
        self.stats.seen += 1
        digest = exact_digest(text)
        if digest in self._digests:
            self.stats.exact_duplicates += 1
            return False
        if key in self._keys:
            raise KeyError(f"dedup key {key!r} inserted twice")
        lines = lines_digest(text) if self._line_digests is not None else None
        if lines is not None and lines in self._line_digests:
            self.stats.near_duplicates += 1
            return False
        if self._lsh is not None:
            m = minhash(text, self.num_perm, self.shingle, self.seed)
            if self._near(m) is not None:
                self.stats.near_duplicates += 1
                return False
            self._lsh.insert(key, m)
            self._signatures[key] = m.hashvalues
        self._digests[digest] = key
        if lines is not None:
            self._line_digests[lines] = key
        self._keys.add(key)
        return True


def deduplicate(items: Iterable[tuple[Hashable, str]], **index_kwargs) -> list[Hashable]:
    """Keys of the items kept, first occurrence wins."""
    index = NearDuplicateIndex(**index_kwargs)
    return [key for key, text in items if index.add(key, text)]
