"""Evaluator scoring throughput (generation excluded).

    python bench/eval_scoring.py [--n 1000] [--gsm8k tests/fixtures/gsm8k_test_head50.jsonl]

Builds ``n`` problems spread over every task family and level (above the
training range too) plus a GSM8K file, feeds the teacher's own solutions back
as completions through ``Evaluator`` and times scoring only (extraction, step
checks, aggregation with intervals). Last line: ``eval_problems_per_sec=<n>``.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import time

from rtt_jax import tasks
from rtt_jax.evaluation import Evaluator, gsm8k_set, prompt_for, reference_text, task_sets

REPO = pathlib.Path(__file__).resolve().parents[1]
STYLES = {"addition": "column"}  # Lee's plain format has no steps to check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="problems in all")
    ap.add_argument("--gsm8k", default=str(REPO / "tests/fixtures/gsm8k_test_head50.jsonl"))
    args = ap.parse_args()
    gsm = gsm8k_set(args.gsm8k) if args.gsm8k else None
    n_levels = sum(len(tasks.get(f).levels) for f in tasks.names())
    per_set = max(1, math.ceil((args.n - (len(gsm) if gsm else 0)) / n_levels))
    t0 = time.perf_counter()
    sets = task_sets(n=per_set, styles=STYLES) + ([gsm] if gsm else [])
    table = {}
    for s in sets:
        fam = tasks.get(s.family)
        for p in s.problems:
            prompt = prompt_for(fam, p, s.style)
            table[prompt] = reference_text(fam, p, s.style)[len(prompt):]
    t1 = time.perf_counter()
    report = Evaluator(sets, lambda prompts: [table[q] for q in prompts]).run()
    timing = report["timing"]
    total = report["summary"]["all"]
    print(f"sets={len(sets)} problems={timing['problems']} build_s={t1 - t0:.2f} "
          f"score_s={timing['score_seconds']:.2f} generate_s={timing['generate_seconds']:.3f}")
    print(f"answer_accuracy={total['answer_accuracy']:.4f} "
          f"step_validity={total['step_validity']:.4f} "
          f"slowest_problem_s={total['max_score_seconds']:.4f}")
    print(f"eval_problems_per_sec={timing['problems_per_sec']:.1f}")


if __name__ == "__main__":
    main()
