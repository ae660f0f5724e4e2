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
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Iterable, Mapping, Sequence

from rtt_jax import tasks
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

    def __len__(self) -> int:
        return len(self.problems)


def _default_style(family: Any, styles: Mapping[str, str] | None, name: str) -> str | None:
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
