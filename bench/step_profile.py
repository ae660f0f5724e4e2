"""Where the train step's time goes, by kind of op (jax.profiler, XLA:CPU).

    python bench/step_profile.py [--size demo] [--steps 5] [--top 15] [--model '{"scan_layers": true}']

Traces ``--steps`` steps of rtt_jax's train step at a ``bench/train_throughput``
shape, sums each XLA op's time from the trace (ops on the 2 cores overlap, so
the sum exceeds the wall time), and groups the ops:

* ``matmul``: dots, and the library fusions built around them (YNNPACK);
* ``scores``: other ops over the [B, heads, T, T] attention scores (mask bias,
  softmax passes);
* ``transpose``: copies that only move data;
* ``other``: every other elementwise or reduction fusion.

The last line is ``matmul_share=<fraction> floor_ms=<wall x matmul share>``:
the step time if everything but the matmuls were free, the floor that no
fusion work can beat. Compare it with nanoGPT's step time from
``bench/train_throughput.py --torch``.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import gzip
import json
import re
import tempfile


import jax

import train_throughput as tt
from batches import curriculum_batches
from rtt_jax.batch_sharding import global_batch


def _kind(name: str, shape: str, seq: int) -> str:
    if name.startswith(("dot", "ynn_fusion", "xnn_fusion")):
        return "matmul"
    if f"{seq},{seq}]" in shape:
        return "scores"
    if name.startswith(("copy", "transpose")):
        return "transpose"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="demo", choices=sorted(tt.SIZES))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--model", default="{}", help="JSON of ModelConfig fields to override")
    args = ap.parse_args()
    cfg, seq, batch = tt.SIZES[args.size]
    cfg = dataclasses.replace(cfg, **json.loads(args.model))
    batches = curriculum_batches(batch, seq, 4)
    timer = tt.JaxTimer(tt.rtt_stepper, cfg, batches)
    wall_ms = 1e3 / max(timer.window(args.steps) for _ in range(3))
    trace_dir = tempfile.mkdtemp()
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
        timer.window(args.steps)
    events = json.load(gzip.open(glob.glob(f"{trace_dir}/**/*.json.gz", recursive=True)[0]))
    per_op = collections.Counter()
    for e in events["traceEvents"]:
        if e.get("ph") == "X" and not e["name"].startswith(("$", "Thunk", "end:")):
            per_op[e["name"]] += e["dur"] / 1e3 / args.steps
    # Output shapes of the ops, from the compiled step's HLO.
    layout, jitted, mesh = tt.rtt_train_step(cfg)
    text = jitted.lower(layout.abstract, global_batch(batches[0], mesh)).compile().as_text()
    shapes = dict(re.findall(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ", text, re.M))
    kinds = collections.Counter()
    for name, ms in per_op.items():
        kinds[_kind(name, shapes.get(name, ""), seq)] += ms
    total = sum(kinds.values())
    print(f"{args.size}: d={cfg.d_model} L={cfg.n_layers} seq={seq} batch={batch}  "
          f"wall {wall_ms:.1f} ms/step, op time summed over threads {total:.1f} ms/step")
    for kind, ms in kinds.most_common():
        print(f"  {kind:>9}: {ms:7.1f} ms  {ms / total:6.1%}")
    print("slowest ops:")
    for name, ms in per_op.most_common(args.top):
        print(f"  {ms:7.2f} ms  {name:32s} {shapes.get(name, '')}")
    share = kinds["matmul"] / total
    print(f"matmul_share={share:.3f} floor_ms={wall_ms * share:.1f}")


if __name__ == "__main__":
    main()
