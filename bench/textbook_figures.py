"""Textbook figures: generation speed, diversity against GSM8K, filter accuracy.

    python bench/textbook_figures.py [--n 10000] [--gsm8k ../shared/data/gsm8k/train.jsonl]

Prints sections/s; distinct-2 and distinct-4 of n synthetic sections beside n
GSM8K human solutions (if the file is there); and, at the filter's default
threshold, the share of planted bad texts removed and of good texts kept.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time

import numpy as np

from rtt_jax.textbook import classifier as clf
from rtt_jax.textbook import corrupt, quality, sections
from rtt_jax.traces import diversity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--gsm8k", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                    "shared", "data", "gsm8k", "train.jsonl"))
    args = ap.parse_args()
    src = sections.TextbookSource(seed=0)
    t = time.perf_counter()
    texts = [src[i].text for i in range(args.n)]
    print(f"sections_per_sec={args.n / (time.perf_counter() - t):.0f}")
    print(f"sections distinct_2={diversity.distinct_n(texts, 2):.4f} "
          f"distinct_4={diversity.distinct_n(texts, 4):.4f}")
    if os.path.exists(args.gsm8k):
        sols = [json.loads(line)["answer"] for line in open(args.gsm8k)][:args.n]
        print(f"gsm8k({len(sols)}) distinct_2={diversity.distinct_n(sols, 2):.4f} "
              f"distinct_4={diversity.distinct_n(sols, 4):.4f}")
    # Filter accuracy at the default threshold (0.5) with the default model.
    model = clf.default_model(seed=0)
    rng = random.Random(1)
    good = [sections.TextbookSource(seed=99)[i].text for i in range(300)]
    bad = [corrupt.make_bad(kind, good[i], rng)
           for i, kind in zip(range(300), [k for _ in range(40) for k in corrupt.BAD_KINDS])]

    def kept(text):
        return quality.check(text).passed and model.score(text) >= 0.5
    print(f"filter good_kept={np.mean([kept(x) for x in good]):.3f} "
          f"bad_removed={np.mean([not kept(x) for x in bad]):.3f}")


if __name__ == "__main__":
    main()
