"""One prepared accelerator check: correctness, resume determinism, speed.

    python bench/gpu_check.py [--out DIR] [--quick] [--dry_run] [--sections a,b]
                              [--steps 10] [--budget_s 330] [--max_s 470]

Sections, in this order (priority):

1. ``golden``: the `tiny` config's first 3 losses (float32 matmuls at
   "highest" precision) against the CPU golden values of
   tests/test_training.py, with ``model.scan_layers`` on and off.
2. ``attention``: cuDNN flash attention against the XLA kernel on packed rows
   with GQA in bf16: forward and gradient errors, and each one's time.
3. ``throughput``: the `gpu` config's 303M bf16 model (seq 1024, batch 32):
   compile seconds, tok/s and MFU against ``hardware.peak_flops_by_platform.gpu``
   (989 TFLOP/s dense bf16), with cuDNN attention (``auto``) and with the XLA
   kernel. Goal: MFU >= 45%.
4. ``deterministic_cost``: the 303M model's tok/s in a fresh process with
   ``--xla_gpu_deterministic_ops=true`` against one without (same process
   kind, one after the other): the price of exact resume.
5. ``resume``: is a resumed run's loss curve the uninterrupted run's, bit for
   bit? For each XLA_FLAGS setting (none; ``--xla_gpu_deterministic_ops=true``,
   what ``train.gpu_deterministic`` sets; and, not with --quick,
   ``--xla_gpu_exclude_nondeterministic_ops`` with a persisted autotune cache)
   two fresh processes: the first trains 6 steps straight and 3 steps of a
   second workdir, the second resumes that workdir to 6 (a restart is a new
   process: new compilation, new autotuning). A bf16 model of 4 layers.
6. ``scan_off``: the 303M model with ``model.scan_layers`` off (the `gpu`
   variant turns it on): compile seconds and tok/s.

Each runs in its own try/except and the JSON (``DIR/gpu_check.json``) is
rewritten after each, so a failure keeps what came before. A section (or a
resume setting) that would start after ``--budget_s`` is skipped; at
``--max_s`` a watchdog kills any child, writes the JSON and the summary, and
exits 3: one call ends within 8 minutes. The last line is the summary,
``gpu_check golden_ok=.. attention_fwd_err=.. tok_s=.. mfu=.. ... failed=..``
(``na`` where a section was skipped or failed).

``--quick`` takes 3 timed steps and skips the XLA-kernel throughput, the third
resume setting and ``scan_off``. ``--dry_run`` (CPU) runs every section at toy
sizes in float32 with no time limits, to check the plumbing (cuDNN needs a
GPU: the attention section compares ``dot_product_attention`` instead).

How to run it on a lent machine (four wheels travel: the image lacks grain,
array-record, portpicker and ml_collections) and what it prints:
docs/benchmarks.md, "The accelerator check and GPU determinism".
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# The repository root (tests/test_training.py's GOLDEN). rtt_jax comes from the
# install (or PYTHONPATH=. on a lent machine), train_throughput and batches
# from this script's own directory.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DETERMINISTIC = "--xla_gpu_deterministic_ops=true"
RESUME_SETTINGS = {
    "default": "",
    "deterministic_ops": DETERMINISTIC,
    "exclude_nondeterministic_plus_autotune_cache":
        "--xla_gpu_exclude_nondeterministic_ops=true --xla_gpu_per_fusion_autotune_cache_dir={cache}",
}


GOLDEN_TOLERANCE_REL = 2e-4  # tests/test_training.py's rtol


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
            err = max(abs(a - b) / abs(b) for a, b in zip(got, ref))
            out[f"scan_layers={scan}"] = {"losses": got, "max_rel_err": err,
                                          "ok": err <= GOLDEN_TOLERANCE_REL}
    out["golden_cpu"] = ref
    out["tolerance_rel"] = GOLDEN_TOLERANCE_REL


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
    if args.dry_run:  # float32: XLA:CPU compiles bf16 slowly
        return dataclasses.replace(mc, d_model=64, n_layers=2, n_heads=4, dtype="float32"), 64, 4, cfg
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
        except Exception as e:  # noqa: BLE001 - e.g. out of memory with the XLA kernel: record, go on
            out[key] = {"error": _error(e)}
        print(key, out[key], flush=True)


def _params_m(mc) -> float:
    from flax import nnx
    from rtt_jax.model import Transformer, param_count
    abstract = nnx.eval_shape(lambda: Transformer(mc, nnx.Rngs(params=0)))
    return param_count(nnx.to_pure_dict(nnx.split(abstract)[1])) / 1e6


# ---- fresh processes: XLA_FLAGS are read once, when the backend starts ------------

_RUNNING: list[subprocess.Popen] = []  # the child the watchdog kills at --max_s


def _child(args, role: str, flags: str, **kw) -> dict:
    """Run this script as ``--child role`` under ``XLA_FLAGS=flags``; its JSON reply.
    Its timeout never runs past the hard limit (``--max_s``)."""
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip(),
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", role, "--steps", str(args.steps)]
    cmd += ["--dry_run"] if args.dry_run else []
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    timeout = max(1.0, min(args.child_timeout_s, args.hard_deadline - time.perf_counter()))
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _RUNNING.append(p)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise TimeoutError(f"child {role} killed after {timeout:.0f} s") from None
    finally:
        _RUNNING.remove(p)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        raise RuntimeError(f"child {role} exited {p.returncode}: {(stderr or stdout)[-1500:]}")
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
        if time.perf_counter() > args.deadline:
            out[name] = {"skipped": "time budget spent"}
            continue
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
        except Exception as e:  # noqa: BLE001 - a failed setting is a finding: record, go on
            out[name] = {"flags": flags, "error": _error(e)}
        print(name, out[name], flush=True)


def deterministic_cost(out: dict, args) -> None:
    base = _child(args, "speed", "")
    det = _child(args, "speed", DETERMINISTIC)
    out["without"], out["with_deterministic_ops"] = base, det
    out["slowdown"] = base["tok_s"] / det["tok_s"]


def scan_off(out: dict, args) -> None:
    """The `gpu` config with model.scan_layers off (the variant turns it on):
    compile seconds and tok/s against ``throughput``'s scanned figures."""
    if args.quick:
        out["skipped"] = "--quick"
        return
    mc, seq, batch, cfg = _gpu_model(args)
    out["attention=auto"] = _step_speed(dataclasses.replace(mc, scan_layers=False), seq, batch,
                                        args.steps, cfg.hardware.peak_flops_by_platform.gpu)


# In order of priority: later ones are skipped when the budget is spent.
SECTIONS = {"golden": golden, "attention": attention, "throughput": throughput,
            "deterministic_cost": deterministic_cost, "resume": resume, "scan_off": scan_off}
CHILDREN = {"resume_first": child_resume_first, "resume_second": child_resume_second,
            "speed": child_speed}


def _fmt(x) -> str:
    if x is None:
        return "na"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def summary(result: dict) -> str:
    """The last line: each section's headline figure, ``na`` where it did not
    run or failed (the JSON has the detail and the error)."""
    def get(*keys):
        node = result
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        return node

    golden_ok = [get("golden", f"scan_layers={s}", "ok") for s in (True, False)]
    fields = {
        "golden_ok": None if None in golden_ok else all(golden_ok),
        "attention_fwd_err": get("attention", "fwd_max_abs_err"),
        "tok_s": get("throughput", "attention=auto", "tok_s"),
        "mfu": get("throughput", "attention=auto", "mfu"),
        "mfu_xla_attention": get("throughput", "attention=xla", "mfu"),
        "deterministic_slowdown": get("deterministic_cost", "slowdown"),
        **{f"resume_equal_{name}": get("resume", name, "resumed_equal") for name in RESUME_SETTINGS},
        "mfu_scan_off": get("scan_off", "attention=auto", "mfu"),
    }
    failed = [k for k, v in result.items() if isinstance(v, dict) and
              ("error" in v or any(isinstance(x, dict) and "error" in x for x in v.values()))]
    line = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
    return f"gpu_check {line} failed={','.join(failed) or 'none'}"


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:1500] + "\n" + traceback.format_exc()[-1500:]


def _write(result: dict, path: str) -> None:
    text = json.dumps(result, indent=1, default=str)  # one snapshot, then the file
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _watchdog(result: dict, path: str, max_s: float) -> threading.Timer:
    """At ``max_s`` (a section stuck in a compile or a hung child), record the
    section that was running, write the JSON and the summary, and exit 3: what
    the earlier sections measured is kept whatever happens."""
    def fire():
        for p in list(_RUNNING):
            p.kill()
        running = result.get("running")
        if running:
            result[running]["error"] = f"hard limit: stopped after {max_s:.0f} s (--max_s)"
        for _ in range(3):  # the main thread may be mutating result
            try:
                _write(result, path)
                break
            except RuntimeError:
                time.sleep(0.1)
        print(f"hard limit: stopped after {max_s:.0f} s, wrote {path}", flush=True)
        print(summary(result), flush=True)
        os._exit(3)
    timer = threading.Timer(max_s, fire)
    timer.daemon = True
    timer.start()
    return timer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--steps", type=int, default=10, help="timed steps per window")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dry_run", action="store_true", help="toy sizes on CPU: check the plumbing")
    ap.add_argument("--budget_s", type=float, default=None,
                    help="skip sections (and resume settings) that would start after this many "
                    "seconds (default 330; none with --dry_run)")
    ap.add_argument("--max_s", type=float, default=None,
                    help="hard limit: stop whatever runs, write the JSON and the summary, exit 3 "
                    "(default 470; none with --dry_run)")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--child_timeout_s", type=float, default=150.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    start = time.perf_counter()
    no_limit = float("inf") if args.dry_run else None  # a loaded CPU is slow: check it all
    args.budget_s = args.budget_s if args.budget_s is not None else (no_limit or 330.0)
    args.max_s = args.max_s if args.max_s is not None else (no_limit or 470.0)
    args.deadline, args.hard_deadline = start + args.budget_s, start + args.max_s
    if args.quick:
        args.steps = min(args.steps, 3)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)), flush=True)
        return
    unknown = [n for n in args.sections.split(",") if n not in SECTIONS]
    if unknown:
        sys.exit(f"error: --sections: unknown {unknown}; known: {','.join(SECTIONS)}")
    import jax
    result = {"env": {"devices": [str(d) for d in jax.devices()],
                      "device_kind": jax.devices()[0].device_kind, "backend": jax.default_backend(),
                      "jax": jax.__version__, "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
                      "quick": args.quick, "dry_run": args.dry_run}}
    path = os.path.join(args.out, "gpu_check.json")
    os.makedirs(args.out, exist_ok=True)
    print(json.dumps(result["env"]), flush=True)
    watchdog = _watchdog(result, path, args.max_s) if args.max_s < float("inf") else None
    for name in args.sections.split(","):
        elapsed = time.perf_counter() - start
        if time.perf_counter() > args.deadline:
            result[name] = {"skipped": f"time budget spent ({elapsed:.0f} s > {args.budget_s:.0f} s)"}
        else:
            result["running"] = name
            section: dict = {}
            result[name] = section
            t = time.perf_counter()
            try:
                SECTIONS[name](section, args)
            except Exception as e:  # noqa: BLE001 - keep what the other sections measured
                section["error"] = _error(e)
            section["section_s"] = time.perf_counter() - t
            result.pop("running", None)
        print(name, json.dumps(result[name], default=str), flush=True)
        _write(result, path)
    if watchdog:
        watchdog.cancel()
    result["total_s"] = time.perf_counter() - start
    _write(result, path)
    print(f"wrote {path} in {result['total_s']:.0f} s", flush=True)
    print(summary(result), flush=True)


if __name__ == "__main__":
    main()
