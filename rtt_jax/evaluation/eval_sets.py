"""Evaluation sets: fixed lists of problems, each a pure function of (seed, n).

Seed convention. Training draws problem ``i`` of (family, level) with the
config's ``seed``; evaluation draws with ``eval_seed(seed) = seed +
EVAL_SEED_OFFSET`` (offset 10**9). Task families hash (seed, family, level,
index) into their RNG, so a different seed gives an independent stream.
reasoning-gym draws item ``i`` from ``Random(seed + i)``; with indices below
``RG_SIZE`` (10**6) the training window ``[seed, seed + 10**6)`` and the
evaluation window ``[seed + 10**9, ...)`` cannot meet for any training seed
below ``10**9 - 10**6``. Independent streams are not disjoint *contents*: at
small levels the problem space is tiny (1-digit addition has 100 problems),
so an eval question may also occur in training. GSM8K's test split is a separate file; ``n`` problems are
chosen from it by a seeded sample.

Levels above a family's ``train_levels`` are built too and marked
``trained=False``: they measure length generalisation.

From config: ``eval_spec(config.eval, seed)`` checks the section once (the
entry point's ``config_validation.validate`` calls it) into an ``EvalSpec``,
levels resolved per family; ``eval_sets_from_spec`` builds its sets.
"""
from __future__ import annotations

import dataclasses
import os
import random
from typing import Any, Iterable, Mapping, Sequence

from rtt_jax import tasks
from rtt_jax.config_error import ConfigError, require
from rtt_jax.tasks.base import Problem, make_rng_seed

EVAL_SEED_OFFSET = 10 ** 9


def eval_seed(train_seed: int) -> int:
    """The seed evaluation problems are drawn with, given the training seed."""
    return int(train_seed) + EVAL_SEED_OFFSET


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """Problems scored together; one row of the report.

    ``level`` is None for sets of mixed difficulty (GSM8K). ``style`` picks the
    prompt (the family's style cue) and the reading the checkers use; None
    lets the checkers try every style. ``trained`` says whether ``level`` is
    inside the levels the model was trained on (None: unknown/mixed).
    """

    name: str
    family: str
    level: int | None
    problems: tuple[Problem, ...]
    style: str | None = None
    trained: bool | None = None
    # A set that measures something besides held-out accuracy (problems the
    # run trained on, an unseen surface form, a probe set) names its own
    # summary pool here and stays out of all / trained / untrained.
    group: str | None = None

    def __len__(self) -> int:
        return len(self.problems)


def _default_style(family: Any, styles: Mapping[str, str] | None, name: str) -> str | None:
    if styles and styles.get(name) == "":  # no style: the question alone, any style read
        return None
    if styles and name in styles:
        if styles[name] not in family.styles:
            raise ValueError(f"{name}: unknown style {styles[name]!r}; known: {family.styles}")
        return styles[name]
    return family.styles[0] if family.styles else None


def task_sets(families: Sequence[str] | None = None, n: int = 100, seed: int = 0,
              levels: Mapping[str, Iterable[int]] | None = None,
              trained_levels: Mapping[str, Iterable[int]] | None = None,
              styles: Mapping[str, str] | None = None) -> list[EvalSet]:
    """One set per (family, level) of our task families.

    ``seed`` is the *training* seed; problems use ``eval_seed(seed)``.
    ``levels`` defaults to every level a family has (``family.levels``),
    ``trained_levels`` to ``family.train_levels``.
    """
    out = []
    for name in families or tasks.names():
        family = tasks.get(name)
        style = _default_style(family, styles, name)
        trained = set(trained_levels[name]) if trained_levels and name in trained_levels \
            else set(family.train_levels)
        for level in (levels or {}).get(name, family.levels):
            problems = tuple(family.generate(eval_seed(seed), i, level) for i in range(n))
            out.append(EvalSet(f"{name}/L{level}", name, level, problems, style,
                               trained=level in trained))
    return out


def rg_sets(datasets: Sequence[str], n: int = 100, seed: int = 0,
            levels: Mapping[str, Iterable[int]] | None = None,
            trained_levels: Mapping[str, Iterable[int]] | None = None) -> list[EvalSet]:
    """One set per (reasoning-gym dataset, level); family name ``rg/<dataset>``.

    reasoning-gym data is not in the default curriculum, so ``trained`` is
    None (unknown) unless ``trained_levels`` names the family (``rg/<dataset>``).
    """
    from rtt_jax.tasks import reasoning_gym_source as rgs
    out = []
    for dataset in datasets:
        family = rgs.family(dataset)
        style = family.styles[0] if family.styles else None
        known = trained_levels is not None and family.name in trained_levels
        trained = set(trained_levels[family.name]) if known else set()
        for level in (levels or {}).get(family.name, family.levels):
            problems = tuple(family.generate(eval_seed(seed), i, level) for i in range(n))
            out.append(EvalSet(f"{family.name}/L{level}", family.name, level, problems,
                               style, trained=(level in trained) if known else None))
    return out


def gsm8k_set(path: str, n: int | None = None, seed: int = 0, style: str = "plain",
              name: str = "gsm8k/test") -> EvalSet:
    """GSM8K problems from a JSONL file (normally the test split).

    ``n=None`` (or ``n >= len``) keeps every problem in file order; otherwise a
    seeded sample of ``n``, kept in file order so reports are easy to diff.
    """
    from rtt_jax.tasks import gsm8k
    problems = gsm8k.load(path, split="test").problems
    if n is not None and n < len(problems):
        rng = random.Random(make_rng_seed(eval_seed(seed), "gsm8k", path.rsplit("/", 1)[-1]))
        problems = [problems[i] for i in sorted(rng.sample(range(len(problems)), n))]
    return EvalSet(name, "gsm8k", None, tuple(problems), style, trained=None)


def lee_file_set(path: str, n: int | None = None, seed: int = 0, style: str = "lee_plain",
                 name: str = "lee2023/test") -> EvalSet:
    """Addition problems from a Lee et al. 2023 file (``a+b=c`` lines).

    Their test file is sorted, so ``n`` problems are a seeded shuffle's first
    ``n`` (``n=None``: all, shuffled). Level None: the set mixes 1- to
    3-digit problems and the report breaks accuracy down by level. It is the
    training distribution of the Lee reproduction, so ``trained=True``."""
    from rtt_jax.tasks import addition
    problems = addition.read_lee_file(path)
    rng = random.Random(make_rng_seed(eval_seed(seed), "lee", path.rsplit("/", 1)[-1]))
    rng.shuffle(problems)
    if n is not None:
        problems = problems[:n]
    return EvalSet(name, "addition", None, tuple(problems), style, trained=True)


# --- from config ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """``config.eval``, checked (fields: configs/base.py). ``levels`` and
    ``trained_levels`` are resolved per family; ``seed`` is the training seed;
    ``trace_metrics`` says whether step metrics apply (the run trained on
    traces: ``data.spec.trained_with_traces``)."""

    seed: int
    every_steps: int
    families: tuple[str, ...]
    styles: Mapping[str, str]
    levels: Mapping[str, tuple[int, ...]]
    trained_levels: Mapping[str, tuple[int, ...]]
    n_per_level: int
    max_new_tokens: int
    max_len: int
    batch_size: int
    samples_per_set: int
    gsm8k_path: str = ""
    gsm8k_n: int = 0
    rg_datasets: tuple[str, ...] = ()
    lee_path: str = ""
    lee_n: int = 0
    lee_name: str = "lee2023/test"
    trace_metrics: bool = True
    # The evaluation during training (every ``every_steps``) may be lighter
    # than the final one: these levels (per family; None = ``levels``) with
    # this many problems each (0 = ``n_per_level``).
    periodic_levels: Mapping[str, tuple[int, ...]] | None = None
    periodic_n_per_level: int = 0
    # Extra sets and probes (``evaluation.extra_sets``, ``probes``) and what of
    # a completion is scored (``evaluation.scored_text``); see configs/base.py.
    seen_n_per_level: int = 0
    surface_form: str = ""
    misconception: str = ""
    probe_n: int = 0
    retry_marker: str = ""
    commentary_prefix: str = ""

    def periodic(self) -> "EvalSpec":
        """The spec of the evaluation run during training."""
        return dataclasses.replace(
            self, levels=self.periodic_levels or self.levels,
            n_per_level=self.periodic_n_per_level or self.n_per_level,
            seen_n_per_level=0, surface_form="", misconception="")  # final evaluation only


def _levels(spec, family) -> tuple[int, ...]:
    """``"train"`` = the family's training levels; ``"all"``; or an explicit list."""
    if spec == "train":
        return tuple(family.train_levels)
    if spec == "all":
        return tuple(family.levels)
    return tuple(int(x) for x in spec)


def eval_spec(e, seed: int, trace_metrics: bool = True) -> EvalSpec:
    """``config.eval`` checked into an EvalSpec; ConfigError names the first bad field."""
    require(e.every_steps >= 0, "eval.every_steps", e.every_steps, ">= 0 (0 turns it off)")
    for field in ("n_per_level", "max_new_tokens", "batch_size"):
        require(e[field] >= 1, f"eval.{field}", e[field], ">= 1")
    require(e.max_len > e.max_new_tokens, "eval.max_len", e.max_len,
            f"more than eval.max_new_tokens={e.max_new_tokens} (room for the prompt)")
    families = tuple(e.families)
    for name in families:
        require(name in tasks.names(), "eval.families", families,
                f"task families from {', '.join(tasks.names())}")
    for field in ("levels", "trained_levels"):
        spec = e[field]
        ok = spec in ("train", "all") or (not isinstance(spec, str) and
                                          all(isinstance(x, int) and x >= 1 for x in spec))
        require(ok, f"eval.{field}", spec, '"train", "all" or a list of levels >= 1')
    periodic_levels = tuple(e.get("periodic_levels", ()))
    require(all(isinstance(x, int) and x >= 1 for x in periodic_levels), "eval.periodic_levels",
            periodic_levels, "a list of levels >= 1 (empty: eval.levels)")
    periodic_n = e.get("periodic_n_per_level", 0)
    require(isinstance(periodic_n, int) and periodic_n >= 0, "eval.periodic_n_per_level",
            periodic_n, "an integer >= 0 (0: eval.n_per_level)")
    styles = dict(e.styles)
    for name in families:
        known = tasks.get(name).styles
        require(name not in styles or styles[name] in known + ("",), f"eval.styles.{name}",
                styles.get(name), f"a style of {name} among {', '.join(known)} (or '': the "
                "question alone, any style read)")
    extra = {k: e.get(k, default) for k, default in (
        ("seen_n_per_level", 0), ("surface_form", ""), ("misconception", ""), ("probe_n", 0),
        ("retry_marker", ""), ("commentary_prefix", ""))}
    from rtt_jax.evaluation import extra_sets
    extra_sets.check_fields(extra, families)
    return EvalSpec(
        seed=seed, every_steps=e.every_steps, families=families, styles=styles,
        levels={n: _levels(e.levels, tasks.get(n)) for n in families},
        trained_levels={n: _levels(e.trained_levels, tasks.get(n)) for n in families},
        n_per_level=e.n_per_level, max_new_tokens=e.max_new_tokens, max_len=e.max_len,
        batch_size=e.batch_size, samples_per_set=e.samples_per_set,
        gsm8k_path=e.gsm8k_path, gsm8k_n=e.gsm8k_n, rg_datasets=tuple(e.rg_datasets),
        lee_path=e.get("lee_path", ""), lee_n=e.get("lee_n", 0),
        lee_name=e.get("lee_name", "lee2023/test"), trace_metrics=trace_metrics,
        periodic_levels={n: periodic_levels for n in families} if periodic_levels else None,
        periodic_n_per_level=periodic_n, **extra)


def eval_sets_from_spec(spec: EvalSpec) -> list[EvalSet]:
    """The sets ``spec`` names: task families x levels, then GSM8K, a Lee et al.
    file and reasoning-gym datasets. A named file that is missing or bad is a
    ConfigError naming its field."""
    sets = [] if not spec.families else task_sets(
        spec.families, n=spec.n_per_level, seed=spec.seed, levels=spec.levels,
        trained_levels=spec.trained_levels, styles=spec.styles)
    if spec.gsm8k_path:  # external problems: GSM8K test (a JSONL file of that schema)
        if not os.path.exists(spec.gsm8k_path):
            raise ConfigError(f"config.eval.gsm8k_path={spec.gsm8k_path!r}: no such file")
        sets.append(gsm8k_set(spec.gsm8k_path, spec.gsm8k_n or None, seed=spec.seed))
    if spec.lee_path:  # a Lee et al. 2023 problem file (their test split)
        if not os.path.exists(spec.lee_path):
            raise ConfigError(f"config.eval.lee_path={spec.lee_path!r}: no such file")
        style = spec.styles.get("addition", "lee_plain")
        try:
            sets.append(lee_file_set(spec.lee_path, spec.lee_n or None, seed=spec.seed,
                                     style=style, name=spec.lee_name))
        except ValueError as e:
            raise ConfigError(f"config.eval.lee_path: {e}") from None
    if spec.rg_datasets:  # reasoning-gym datasets at their own levels
        sets += rg_sets(list(spec.rg_datasets), n=spec.n_per_level, seed=spec.seed)
    from rtt_jax.evaluation import extra_sets
    return sets + extra_sets.extra_sets(spec)
