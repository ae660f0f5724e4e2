"""Print a short summary of a run's metrics.jsonl: the loss curve in a few rows.

    python -m rtt_jax.train.summary WORKDIR
"""
from __future__ import annotations

import sys

from rtt_jax.run_files import read_metrics


def summarize(rows: list[dict], points: int = 8) -> str:
    rows = [r for r in rows if "loss" in r]  # eval rows carry eval/... keys only
    if not rows:
        return "no metrics logged"
    picks = sorted({rows[round(i * (len(rows) - 1) / (points - 1))]["step"] for i in range(points)})
    by_step = {r["step"]: r for r in rows}
    lines = [f"{'step':>7}  {'loss':>8}  {'tok/s':>9}"]
    for s in picks:
        r = by_step[s]
        lines.append(f"{s:>7}  {r['loss']:>8.4f}  {r.get('tokens_per_sec', 0):>9,.0f}")
    first, last = rows[0]["loss"], rows[-1]["loss"]
    lines.append(f"loss {first:.4f} -> {last:.4f} ({'falling' if last < first else 'NOT falling'})")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m rtt_jax.train.summary WORKDIR", file=sys.stderr)
        return 2
    try:
        print(summarize(read_metrics(argv[1])))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
