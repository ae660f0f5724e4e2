"""Checksums of a train state, computed on the devices that hold it.

Why on device, and why a sum: a checkpoint must be verified on restore even when
it is restored onto another mesh, another device count or another number of
hosts (tests/test_training.py restores data=8 onto fsdp=4 x tensor=2 and onto
one device). A hash of each process's host bytes would be tied to the shards of
the mesh that wrote it, and would need a device->host copy of the whole state at
every save. Here each element contributes ``fmix32(word + fmix32(index ^ seed))``
(murmur3's finaliser, a bijection on uint32) and a leaf's checksum is the sum of
its elements' contributions modulo 2**32, in two lanes with different seeds (64
bits). Integer addition modulo 2**32 is associative and commutative, so the sum
is the same for any sharding and any reduction order: XLA computes partial sums
on each device and all-reduces them, which is correct on many hosts by
construction, and every process reads the same replicated answer. No array
leaves the devices; the cost is one elementwise pass over the state and a tiny
all-reduce per save (and at restore). Leaves of the same shape, width and
sharding (a weight and its two Adam moments) share the index term, so it is
traced and computed once per group.

A change to any one element changes its contribution (bijection), so it is
always detected; several changes cancel with probability about 2**-64. This is a
check against damage (flipped bits, truncated or missing files read back as
other values), not against an adversary.

``data_checksum`` covers the JSON item (curriculum position, iterator state):
sha256 of its canonical JSON text.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

_SEEDS = (0x9E3779B9, 0x7F4A7C15)
_U13, _U16 = np.uint32(13), np.uint32(16)
_M1, _M2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)


def _fmix32(h):
    """murmur3's 32-bit finaliser (lax ops: cheap to trace for many leaves)."""
    h = lax.bitwise_xor(h, lax.shift_right_logical(h, _U16))
    h = lax.mul(h, _M1)
    h = lax.bitwise_xor(h, lax.shift_right_logical(h, _U13))
    h = lax.mul(h, _M2)
    return lax.bitwise_xor(h, lax.shift_right_logical(h, _U16))


def _words(x) -> jax.Array:
    """The leaf's bits as uint32 words (16-bit and 8-bit types widened)."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
        return lax.convert_element_type(x, jnp.uint32)
    size = jnp.dtype(x.dtype).itemsize
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[size]
    w = lax.bitcast_convert_type(x, unsigned)  # 8 bytes: a trailing dim of 2 words
    return w if unsigned == jnp.uint32 else lax.convert_element_type(w, jnp.uint32)


def _index_mixes(shape) -> list:
    """Per lane, ``fmix32(flat index ^ seed)`` over ``shape``. The flat index is
    built from per-dimension iotas, so each shard makes its own part."""
    index = None
    stride = 1
    for d in reversed(range(len(shape))):
        term = lax.broadcasted_iota(jnp.uint32, shape, d)
        if stride != 1:
            term = lax.mul(term, np.uint32(stride % 2**32))
        index = term if index is None else lax.add(index, term)
        stride *= shape[d]
    if index is None:
        index = jnp.zeros((), jnp.uint32)
    return [_fmix32(lax.bitwise_xor(index, np.uint32(seed))) for seed in _SEEDS]


def _leaf_sums(w, mixes) -> jax.Array:
    lanes = []
    for mix in mixes:
        mixed = _fmix32(lax.add(w, mix))
        lanes.append(lax.reduce(mixed, np.uint32(0), lax.add, tuple(range(mixed.ndim))))
    return jnp.stack(lanes)


def _all_sums(leaves, groups):
    """Leaves of one (shape, dtype width, sharding) group share their index mixes
    (params and both Adam moments of a weight): traced and computed once."""
    mixes, out = {}, []
    for x, group in zip(leaves, groups):
        w = _words(x)
        if group not in mixes:
            mixes[group] = _index_mixes(w.shape)
        out.append(_leaf_sums(w, mixes[group]))
    return jnp.stack(out)


def _replicated_out(leaves):
    for leaf in leaves:
        if isinstance(getattr(leaf, "sharding", None), NamedSharding):
            return NamedSharding(leaf.sharding.mesh, P())
    return None


_JITTED: dict = {}


def state_checksums(state: Any) -> dict[str, str]:
    """``{leaf key path: 16 hex digits}`` for every array leaf of ``state``.

    Called by every process (the computation is SPMD over the state's mesh).
    Blocks only until the hash itself is computed; nothing but 8 bytes per leaf
    comes back to the host.
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    keys = [jax.tree_util.keystr(path) for path, _ in flat]
    leaves = [leaf for _, leaf in flat]
    out = _replicated_out(leaves)
    signature = [(tuple(np.shape(x)), jnp.dtype(x.dtype).itemsize, getattr(x, "sharding", None))
                 for x in leaves]
    ids: dict = {}
    groups = tuple(ids.setdefault(sig, len(ids)) for sig in signature)
    fn = _JITTED.get((out, groups))
    if fn is None:
        fn = _JITTED[(out, groups)] = jax.jit(lambda ls: _all_sums(ls, groups),
                                              out_shardings=out)
    sums = fn(leaves)
    host = np.asarray(sums.addressable_shards[0].data)  # replicated: every process has it
    return {k: f"{int(a):08x}{int(b):08x}" for k, (a, b) in zip(keys, host)}


def data_checksum(data_state: dict) -> str:
    """sha256 of the data item's canonical JSON (what JsonSave writes and reads back)."""
    text = json.dumps(data_state, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def mismatches(expected: dict[str, str], got: dict[str, str]) -> list[str]:
    """Key paths whose checksum differs, is missing, or is unexpected."""
    return sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
