"""Trace dataset build config: ``python -m rtt_jax.traces.build``.

    python -m rtt_jax.traces.build --config=configs/traces/default.py --out=/tmp/traces \
        --config.problems_per_level=200 --config.styles.addition=column,lee_plain

Fields:

* ``families``: comma-separated names: families of ``rtt_jax.tasks``,
  ``gsm8k`` (problems and human solutions from ``gsm8k_path``) and
  ``rg/<dataset>`` (reasoning-gym, e.g. ``rg/chain_sum``).
* ``levels``: ``""`` for each family's ``train_levels``, or ``"1-3"`` / ``"1,2,5"``
  (levels a family lacks are skipped). GSM8K ignores levels.
* ``problems_per_level``: problems ``0 .. n-1`` of each (family, level), so
  the dataset is a pure function of the config. For GSM8K: lines of the file.
* ``styles.<family>``: comma-separated styles to write (``""``: all styles).
* ``teacher``: ``program`` (the families' solvers) or ``jsonl`` (import the
  trace records in ``jsonl_paths``; ``jsonl_teacher`` relabels their teacher).
* ``filters.*``: ``rtt_jax.traces.filters.FilterConfig`` fields;
  ``filters.require_grounded_steps=False`` keeps traces whose arithmetic is
  right but whose numbers the checker cannot trace (human solutions state
  numbers in prose); wrong arithmetic is still dropped.
* ``noise.*``: rates of ``wrong_step``, ``skipped_step``, ``wrong_answer``
  (exclusive shares, sum <= 1) and the noise ``seed``.
* ``write_tfds``: also write the ArrayRecord TFDS dataset (``split`` names it).
* ``log_every``: progress log line every this many problems.
"""
from __future__ import annotations

import dataclasses

import ml_collections

from rtt_jax.traces.filters import FilterConfig

FAMILIES = ("addition", "subtraction", "multiplication", "division", "gcd_lcm",
            "base_conversion", "expressions", "linear_equation", "word_problem", "logic",
            "counting")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    del arg
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.families = ",".join(FAMILIES)
    c.levels = ""
    c.problems_per_level = 1000
    # Every family we have can be named (modular is not in the default build).
    c.styles = ml_collections.ConfigDict({name: "" for name in FAMILIES + ("gsm8k", "modular")})
    c.teacher = "program"
    c.jsonl_paths = ""
    c.jsonl_teacher = ""
    c.gsm8k_path = ""
    c.filters = ml_collections.ConfigDict(dataclasses.asdict(FilterConfig()))
    c.noise = ml_collections.ConfigDict(dict(wrong_step=0.0, skipped_step=0.0,
                                             wrong_answer=0.0, seed=0))
    c.write_tfds = True
    c.split = "train"
    c.log_every = 5000
    return c
