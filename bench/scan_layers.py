"""Compile time and step time of the train step, layers scanned against unrolled.

    python bench/scan_layers.py [--layers 2,12,24] [--rounds 3] [--steps 3]

For each depth, builds rtt_jax's train step (d=128, 4 heads, seq 128, batch
8: small, so that 24 layers stay cheap on a CPU) with ``model.scan_layers``
off and on, and reports the seconds to lower and compile it (CPU seconds of
this process, and wall) and its step time (alternating rounds, median).
Prints one line per depth, then ``scan_vs_unrolled_step=<min ratio>``
(unrolled step time over scanned: above 1, scanning is faster).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import jax

import train_throughput as tt
from batches import curriculum_batches
from rtt_jax.batch_sharding import global_batch
from rtt_jax.model import ModelConfig
from rtt_jax.train.state import init_state


class Built:
    """One compiled train step, with its compile time and a timing window."""

    def __init__(self, cfg, batches):
        layout, jitted, mesh = tt.rtt_train_step(cfg)
        placed = [global_batch(b, mesh) for b in batches]
        wall, cpu = time.perf_counter(), time.process_time()
        self.step = jitted.lower(layout.abstract, placed[0]).compile()
        self.compile_wall, self.compile_cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.state = init_state(layout, cfg, tt._optimizer(), 0)
        self.batches = placed
        self.state, out = self.step(self.state, placed[0])
        jax.block_until_ready(out)

    def window(self, steps: int) -> tuple[float, float]:
        """(wall, CPU) seconds per step over ``steps`` steps; CPU seconds are
        the whole process's, the steadier figure on a shared machine."""
        t, c = time.perf_counter(), time.process_time()
        for i in range(steps):
            self.state, out = self.step(self.state, self.batches[(i + 1) % len(self.batches)])
        jax.block_until_ready(out)
        return (time.perf_counter() - t) / steps, (time.process_time() - c) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="2,12,24")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    seq, batch = 128, 8
    batches = curriculum_batches(batch, seq, 2)
    ratios = []
    for n in map(int, args.layers.split(",")):
        base = ModelConfig(vocab_size=384, d_model=128, n_layers=n, n_heads=4)
        built = {scan: Built(dataclasses.replace(base, scan_layers=scan), batches)
                 for scan in (False, True)}
        times = {scan: [] for scan in built}
        for _ in range(args.rounds):
            for scan, b in built.items():
                times[scan].append(b.window(args.steps))
        wall = {scan: statistics.median(w for w, _ in t) for scan, t in times.items()}
        cpu = {scan: statistics.median(c for _, c in t) for scan, t in times.items()}
        ratios.append(wall[False] / wall[True])
        print(f"layers={n:>2}  compile s (cpu/wall): unrolled {built[False].compile_cpu:.1f}/"
              f"{built[False].compile_wall:.1f}  scanned {built[True].compile_cpu:.1f}/"
              f"{built[True].compile_wall:.1f}   step ms (wall/cpu): unrolled "
              f"{1e3 * wall[False]:.1f}/{1e3 * cpu[False]:.1f}  scanned {1e3 * wall[True]:.1f}/"
              f"{1e3 * cpu[True]:.1f}  (unrolled/scanned wall {ratios[-1]:.3f}, "
              f"cpu {cpu[False] / cpu[True]:.3f})", flush=True)
    print(f"scan_vs_unrolled_step={min(ratios):.3f}")


if __name__ == "__main__":
    main()
