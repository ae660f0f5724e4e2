"""Train states across ``model.scan_layers``: stacked and per-layer block trees.

With ``scan_layers`` the blocks' parameters are one tree of ``[layers, ...]``
arrays (``blocks.attn.wq``); without it, one tree per layer
(``blocks.0.attn.wq``). optax's states mirror the params (``mu``, ``nu``), so
every ``blocks`` subtree of a train state changes the same way. The numbers
are the same either way, only arranged differently, so ``Checkpointer``
restores a step saved under the other setting by restoring (and verifying) it
as it was saved and converting it here: a workdir trained unrolled resumes
scanned and the other way round, and evaluation reads either.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P


def _has_blocks(x) -> bool:
    return isinstance(x, dict) and "blocks" in x


def _stacked(blocks: dict) -> bool:
    return not all(isinstance(k, int) for k in blocks)


def scanned(tree) -> bool | None:
    """Whether ``tree``'s blocks are stacked (None: no ``blocks`` in it)."""
    found = [x for x in jax.tree.leaves(tree, is_leaf=_has_blocks) if _has_blocks(x)]
    return _stacked(found[0]["blocks"]) if found else None


def _spec(sharding, rank: int) -> tuple:
    spec = tuple(sharding.spec)
    return spec + (None,) * (rank - len(spec))


def _layer(a, i: int):
    """Layer ``i`` of a stacked leaf (an array, or a ShapeDtypeStruct)."""
    if isinstance(a, jax.ShapeDtypeStruct):
        sh = a.sharding
        if isinstance(sh, NamedSharding):
            sh = NamedSharding(sh.mesh, P(*_spec(sh, len(a.shape))[1:]))
        return jax.ShapeDtypeStruct(a.shape[1:], a.dtype, sharding=sh)
    return a[i]


def _stack(*layers):
    a = layers[0]
    if isinstance(a, jax.ShapeDtypeStruct):
        sh = a.sharding
        if isinstance(sh, NamedSharding):
            sh = NamedSharding(sh.mesh, P(None, *_spec(sh, len(a.shape))))
        return jax.ShapeDtypeStruct((len(layers), *a.shape), a.dtype, sharding=sh)
    return jnp.stack(layers)


def convert(tree: Any, to_scanned: bool) -> Any:
    """``tree`` (a state, params, or their abstract shapes) with every
    ``blocks`` subtree stacked (``to_scanned``) or split per layer."""
    def one(x):
        if not _has_blocks(x) or _stacked(x["blocks"]) == to_scanned:
            return x
        b = x["blocks"]
        if to_scanned:
            b = jax.tree.map(_stack, *[b[i] for i in sorted(b)])
        else:
            n = jax.tree.leaves(b)[0].shape[0]
            b = {i: jax.tree.map(lambda a, i=i: _layer(a, i), b) for i in range(n)}
        return {**x, "blocks": b}
    return jax.tree.map(one, tree, is_leaf=_has_blocks)


def setting(stacked: bool) -> str:
    return f"model.scan_layers={stacked}"


__all__ = ["convert", "scanned", "setting"]
