"""The model-checkpoint teacher: the KV-cache sampler behind ``ModelTeacher``.

``rtt_jax.traces.teachers.ModelTeacher`` samples k traces per problem through
a ``sample_fn(prompts, k) -> list[list[str]]`` and keeps those whose answer and
every step verify. This module builds that ``sample_fn`` from a sampler, or
from a workdir's latest checkpoint:

    sample_fn = sample_fn_from_workdir(None, "gs://.../run", temperature=0.8)
    kept = ModelTeacher(sample_fn, k=8).teach_batch(problems)

``spec=None`` reads the config the run saved in its workdir (``config.json``);
a checked config (``config_validation.validate(config)``) may be passed instead.
"""
from __future__ import annotations

from typing import Callable

from rtt_jax.evaluation.standalone import sampler_from_workdir, workdir_spec
from rtt_jax.model.sampler import Sampler

SampleFn = Callable[[list[str], int], list[list[str]]]


def sampler_sample_fn(sampler: Sampler, max_new_tokens: int, temperature: float = 0.8,
                      top_p: float = 0.95, seed: int = 0) -> SampleFn:
    """k samples per prompt: the prompts repeated k times in one batched call.

    The sampler keys each row's randomness by (seed, row index, step), so the
    k copies of a prompt draw different traces, and a call is reproducible.
    """
    calls = [0]

    def sample_fn(prompts: list[str], k: int) -> list[list[str]]:
        flat = [p for p in prompts for _ in range(k)]
        out = sampler.generate(flat, max_new_tokens, temperature=temperature, top_p=top_p,
                               seed=seed + calls[0])
        calls[0] += 1  # a second batch of problems draws fresh randomness
        return [out[i * k:(i + 1) * k] for i in range(len(prompts))]
    return sample_fn


def sample_fn_from_workdir(spec, workdir: str, max_new_tokens: int = 256,
                           temperature: float = 0.8, top_p: float = 0.95, seed: int = 0,
                           max_len: int | None = None) -> SampleFn:
    """A ``sample_fn`` over the latest checkpoint in ``workdir``; ``spec`` is
    the run's checked config (``config_validation.validate(config)``), or None
    for the one the workdir saved."""
    if spec is None:
        spec = workdir_spec(workdir)
    sampler, _ = sampler_from_workdir(spec, workdir, max_len or spec.data.seq_len + max_new_tokens)
    return sampler_sample_fn(sampler, max_new_tokens, temperature, top_p, seed)
