"""Evaluation sets besides held-out problems by level, each in its own summary pool.

* ``seen`` (``eval.seen_n_per_level = n``): the first ``n`` problems of every
  trained level drawn with the *training* seed, ``family.generate(seed, i,
  L)``: the problems a pool (``rtt_jax.data.pools``) trained on. Their
  accuracy against the held-out trained levels' is the train-test gap.
* ``surface`` (``eval.surface_form = NAME``): held-out problems at the
  trained levels with the question written in surface form ``NAME``
  (``rtt_jax.traces.surface_forms``; its ``HELD_OUT_FORM`` is one no
  training pool uses).
* ``bug_applies`` / ``bug_never_applies`` (``eval.misconception = NAME``):
  held-out problems at the trained levels whose correct trace has (has no)
  line the misconception changes (``rtt_jax.traces.misconception``),
  ``eval.probe_n`` of each (default ``n_per_level``), drawn from indices
  past the held-out sets'. The second is the control: a model that learned
  the bug should do no worse there.

Each set's ``group`` names its summary pool (``summary["seen"]``, ...); none
enters the held-out pools (all / trained / untrained).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from rtt_jax import tasks
from rtt_jax.config_error import require
from rtt_jax.evaluation.eval_sets import EvalSet, _default_style, eval_seed

MISCONCEPTIONS = ("abs_diff",)
# Probe problems are drawn from eval-seed indices from here on, apart from the
# held-out sets' 0..n-1.
PROBE_OFFSET = 10 ** 6


def check_fields(extra: Mapping[str, Any], families: Iterable[str]) -> None:
    """ConfigError naming the first unusable field of the extra sets."""
    from rtt_jax.traces import surface_forms
    for field in ("seen_n_per_level", "probe_n"):
        v = extra[field]
        require(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"eval.{field}", v,
                "an integer >= 0 (0: off / the default)")
    form = extra["surface_form"]
    require(form == "" or form in surface_forms.FORMS, "eval.surface_form", form,
            f"'' or a surface form among {', '.join(surface_forms.FORMS)}")
    bug = extra["misconception"]
    require(bug == "" or bug in MISCONCEPTIONS, "eval.misconception", bug,
            f"'' or one of {MISCONCEPTIONS}")
    if bug or form:
        from rtt_jax.traces import misconception
        require(misconception.FAMILY in tuple(families), "eval.families", tuple(families),
                f"to include {misconception.FAMILY} (eval.misconception / eval.surface_form "
                "are defined for it)")
    for field in ("retry_marker", "commentary_prefix"):
        require(isinstance(extra[field], str), f"eval.{field}", extra[field], "a string")


def seen_sets(spec) -> list[EvalSet]:
    out = []
    for name in spec.families:
        family = tasks.get(name)
        style = _default_style(family, spec.styles, name)
        for level in spec.trained_levels[name]:
            problems = tuple(family.generate(spec.seed, i, level)
                             for i in range(spec.seen_n_per_level))
            out.append(EvalSet(f"{name}/L{level}/seen", name, level, problems, style,
                               trained=True, group="seen"))
    return out


def surface_sets(spec) -> list[EvalSet]:
    from rtt_jax.traces import misconception, surface_forms
    name = misconception.FAMILY
    family = tasks.get(name)
    style = _default_style(family, spec.styles, name)
    out = []
    for level in spec.trained_levels[name]:
        problems = tuple(surface_forms.rewrite_problem(
            family.generate(eval_seed(spec.seed), i, level), spec.surface_form)
            for i in range(spec.n_per_level))
        out.append(EvalSet(f"{name}/L{level}/{spec.surface_form}", name, level, problems, style,
                           trained=True, group="surface"))
    return out


def misconception_sets(spec) -> list[EvalSet]:
    from rtt_jax.traces import misconception
    name = misconception.FAMILY
    family = tasks.get(name)
    style = _default_style(family, spec.styles, name)
    levels = spec.trained_levels[name]
    n = spec.probe_n or spec.n_per_level
    applies, never = [], []
    i = 0
    while len(applies) < n or len(never) < n:
        p = family.generate(eval_seed(spec.seed), PROBE_OFFSET + i, levels[i % len(levels)])
        i += 1
        bucket = applies if misconception.bug_applies(p) else never
        if len(bucket) < n:
            bucket.append(p)
    return [EvalSet(f"{name}/bug_applies", name, None, tuple(applies), style, group="bug_applies"),
            EvalSet(f"{name}/bug_never_applies", name, None, tuple(never), style,
                    group="bug_never_applies")]


def extra_sets(spec) -> list[EvalSet]:
    """The extra sets ``spec`` asks for (none by default)."""
    out = []
    if spec.seen_n_per_level:
        out += seen_sets(spec)
    if spec.surface_form:
        out += surface_sets(spec)
    if spec.misconception:
        out += misconception_sets(spec)
    return out
