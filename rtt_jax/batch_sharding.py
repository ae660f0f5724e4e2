"""Where the rows of a batch live on the mesh: split over ``data`` x ``fsdp``.

The one convention that the train step (``train/``) and the KV-cache sampler
(``model/sampler.py``) share, so neither imports the other. A leaf module:
it imports only JAX.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

BATCH_AXES = ("data", "fsdp")


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows split over the batch axes, everything else whole."""
    return NamedSharding(mesh, P(BATCH_AXES))


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble a global sharded batch from this process's rows (last pipeline step)."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
