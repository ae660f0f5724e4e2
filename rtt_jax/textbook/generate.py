"""Write synthetic textbook sections to JSONL, with a diversity report.

    python -m rtt_jax.textbook.generate --out=DIR [--n=1000] [--seed=0] \
        [--families=addition,logic] [--levels=1,2,3]

Writes ``DIR/sections.jsonl`` (one ``Section.to_json()`` per line, with its
source index ``i``) and ``DIR/generate_report.json``: counts per family and
level, sections per second, and ``stats.corpus_diversity`` (distinct-n,
template and skill entropy).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import time

from rtt_jax.textbook import stats
from rtt_jax.textbook.sections import TextbookSource


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m rtt_jax.textbook.generate")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", default="", help="comma-separated; default all")
    ap.add_argument("--levels", default="", help="comma-separated; default each family's train_levels")
    a = ap.parse_args(argv)
    fams = [f for f in a.families.split(",") if f] or None
    levels = [int(x) for x in a.levels.split(",") if x] or None
    src = TextbookSource(fams, levels, a.seed)
    os.makedirs(a.out, exist_ok=True)
    records, t0 = [], time.time()
    with open(os.path.join(a.out, "sections.jsonl"), "w") as f:
        for i in range(a.n):
            rec = {"i": i} | src[i].to_json()
            records.append(rec)
            f.write(json.dumps(rec) + "\n")
    seconds = time.time() - t0
    report = {
        "n": a.n, "seed": a.seed, "families": list(src.families),
        "sections_per_second": round(a.n / seconds, 1) if seconds else None,
        "by_family_level": dict(sorted(collections.Counter(
            f"{r['family']}/L{r['level']}" for r in records).items())),
        "diversity": stats.corpus_diversity(records),
    }
    with open(os.path.join(a.out, "generate_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: report[k] for k in ("n", "sections_per_second")}
                     | {k: report["diversity"].get(k) for k in
                        ("distinct_1", "distinct_2", "distinct_4", "template_entropy_bits",
                         "distinct_templates", "skill_entropy_bits")}))
    return report


if __name__ == "__main__":
    main()
