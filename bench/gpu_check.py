"""One prepared accelerator check: correctness, resume determinism, speed.

    python bench/gpu_check.py [--out DIR] [--quick] [--dry_run] [--budget_s 450]

Sections (each in its own try/except; the JSON is rewritten after each one,
so a failure or a timeout keeps what came before; each section is skipped
once the time budget is spent):

1. ``env``: devices, versions, XLA_FLAGS.
2. ``golden``: the `tiny` config's first 3 losses (float32 matmuls at
   "highest" precision) against the CPU golden values of
   tests/test_training.py, with ``model.scan_layers`` on and off.
3. ``attention``: cuDNN flash attention against the XLA kernel on packed rows
   with GQA in bf16: forward and gradient errors, and each one's time.
4. ``throughput``: the `gpu` config's 303M bf16 model (seq 1024, batch 32):
   compile seconds, tok/s and MFU against ``hardware.peak_flops_by_platform.gpu``
   (989 TFLOP/s dense bf16), with cuDNN attention (``auto``) and with the XLA
   kernel. Goal: MFU >= 45%.
5. ``resume``: is a resumed run's loss curve the uninterrupted run's, bit for
   bit? For each XLA_FLAGS setting (none; ``--xla_gpu_deterministic_ops=true``,
   what ``train.gpu_deterministic`` sets; and, not with --quick,
   ``--xla_gpu_exclude_nondeterministic_ops`` with a persisted autotune cache)
   two fresh processes: the first trains 6 steps straight and 3 steps of a
   second workdir, the second resumes that workdir to 6 (a restart is a new
   process: new compilation, new autotuning). A bf16 model of 4 layers.
6. ``deterministic_cost``: the 303M model's tok/s in a fresh process with
   ``--xla_gpu_deterministic_ops=true`` against one without (same process
   kind, one after the other): the price of exact resume.

``--quick`` takes 3 timed steps and skips the XLA-kernel throughput and the
third resume setting. ``--dry_run`` (CPU) runs every section at toy sizes to
check the plumbing (cuDNN needs a GPU: the attention section compares
``dot_product_attention`` instead). The figures land in ``DIR/gpu_check.json``.

On a lent machine (its image has jax, flax, optax, orbax but not grain or
ml_collections), from the repository root:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl grain==0.2.18 array-record==0.8.6 portpicker ml_collections==1.1.0
    # then, there (carry .whl):
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
        PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --out $OUT
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DETERMINISTIC = "--xla_gpu_deterministic_ops=true"
RESUME_SETTINGS = {
    "default": "",
    "deterministic_ops": DETERMINISTIC,
    "exclude_nondeterministic_plus_autotune_cache":
        "--xla_gpu_exclude_nondeterministic_ops=true --xla_gpu_per_fusion_autotune_cache_dir={cache}",
}


def golden_values() -> list[float]:
    """tests/test_training.py's GOLDEN, read without importing the test module."""
    import ast
    tree = ast.parse(open(os.path.join(ROOT, "tests", "test_training.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "GOLDEN" for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError("GOLDEN not found in tests/test_training.py")


def _losses(workdir: str) -> dict[int, float]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return {r["step"]: r["loss"] for r in map(json.loads, f) if "loss" in r}


def _train(cfg, workdir, stop_at_step=None):
    from rtt_jax.config_validation import validate
    from rtt_jax.train.loop import train
    return train(validate(cfg), workdir, stop_at_step=stop_at_step)


def golden(out: dict, args) -> None:
    import jax
    from rtt_jax.configs.base import get_config
    ref = golden_values()
    with jax.default_matmul_precision("highest"):
        for scan in (True, False):
            cfg = get_config("tiny")
            cfg.train.steps = 3
            cfg.checkpoint.async_save = False
            cfg.model.scan_layers = scan
            wd = tempfile.mkdtemp()
            _train(cfg, wd)
            got = [_losses(wd)[s] for s in (1, 2, 3)]
            out[f"scan_layers={scan}"] = {
                "losses": got, "max_rel_err": max(abs(a - b) / abs(b) for a, b in zip(got, ref))}
    out["golden_cpu"] = ref
    out["tolerance_rel"] = 2e-4  # tests/test_training.py


def _timed(f, *xs, reps: int = 10) -> float:
    import jax
    jax.block_until_ready(f(*xs))
    t = time.perf_counter()
    for _ in range(reps):
        r = f(*xs)
    jax.block_until_ready(r)
    return (time.perf_counter() - t) / reps


def attention(out: dict, args) -> None:
    """cuDNN flash attention against the XLA kernel on packed GQA rows (bf16)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from rtt_jax.model import attention as attn
    from rtt_jax.model.transformer import attention_mask
    rng = np.random.default_rng(0)
    b, t, h, kv, d = (4, 1024, 16, 4, 64) if not args.dry_run else (2, 64, 4, 2, 16)
    q, k, v = (jnp.asarray(rng.normal(size=s), jnp.bfloat16)
               for s in ((b, t, h, d), (b, t, kv, d), (b, t, kv, d)))
    seg = np.repeat(np.arange(1, 9), t // 8)[None].repeat(b, 0)
    mask = attention_mask(jnp.asarray(seg))
    w = jnp.asarray(rng.normal(size=(b, t, h, d)), jnp.float32)
    other = "dot_product_attention" if args.dry_run else "cudnn"
    res = {}
    for impl in ("xla", other):
        fwd = jax.jit(lambda q, k, v, impl=impl: attn.attend(q, k, v, mask, impl))
        loss = lambda q, k, v, impl=impl: jnp.sum(attn.attend(q, k, v, mask, impl).astype(jnp.float32) * w)  # noqa: E731
        grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
        res[impl] = (fwd(q, k, v).astype(jnp.float32), grad(q, k, v))
        out[f"{impl}_fwd_ms"] = 1e3 * _timed(fwd, q, k, v)
        out[f"{impl}_fwd_bwd_ms"] = 1e3 * _timed(grad, q, k, v)
    out["compared"] = f"{other} vs xla, [B,T,H,K,D]={[b, t, h, kv, d]} bf16, 8 segments per row"
    out["fwd_max_abs_err"] = float(jnp.max(jnp.abs(res[other][0] - res["xla"][0])))
    out["grad_max_abs_err"] = [float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
                               for a, b in zip(res[other][1], res["xla"][1])]


def _gpu_model(args):
    """The `gpu` config's model, seq and batch (a toy stand-in under --dry_run)."""
    from rtt_jax.config_validation import model_config
    from rtt_jax.configs.base import get_config
    cfg = get_config("gpu")
    mc = model_config(cfg)
    if args.dry_run:
        return dataclasses.replace(mc, d_model=64, n_layers=2, n_heads=4), 64, 4, cfg
    return mc, cfg.data.seq_len, cfg.data.global_batch_size, cfg


def _step_speed(mc, seq: int, batch: int, steps: int, peak: float) -> dict:
    """Compile seconds, tok/s and MFU of rtt_jax's train step."""
    import train_throughput as tt
    from batches import curriculum_batches
    from rtt_jax.model import train_flops_per_token
    batches = curriculum_batches(batch, seq, 2, variant="gpu")
    t = time.perf_counter()
    timer = tt.JaxTimer(tt.rtt_stepper, mc, batches)
    compile_s = time.perf_counter() - t
    tps = max(timer.window(steps) for _ in range(3)) * batch * seq
    return {"compile_and_first_step_s": compile_s, "tok_s": tps,
            "mfu": train_flops_per_token(mc, seq) * tps / peak}


def throughput(out: dict, args) -> None:
    mc, seq, batch, cfg = _gpu_model(args)
    peak = cfg.hardware.peak_flops_by_platform.gpu
    out["model"] = {"params_M": _params_m(mc), "seq": seq, "batch": batch, "dtype": mc.dtype,
                    "scan_layers": mc.scan_layers, "peak_flops": peak}
    for attention in ("auto",) if args.quick else ("auto", "xla"):
        key = f"attention={attention}"
        try:
            out[key] = _step_speed(dataclasses.replace(mc, attention=attention), seq, batch,
                                   args.steps, peak)
        except Exception as e:  # e.g. out of memory with the XLA kernel: record, go on
            out[key] = {"error": _error(e)}
        print(key, out[key], flush=True)


def _params_m(mc) -> float:
    from flax import nnx
    from rtt_jax.model import Transformer, param_count
    abstract = nnx.eval_shape(lambda: Transformer(mc, nnx.Rngs(params=0)))
    return param_count(nnx.to_pure_dict(nnx.split(abstract)[1])) / 1e6


# ---- fresh processes: XLA_FLAGS are read once, when the backend starts ------------

def _child(args, role: str, flags: str, **kw) -> dict:
    """Run this script as ``--child role`` under ``XLA_FLAGS=flags``; its JSON reply."""
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip(),
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", role, "--steps", str(args.steps)]
    cmd += ["--dry_run"] if args.dry_run else []
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.child_timeout_s)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        raise RuntimeError(f"child {role} exited {p.returncode}: {(p.stderr or p.stdout)[-1500:]}")
    return json.loads(lines[-1])


def _resume_config(args):
    from rtt_jax.configs.base import get_config
    cfg = get_config("tiny")
    if not args.dry_run:  # the gpu config's dtype and attention, at a small size
        cfg.model.update(d_model=512, n_layers=4, n_heads=8, n_kv_heads=0, dtype="bfloat16")
        cfg.data.update(seq_len=256, global_batch_size=16)
    cfg.train.steps = 6
    cfg.checkpoint.update(every_steps=3, async_save=False)
    return cfg


def child_resume_first(args) -> dict:
    cfg = _resume_config(args)
    _train(cfg, os.path.join(args.workdir, "straight"))
    _train(cfg, os.path.join(args.workdir, "resumed"), stop_at_step=3)
    return {"straight": _losses(os.path.join(args.workdir, "straight"))}


def child_resume_second(args) -> dict:
    _train(_resume_config(args), os.path.join(args.workdir, "resumed"))
    return {"resumed": _losses(os.path.join(args.workdir, "resumed"))}


def child_speed(args) -> dict:
    mc, seq, batch, cfg = _gpu_model(args)
    return _step_speed(mc, seq, batch, args.steps, cfg.hardware.peak_flops_by_platform.gpu)


def resume(out: dict, args) -> None:
    names = list(RESUME_SETTINGS)[:2] if args.quick else list(RESUME_SETTINGS)
    for name in names:
        wd = tempfile.mkdtemp()
        flags = RESUME_SETTINGS[name].format(cache=os.path.join(wd, "autotune"))
        try:
            a = _child(args, "resume_first", flags, workdir=wd)["straight"]
            b = _child(args, "resume_second", flags, workdir=wd)["resumed"]
            steps = sorted(a)
            out[name] = {
                "flags": flags, "straight": [a[s] for s in steps],
                "resumed": [b.get(s) for s in steps],
                "resumed_equal": all(a[s] == b.get(s) for s in steps),
                "max_rel_diff": max(abs(a[s] - b[s]) / abs(a[s]) for s in steps if s in b)}
        except Exception as e:
            out[name] = {"flags": flags, "error": _error(e)}
        print(name, out[name], flush=True)


def deterministic_cost(out: dict, args) -> None:
    base = _child(args, "speed", "")
    det = _child(args, "speed", DETERMINISTIC)
    out["without"], out["with_deterministic_ops"] = base, det
    out["slowdown"] = base["tok_s"] / det["tok_s"]


SECTIONS = {"golden": golden, "attention": attention, "throughput": throughput,
            "resume": resume, "deterministic_cost": deterministic_cost}
CHILDREN = {"resume_first": child_resume_first, "resume_second": child_resume_second,
            "speed": child_speed}


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:1500] + "\n" + traceback.format_exc()[-1500:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--steps", type=int, default=10, help="timed steps per window")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dry_run", action="store_true", help="toy sizes on CPU: check the plumbing")
    ap.add_argument("--budget_s", type=float, default=450.0,
                    help="skip sections that start after this many seconds")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--child_timeout_s", type=float, default=240.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.steps = min(args.steps, 3)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)), flush=True)
        return
    start = time.perf_counter()
    import jax
    result = {"env": {"devices": [str(d) for d in jax.devices()],
                      "device_kind": jax.devices()[0].device_kind, "backend": jax.default_backend(),
                      "jax": jax.__version__, "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
                      "quick": args.quick, "dry_run": args.dry_run}}
    path = os.path.join(args.out, "gpu_check.json")
    os.makedirs(args.out, exist_ok=True)
    print(json.dumps(result["env"]), flush=True)
    for name in args.sections.split(","):
        elapsed = time.perf_counter() - start
        if elapsed > args.budget_s:
            result[name] = {"skipped": f"time budget spent ({elapsed:.0f} s > {args.budget_s:.0f} s)"}
        else:
            result[name] = {}
            t = time.perf_counter()
            try:
                SECTIONS[name](result[name], args)
            except Exception as e:  # keep what the other sections measured
                result[name]["error"] = _error(e)
            result[name]["section_s"] = time.perf_counter() - t
        print(name, json.dumps(result[name], default=str), flush=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=1, default=str)
    result["total_s"] = time.perf_counter() - start
    with open(path, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(f"wrote {path} in {result['total_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
