"""Throughput of the arithmetic task families: problems generated and solved
into traces per second, and traces checked per second, per family and style.

    python bench/tasks_throughput.py [--n 2000] [--levels train|all]

Each (family, style) is timed over ``n`` problems spread evenly across the
chosen levels; "gen+trace" is generate + solve + format_example (what a Grain
worker does per example), "check" is check_steps + check_answer on the
formatted completion (what a trace filter or an evaluator does).
"""
from __future__ import annotations

import argparse
import time

from rtt_jax import tasks

FAMILIES = ("addition", "subtraction", "multiplication", "division", "gcd_lcm",
            "base_conversion")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="problems per (family, style)")
    ap.add_argument("--levels", choices=("train", "all"), default="train")
    args = ap.parse_args()
    print(f"{'family':16} {'style':18} {'gen+trace/s':>12} {'check/s':>10}")
    for name in FAMILIES:
        fam = tasks.get(name)
        levels = list(fam.train_levels if args.levels == "train" else fam.levels)
        for style in fam.styles:
            t0 = time.perf_counter()
            examples = []
            for i in range(args.n):
                p = fam.generate(0, i, levels[i % len(levels)])
                examples.append((p, fam.format_example(p, style)[1]))
            t1 = time.perf_counter()
            for p, completion in examples:
                fam.check_steps(p, completion, style)
                fam.check_answer(p, completion, style)
            t2 = time.perf_counter()
            print(f"{name:16} {style:18} {args.n / (t1 - t0):12,.0f} {args.n / (t2 - t1):10,.0f}")


if __name__ == "__main__":
    main()
