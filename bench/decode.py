"""Decode throughput: the KV-cache sampler vs full recomputation, side by side.

    python bench/decode.py [--batch 16] [--prompt 32] [--new 256] [--repeats 3]

Both paths are ``rtt_jax.model.sampler.Sampler`` programs (one jit each, a
``while_loop`` over the new tokens, same buckets and sampling), differing only
in how each step's logits are computed:

* ``kv``: prefill once, then one token per row per step against the KV cache;
* ``recompute``: every step reruns ``Transformer.__call__`` on the whole
  [batch, prompt + new] sequence (the naive reference).

Greedy decoding with the stop rules off, so every row produces exactly
``--new`` tokens in both. Each path is compiled and warmed with 2 new tokens
first (``max_new_tokens`` is traced, so that is the same program); the best of
``--repeats`` (kv) and ``--recompute-repeats`` timed runs is kept. Model:
d=128, 4 layers, 4 heads (2 kv heads), byte vocabulary. The last line is
``kv_vs_recompute=<ratio>``.
"""
from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from flax import nnx

from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.model import ModelConfig, Transformer
from rtt_jax.model.sampler import Sampler, full_recompute_generate

CFG = ModelConfig(vocab_size=ByteTokenizer.vocab_size, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2)


def _timed(fn, repeats: int) -> tuple[float, list]:
    fn(2)  # compile + warm up (same program: max_new_tokens is traced)
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(None)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prompt", type=int, default=32, help="prompt tokens, BOS included")
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="timed kv runs (best kept)")
    ap.add_argument("--recompute-repeats", type=int, default=1,
                    help="timed recompute runs (each is ~40x longer than a kv run)")
    args = ap.parse_args(argv)

    graphdef, state = nnx.split(Transformer(CFG, nnx.Rngs(params=0)))
    params = jax.device_put(nnx.to_pure_dict(state))
    tok = ByteTokenizer()
    max_len = args.prompt + args.new
    sampler = Sampler(graphdef, params, tok, CFG, max_len=max_len, max_batch=args.batch)
    rng = np.random.default_rng(0)
    prompts = [np.concatenate([[tok.bos_id], rng.integers(3, tok.vocab_size, args.prompt - 1)])
               for _ in range(args.batch)]
    kw = dict(stop_on_eos=False)
    print(f"device={jax.devices()[0].device_kind} batch={args.batch} prompt={args.prompt} "
          f"new={args.new} max_len={max_len} model=d{CFG.d_model}xL{CFG.n_layers}")

    results = {}
    for name, gen, repeats in (
            ("kv", sampler.generate_tokens, args.repeats),
            ("recompute", lambda p, n, **k: full_recompute_generate(sampler, p, n, **k),
             args.recompute_repeats)):
        secs, out = _timed(lambda n, gen=gen: gen(prompts, n or args.new, **kw), repeats)
        assert all(len(t) == args.new for t in out)
        results[name] = (args.batch * args.new / secs, out)
        print(f"{name:>9}: {secs:8.3f} s  {results[name][0]:10.1f} tok/s")
    same = np.mean([np.array_equal(a, b) for a, b in zip(results["kv"][1], results["recompute"][1])])
    print(f"rows with identical greedy tokens: {same:.0%}")
    print(f"kv_vs_recompute={results['kv'][0] / results['recompute'][0]:.1f}")


if __name__ == "__main__":
    main()
