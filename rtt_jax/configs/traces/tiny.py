"""A seconds-long trace build for smoke tests and laptops (see default.py for fields).

    python -m rtt_jax.traces.build --config=configs/traces/tiny.py --out=/tmp/traces_tiny
"""
from __future__ import annotations

from rtt_jax.configs.traces import default


def get_config(arg: str | None = None):
    c = default.get_config(arg)
    c.families = ",".join(default.FAMILIES)
    c.levels = "1-2"
    c.problems_per_level = 4
    c.log_every = 20
    return c
