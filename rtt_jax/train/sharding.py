"""Device mesh and logical-axis -> mesh-axis sharding rules.

The model names its parameter axes logically (``embed``, ``mlp``, ...); the
config's ``axis_rules`` decide where each lands on the mesh (``data``,
``fsdp``, ``tensor``). Changing parallelism is a config edit, never a model
edit. Where batch rows go is ``rtt_jax.batch_sharding`` (shared with the
sampler).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from rtt_jax.config_error import ConfigError

MESH_AXES = ("data", "fsdp", "tensor")


def mesh_shape(spec: dict[str, int], n_devices: int) -> tuple[int, ...]:
    """Resolve a {data, fsdp, tensor} spec where one axis may be -1 (the rest)."""
    unknown = set(spec) - set(MESH_AXES)
    if unknown:
        raise ValueError(f"mesh: unknown axes {sorted(unknown)}; expected {MESH_AXES}")
    sizes = [int(spec.get(a, 1)) for a in MESH_AXES]
    if sizes.count(-1) > 1:
        raise ValueError(f"mesh: at most one axis may be -1, got {dict(zip(MESH_AXES, sizes))}")
    if any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"mesh: axis sizes must be positive or -1, got {dict(zip(MESH_AXES, sizes))}")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if n_devices % known:
            raise ValueError(f"mesh: {n_devices} devices are not divisible by the fixed axes (product {known})")
        sizes[sizes.index(-1)] = n_devices // known
    if math.prod(sizes) != n_devices:
        raise ValueError(f"mesh: {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices, "
                         f"but {n_devices} are available")
    return tuple(sizes)


def make_mesh(spec: dict[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
    devices = list(jax.devices() if devices is None else devices)
    shape = mesh_shape(dict(spec), len(devices))
    return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * 3, devices=devices)


def rules_dict(axis_rules: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """``axis_rules`` as {logical name: mesh axes}. ``layers`` (the stacked
    axis of ``model.scan_layers``) defaults to None, so rules written before
    it existed still apply: every device holds all layers of its shard."""
    rules = {"layers": None}
    for rule in axis_rules:
        if len(rule) != 2:
            raise ValueError(f"axis_rules: each rule is (logical_name, mesh_axes), got {rule!r}")
        name, target = rule
        targets = target if isinstance(target, (tuple, list)) else (target,)
        for t in targets:
            if t is not None and t not in MESH_AXES:
                raise ValueError(f"axis_rules: {name!r} maps to unknown mesh axis {t!r}; expected {MESH_AXES}")
        rules[name] = tuple(target) if isinstance(target, list) else target
    return rules


def logical_to_mesh_spec(logical: Sequence[str | None], rules: dict[str, Any], mesh: Mesh,
                         shape: Sequence[int] | None = None) -> P:
    """Map logical axis names to a mesh PartitionSpec.

    A mesh axis is used at most once per array, size-1 mesh axes are dropped,
    and an array dimension that the mesh axes do not divide is replicated, so
    odd shapes (e.g. a small vocab) never fail to shard.
    """
    used: set[str] = set()
    out = []
    for dim, name in enumerate(logical):
        if name is None:
            out.append(None)
            continue
        if name not in rules:
            raise ValueError(f"axis_rules: no rule for logical axis {name!r}")
        target = rules[name]
        axes = [a for a in (target if isinstance(target, tuple) else (target,))
                if a is not None and a not in used and mesh.shape[a] > 1]
        size = math.prod(mesh.shape[a] for a in axes) if axes else 1
        if shape is not None and shape[dim] % size:
            axes = []
        used.update(axes)
        out.append(None if not axes else axes[0] if len(axes) == 1 else tuple(axes))
    return P(*out)


def tree_shardings(logical_specs, abstract_tree, rules: dict[str, Any], mesh: Mesh):
    """NamedShardings for a pytree from a matching pytree of logical PartitionSpecs."""
    def one(spec, leaf):
        return NamedSharding(mesh, logical_to_mesh_spec(tuple(spec), rules, mesh, leaf.shape))
    return jax.tree.map(one, logical_specs, abstract_tree,
                        is_leaf=lambda x: isinstance(x, P))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def run_mesh(config, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The mesh of ``config.mesh`` over ``devices`` (default: all), with
    ``config.axis_rules`` checked; a bad one is a ``ConfigError`` naming the field."""
    try:
        rules_dict(config.axis_rules)
        return make_mesh(config.mesh.to_dict(), devices)
    except ValueError as e:  # messages start with "mesh:" / "axis_rules:"
        raise ConfigError(f"config.{e}") from None
