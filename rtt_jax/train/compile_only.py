"""Ahead-of-time check of a config for its target topology, on this machine.

    python -m rtt_jax.main --mode=compile_only --config=configs/base.py:1b \
        [--config.mesh.fsdp=16] [--config.hardware.hbm_bytes=...]

Lowers and compiles the real train step (``make_train_step``: the same
shardings, donation and microbatching as a run) with abstract inputs only
(``jax.eval_shape`` / ``ShapeDtypeStruct`` with shardings: nothing is
allocated), on a mesh of the target's size, then prints the per-device memory
from ``compiled.memory_analysis()`` and whether it fits the chip's HBM.

Target size: ``config.hardware.device_count``; 0 means the product of
``config.mesh`` when every axis is explicit, else the devices this process has.
Chip: ``config.hardware.chip`` (``HBM_BYTES`` below; ``config.hardware.hbm_bytes``
overrides).

What it compiles for:

* a real TPU topology, when ``chip`` is a TPU, ``config.hardware.topology``
  names one (e.g. ``"v5e:8x8"``) and libtpu is installed
  (``jax.experimental.topologies.get_topology_desc``: compile-only TPU devices,
  no TPU attached needed);
* otherwise N fake CPU devices. Their count must be fixed before jax creates
  its CPU backend, so this sets ``jax_num_cpu_devices`` (the config option
  behind ``--xla_force_host_platform_device_count``, which it overrides) and
  ``jax_platforms=cpu`` before the first jax operation. If the backend is
  already up with too few devices (a config file that ran jax code, a failed
  TPU attempt), the command re-runs itself once in a subprocess with
  ``JAX_NUM_CPU_DEVICES=N JAX_PLATFORMS=cpu`` set; that is the only robust
  way to change the device count of a process. CPU-compiled temporaries are
  an estimate of the TPU's (different fusion, layout and schedule: XLA:CPU
  does not realise remat's savings and may hold FSDP-gathered weights and
  full gradients at once, so it usually overestimates); argument and output
  sizes are exact. The shipped real-size configs use microbatches so that even
  this estimate fits.

Errors are one line (``ConfigError``; rtt_jax.main prints ``error: ...``): a
mesh that does not fit the device count, a batch the batch axes do not divide,
and a config that does not fit the chip's HBM (named, with its per-device total
against the HBM).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import subprocess
import sys

from rtt_jax.config_error import ConfigError

GiB = 1 << 30
# HBM per device (per chip; a v4/v5p megacore chip is one JAX device).
HBM_BYTES = {
    "v4": 32 * GiB, "v5e": 16 * GiB, "v5litepod": 16 * GiB, "v5p": 95 * GiB,
    "v6e": 32 * GiB, "h100": 80 * GiB, "h200": 141 * GiB,
}
TPU_CHIPS = ("v4", "v5e", "v5litepod", "v5p", "v6e")
_CHILD_ENV = "RTT_JAX_COMPILE_ONLY_CHILD"  # set in the re-run: never re-run twice


def _mesh_spec(config) -> dict[str, int]:
    return {k: int(v) for k, v in config.mesh.to_dict().items()}


def target_device_count(config) -> int | None:
    """Devices of the target: hardware.device_count, else the mesh product when
    no axis is -1, else None (use this process's devices)."""
    n = int(config.hardware.get("device_count", 0) or 0)
    if n < 0:
        raise ConfigError(f"config.hardware.device_count={n}: expected >= 1 (0: from the mesh)")
    if n:
        return n
    sizes = list(_mesh_spec(config).values())
    return math.prod(sizes) if sizes and all(s >= 1 for s in sizes) else None


def hbm_bytes(config) -> tuple[int | None, str]:
    """(HBM bytes per device or None if unknown, where the number comes from)."""
    hw = config.hardware
    override = int(hw.get("hbm_bytes", 0) or 0)
    chip = str(hw.get("chip", "") or "").lower()
    if override > 0:
        return override, f"config.hardware.hbm_bytes{f', {chip}' if chip else ''}"
    if chip in HBM_BYTES:
        return HBM_BYTES[chip], chip
    if chip:
        raise ConfigError(f"config.hardware.chip={chip!r}: expected one of {sorted(HBM_BYTES)} "
                          "(or set config.hardware.hbm_bytes)")
    return None, "no chip set (config.hardware.chip / hbm_bytes)"


def _fmt(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _shard_bytes(abstract_tree) -> int:
    import jax
    total = 0
    for leaf in jax.tree.leaves(abstract_tree):
        shape = leaf.sharding.shard_shape(leaf.shape)
        total += math.prod(shape) * leaf.dtype.itemsize
    return total


@dataclasses.dataclass
class Report:
    name: str
    target: str
    mesh: dict
    params: int
    params_bytes: int  # per device
    optimizer_bytes: int  # per device (moments, counts)
    memory: dict | None  # per device, from compiled.memory_analysis()
    hbm: int | None
    hbm_source: str
    why: str | None = None  # why not a TPU topology, when compiled for CPU

    @property
    def total(self) -> int:
        return self.memory["total"] if self.memory else self.params_bytes + self.optimizer_bytes

    @property
    def fits(self) -> bool | None:
        return None if self.hbm is None else self.total <= self.hbm

    def lines(self) -> list[str]:
        mesh = " ".join(f"{k}={v}" for k, v in self.mesh.items())
        out = [f"compile_only: {self.name}",
               f"  compiled for: {self.target}{f' ({self.why})' if self.why else ''}; "
               f"mesh {mesh}",
               f"  params: {self.params:,} ({_count(self.params)})",
               f"  params + optimizer state per device: {_fmt(self.params_bytes + self.optimizer_bytes)}"
               f" (params {_fmt(self.params_bytes)}, optimizer {_fmt(self.optimizer_bytes)})"]
        if self.memory:
            m = self.memory
            out.append("  per-device memory (compiled.memory_analysis()):")
            for key, label in (("argument", "argument"), ("output", "output"),
                               ("alias", "aliased (donated)"), ("temporary", "temporary"),
                               ("generated_code", "generated code"),
                               ("total", "total")):
                out.append(f"    {label:<18} {_fmt(m[key]):>12}")
            out.append("    (total = argument + output - aliased + temporary + generated code)")
            if "CPU" in self.target:
                out.append("  note: compiled for CPU devices: temporaries are an estimate of "
                           "the TPU's (XLA:CPU schedules for speed, not memory, and does not "
                           "realise remat's savings: usually an overestimate); argument and "
                           "output sizes are exact")
        else:
            out.append("  per-device memory: not reported by this backend "
                       "(total below = params + optimizer state)")
        if self.hbm is None:
            out.append(f"  HBM per device: unknown ({self.hbm_source}); fits: unknown")
        else:
            out.append(f"  HBM per device: {_fmt(self.hbm)} ({self.hbm_source}); "
                       f"fits: {'yes' if self.fits else 'NO'} "
                       f"({100 * self.total / self.hbm:.1f}% of HBM)")
        return out


def _too_large(name: str, what: str, total: int, hbm: int, hbm_source: str, target: str) -> ConfigError:
    return ConfigError(f"{name}: does not fit: {what} {_fmt(total)} per device > HBM "
                       f"{_fmt(hbm)} ({hbm_source}) on {target}")


def compile_check(spec, devices=None, name: str = "config", target: str | None = None,
                  why: str | None = None) -> Report:
    """Lower and compile the train step of ``spec`` (the checked config,
    ``config_validation.validate``) on a mesh over ``devices`` (default: all);
    raise ConfigError (one line) if the mesh or batch does not fit the
    devices, or the result does not fit HBM."""
    import jax
    import jax.numpy as jnp
    from rtt_jax.batch_sharding import batch_sharding
    from rtt_jax.model import param_count
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.optimizer import learning_rate_schedule, make_optimizer
    from rtt_jax.train.state import state_layout
    from rtt_jax.train.step import make_train_step

    config, model_cfg = spec.config, spec.model
    devices = list(jax.devices() if devices is None else devices)
    target = target or f"{len(devices)} {devices[0].platform.upper()} devices"
    try:
        shd.rules_dict(config.axis_rules)
        mesh = shd.make_mesh(_mesh_spec(config), devices)
    except ValueError as e:
        raise ConfigError(f"{name}: config.{e} (target: {target})") from None
    batch_ways = mesh.shape["data"] * mesh.shape["fsdp"]
    b = int(config.data.global_batch_size)
    if b % batch_ways:
        raise ConfigError(f"{name}: config.data.global_batch_size={b} is not divisible by the "
                          f"batch axes data x fsdp = {mesh.shape['data']} x {mesh.shape['fsdp']} "
                          f"= {batch_ways} (mesh {dict(mesh.shape)})")
    if model_cfg.attention == "auto" and devices[0].platform != jax.default_backend():
        # "auto" resolves by the default backend; compile for the devices we have.
        model_cfg = dataclasses.replace(model_cfg, attention="xla")

    tc = config.train
    optimizer = make_optimizer(tc)
    layout = state_layout(model_cfg, optimizer, mesh, config.axis_rules, config.seed)
    hbm, hbm_source = hbm_bytes(config)
    params_b = _shard_bytes(layout.abstract["params"])
    opt_b = _shard_bytes(layout.abstract["opt_state"])
    if hbm is not None and params_b + opt_b > hbm:  # hopeless: skip the compile
        raise _too_large(name, "params + optimizer state alone", params_b + opt_b, hbm,
                         hbm_source, target)

    width = int(config.data.seq_len) + 1
    batch_sh = batch_sharding(mesh)
    batch = {k: jax.ShapeDtypeStruct((b, width), jnp.int32, sharding=batch_sh)
             for k in ("tokens", "segment_ids", "positions", "loss_mask")}
    step = make_train_step(layout, optimizer, learning_rate_schedule(tc), tc.microbatches,
                           tc.z_loss)
    compiled = step.lower(layout.abstract, batch).compile()
    stats = compiled.memory_analysis()
    memory = None
    if stats is not None:
        memory = dict(argument=stats.argument_size_in_bytes, output=stats.output_size_in_bytes,
                      alias=stats.alias_size_in_bytes, temporary=stats.temp_size_in_bytes,
                      generated_code=stats.generated_code_size_in_bytes)
        memory["total"] = (memory["argument"] + memory["output"] - memory["alias"]
                           + memory["temporary"] + memory["generated_code"])
    report = Report(name=name, target=target, mesh=dict(mesh.shape),
                    params=param_count(layout.abstract["params"]), params_bytes=params_b,
                    optimizer_bytes=opt_b, memory=memory, hbm=hbm, hbm_source=hbm_source,
                    why=why)
    return report


def config_name(argv) -> str:
    """The --config value and the --config.* overrides, as typed."""
    out, take_next = [], False
    for a in argv[1:]:
        if take_next:
            out.append(a)
            take_next = False
        elif a == "--config":
            take_next = True
        elif a.startswith("--config=") or a.startswith("--config."):
            out.append(a.split("=", 1)[1] if a.startswith("--config=") else a)
    return " ".join(out) or "config"


def _tpu_devices(config, n: int):
    """Compile-only TPU devices of the configured topology, or (None, why not)."""
    hw = config.hardware
    chip, topology = str(hw.get("chip", "")).lower(), str(hw.get("topology", "") or "")
    if os.environ.get(_CHILD_ENV) or chip not in TPU_CHIPS or not topology:
        return None, "no TPU topology configured" if chip in TPU_CHIPS and not topology else None
    if importlib.util.find_spec("libtpu") is None:
        return None, "libtpu not installed, so no TPU topology"
    try:
        from jax.experimental import topologies
        devices = list(topologies.get_topology_desc(topology, "tpu").devices)
    except Exception as e:  # noqa: BLE001 - any failure falls back to CPU, said in the output
        return None, f"TPU topology {topology!r} unavailable ({type(e).__name__}: {str(e)[:120]})"
    if len(devices) != n:
        return None, f"TPU topology {topology!r} has {len(devices)} devices, not {n}"
    return devices, None


def _rerun(argv, n: int) -> int:
    env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(n), JAX_PLATFORMS="cpu")
    env[_CHILD_ENV] = "1"
    sys.stdout.flush()
    return subprocess.run([sys.executable, "-m", "rtt_jax.main", *argv[1:]], env=env).returncode


def main(spec, argv) -> int:
    """CLI body (``rtt_jax.main --mode=compile_only``, given the checked
    config): prints the report; raises ConfigError for a config that cannot
    run on its target."""
    config = spec.config
    name = config_name(argv)
    n = target_device_count(config)
    hbm_bytes(config)  # an unknown chip fails before any compile
    devices, why = (None, None) if n is None else _tpu_devices(config, n)
    import jax
    if devices is not None:
        target = f"{n} TPU devices (topology {config.hardware.topology}, compile-only)"
    else:
        try:
            jax.config.update("jax_platforms", "cpu")
            if n is not None:
                jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # the backend is already up with another count
            pass
        cpu = jax.devices("cpu")
        if n is not None and len(cpu) < n:
            if os.environ.get(_CHILD_ENV):
                raise ConfigError(f"{name}: could not make {n} CPU devices (have {len(cpu)})")
            return _rerun(argv, n)
        devices = cpu[:n] if n is not None else cpu
        target = f"{len(devices)} fake CPU devices"
    report = compile_check(spec, devices, name, target, why)
    print("\n".join(report.lines()), flush=True)
    if report.fits is False:
        what = "compiled total" if report.memory else "params + optimizer state"
        raise _too_large(name, what, report.total, report.hbm, report.hbm_source,
                         report.target)
    return 0
