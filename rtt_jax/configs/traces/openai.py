"""Traces sampled from an OpenAI-compatible server (see default.py for the other fields).

    python -m rtt_jax.traces.build --config=configs/traces/openai.py --out=/tmp/traces_oai \
        --config.teacher.base_url=http://127.0.0.1:8000/v1 --config.teacher.model=NAME

``teacher`` fields (``rtt_jax.traces.openai_teacher``; docs/openai_teacher.md):

* ``base_url`` (ending in ``/v1``), ``model``, ``api``: ``chat`` (``/chat/completions``)
  or ``completions`` (``/completions``).
* ``api_key_env``: the environment variable holding the key (unset is fine for
  local servers); the key itself is never written to the config or card.
* ``k`` samples per (problem, style), ``temperature``, ``max_tokens``.
* ``system_prompt``: template with ``{family}``, ``{style}``, ``{final_line}``,
  ``{example}``; ``system_prompts.<family>`` overrides it for one family.
* ``concurrency``, ``max_retries``, ``backoff_s``, ``timeout_s``.
* ``cache_dir``: reply cache (``""``: ``OUT/openai_cache``).
* ``prompt``: ``instructed`` (a system prompt with an example, for chat
  models) or ``plain`` (the problem prompt alone, for a model trained on our
  formats, e.g. ``rtt_jax.serve``).
* ``style_label``: ``prompted`` (records carry the prompted style and are
  checked in it) or ``model`` (label ``model``; any of the family's styles passes).

``styles.<family>`` picks the prompted styles, as for the program teacher.
"""
from __future__ import annotations

import ml_collections

from rtt_jax.configs.traces import default
from rtt_jax.traces.openai_teacher import DEFAULT_SYSTEM_PROMPT

FAMILIES = ("subtraction", "multiplication", "linear_equation", "word_problem", "modular")


def get_config(arg: str | None = None):
    c = default.get_config(arg)
    c.families = ",".join(FAMILIES)
    c.levels = "1-2"
    c.problems_per_level = 4
    c.log_every = 20
    c.write_tfds = False
    c.styles = ml_collections.ConfigDict(
        {name: "" for name in default.FAMILIES + ("gsm8k", "modular")})
    del c["teacher"]  # default.py's teacher is a name; here it is a block
    c.teacher = ml_collections.ConfigDict(dict(
        kind="openai", base_url="http://127.0.0.1:8000/v1", model="rtt", api="chat",
        api_key_env="OPENAI_API_KEY", k=2, temperature=0.7, max_tokens=512,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        system_prompts={name: "" for name in default.FAMILIES + ("gsm8k", "modular")},
        concurrency=8, max_retries=5, backoff_s=1.0, timeout_s=60.0, cache_dir="",
        style_label="prompted", prompt="instructed"))
    return c
