"""Train state created already sharded: abstract shapes -> shardings -> jit(init).

The state is a plain pytree ``{"params", "opt_state", "step"}``; ``params`` is
the NNX model's pure-dict state, so optax, orbax and jit see ordinary arrays.
The NNX graph definition is kept apart and merged back inside jitted
functions (tracing cost only), per docs/design.md, "The hot loop is pure JAX".
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rtt_jax.model import ModelConfig, Transformer
from rtt_jax.train import sharding as shd


@dataclasses.dataclass
class StateLayout:
    """Everything needed to build, shard and restore a train state."""

    graphdef: Any
    abstract: Any  # pytree of ShapeDtypeStruct with .sharding set
    shardings: Any  # matching pytree of NamedSharding
    mesh: Mesh

    def merge(self, params):
        return nnx.merge(self.graphdef, params)


def _param_logical_specs(abs_state):
    specs = nnx.to_pure_dict(nnx.get_partition_spec(abs_state))
    return jax.tree.map(lambda s: s if isinstance(s, P) else P(), specs,
                        is_leaf=lambda x: isinstance(x, P) or x is None)


def _opt_state_shardings(abs_opt_state, param_shardings, mesh: Mesh):
    """Optimizer moments mirror their parameter's sharding; scalars replicate.

    optax states embed the params tree (e.g. ``mu``), so a leaf whose key-path
    ends with a parameter's key-path and has its shape takes that sharding.
    """
    by_path = {}
    for path, s in jax.tree_util.tree_flatten_with_path(param_shardings)[0]:
        by_path[tuple(path)] = s

    def one(path, leaf):
        path = tuple(path)
        for start in range(len(path)):
            s = by_path.get(path[start:])
            if s is not None:
                return s
        return NamedSharding(mesh, P())
    return jax.tree_util.tree_map_with_path(one, abs_opt_state)


def _model_init(model_cfg: ModelConfig, seed: int):
    model = Transformer(model_cfg, nnx.Rngs(params=seed))
    _, state = nnx.split(model)
    return nnx.to_pure_dict(state)


def state_layout(model_cfg: ModelConfig, optimizer: optax.GradientTransformation,
                 mesh: Mesh, axis_rules, seed: int = 0) -> StateLayout:
    rules = shd.rules_dict(axis_rules)
    abs_model = nnx.eval_shape(lambda: Transformer(model_cfg, nnx.Rngs(params=seed)))
    graphdef, abs_nnx_state = nnx.split(abs_model)
    abs_params = nnx.to_pure_dict(abs_nnx_state)
    param_sh = shd.tree_shardings(_param_logical_specs(abs_nnx_state), abs_params, rules, mesh)
    abs_opt = jax.eval_shape(optimizer.init, abs_params)
    shardings = {
        "params": param_sh,
        "opt_state": _opt_state_shardings(abs_opt, param_sh, mesh),
        "step": NamedSharding(mesh, P()),
    }
    abstract_plain = {"params": abs_params, "opt_state": abs_opt,
                      "step": jax.ShapeDtypeStruct((), jnp.int32)}
    abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                            abstract_plain, shardings)
    return StateLayout(graphdef=graphdef, abstract=abstract, shardings=shardings, mesh=mesh)


def init_state(layout: StateLayout, model_cfg: ModelConfig,
               optimizer: optax.GradientTransformation, seed: int):
    """Initialise directly into the layout's shardings (no host round trip)."""
    def init():
        params = _model_init(model_cfg, seed)
        return {"params": params, "opt_state": optimizer.init(params),
                "step": jnp.zeros((), jnp.int32)}
    return jax.jit(init, out_shardings=layout.shardings)()
