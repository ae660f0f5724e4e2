"""An experiment: named arms (config overrides) x seeds, under one stated budget.

An experiment file (``configs/experiments/NAME.py``) defines ``EXPERIMENT``
and a ``get_config(arg)`` that ml_collections can load as
``--config=configs/experiments/NAME.py:VARIANT/ARM``::

    EXPERIMENT = Experiment(
        name="traces_vs_answer", claim="Traces beat answers alone.",
        baseline="answer_only", budget="tokens",
        arms=(Arm("traces", {}), Arm("answer_only", {"data.sources.add.mode": "answer_only"})),
        seeds=dict(cpu=(0, 1), tpu=(0, 1, 2)))

    def get_config(arg="cpu/traces"):
        return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))

Every run of an experiment is therefore one ordinary ``rtt_jax.main`` command
(the same on a laptop and on a TPU VM), and its config is fully written in the
experiment file: nothing is patched in by the runner but ``seed``.

Overrides are ``{"dotted.path": value}``; a numeric part indexes a list
(``"data.stages.1.levels.add": "1-4"``); a callable value is called with the
config and its result is set; and a path must already exist in the
variant's config, so a misspelt override is an error naming the experiment,
the arm and the path.

Budgets: ``tokens`` (every arm trains ``steps x global_batch_size x seq_len``
token positions: the same compute; checked by ``check_budget``) or
``examples`` (every arm sees the same number of examples; arms set their
steps so that holds and the runner reports the examples each run counted).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Mapping

import ml_collections

BUDGETS = ("tokens", "examples")


class ExperimentError(ValueError):
    """An experiment definition that cannot be run; one line naming what and where."""


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    claim: str
    arms: tuple[Arm, ...]
    baseline: str
    budget: str = "tokens"
    seeds: Mapping[str, tuple[int, ...]] = dataclasses.field(
        default_factory=lambda: {"cpu": (0, 1), "tpu": (0, 1, 2)})

    def __post_init__(self):
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ExperimentError(f"experiment {self.name!r}: duplicate arm names {names}")
        if self.baseline not in names:
            raise ExperimentError(f"experiment {self.name!r}: baseline {self.baseline!r} "
                                  f"is not an arm; arms: {names}")
        if self.budget not in BUDGETS:
            raise ExperimentError(f"experiment {self.name!r}: budget {self.budget!r}; "
                                  f"expected one of {BUDGETS}")
        for arm in names:
            if "/" in arm or not arm:
                raise ExperimentError(f"experiment {self.name!r}: arm name {arm!r} "
                                      "must be non-empty and contain no '/'")

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise ExperimentError(f"experiment {self.name!r}: no arm {name!r}; "
                              f"arms: {', '.join(self.arm_names)}")

    def seeds_for(self, variant: str) -> tuple[int, ...]:
        if variant not in self.seeds:
            raise ExperimentError(f"experiment {self.name!r}: no seeds for variant {variant!r}; "
                                  f"variants: {', '.join(self.seeds)}")
        return tuple(self.seeds[variant])

    def config(self, arg: str | None,
               variants: Mapping[str, Callable[[], ml_collections.ConfigDict]]
               ) -> ml_collections.ConfigDict:
        """The config of ``arg = "VARIANT/ARM"``: the variant's config with the
        arm's overrides applied. ``"VARIANT"`` alone gives the baseline arm."""
        variant, _, arm_name = (arg or "").partition("/")
        variant = variant or next(iter(variants))
        if variant not in variants:
            raise ExperimentError(f"experiment {self.name!r}: unknown variant {variant!r}; "
                                  f"expected one of {', '.join(variants)}")
        arm = self.arm(arm_name or self.baseline)
        config = variants[variant]()
        apply_overrides(config, arm.overrides, where=f"experiment {self.name!r} arm {arm.name!r}")
        return config


def _descend(node: Any, part: str, path: str, where: str) -> Any:
    if isinstance(node, (list, tuple)):
        if not part.isdigit() or int(part) >= len(node):
            raise ExperimentError(f"{where}: override {path!r}: {part!r} is not an index "
                                  f"of a list of {len(node)}")
        return node[int(part)]
    if isinstance(node, (dict, ml_collections.ConfigDict)) and part in node:
        return node[part]
    raise ExperimentError(f"{where}: override {path!r}: no field {part!r}")


def get_field(config, path: str, where: str = "overrides"):
    """The value at ``"a.b.0.c"`` (ExperimentError naming the path if it does not exist)."""
    node = config
    for part in path.split("."):
        node = _descend(node, part, path, where)
    return node


def typed_value(config, path: str, raw: str, where: str = "overrides"):
    """Command-line text ``raw`` for the field at ``path``, typed like the field's
    current value (bool, int, float; anything else stays text), so that an
    override given as text and a default in the config compare and print alike.
    ExperimentError naming ``where`` and the path if the field does not exist or
    the text is not of its type."""
    current = get_field(config, path, where=where)
    try:
        if isinstance(current, bool):
            if raw.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise ValueError("expected true or false")
            return raw.lower() in ("1", "true", "yes")
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError:
        raise ExperimentError(f"{where}: {path}={raw!r}: expected a value of type "
                              f"{type(current).__name__} (the field holds {current!r})") from None
    return raw


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any],
                    where: str = "overrides") -> ml_collections.ConfigDict:
    """Set ``{"a.b.0.c": value}`` fields in place; every path must exist."""
    for path, value in overrides.items():
        parts = path.split(".")
        node = config
        for part in parts[:-1]:
            node = _descend(node, part, path, where)
        last = parts[-1]
        _descend(node, last, path, where)  # must exist
        # A callable computes the value from the config built so far (e.g. the
        # shuffled arm's single stage from the curriculum's stages).
        value = value(config) if callable(value) else copy.deepcopy(value)
        if isinstance(node, list):
            node[int(last)] = value
        elif isinstance(node, ml_collections.ConfigDict) and isinstance(value, dict) \
                and isinstance(node[last], ml_collections.ConfigDict):
            node[last] = ml_collections.ConfigDict(value)
        else:
            node[last] = value
    return config


def tokens_per_run(config) -> int:
    """Token positions one run trains on: steps x global batch x seq_len."""
    return int(config.train.steps) * int(config.data.global_batch_size) * int(config.data.seq_len)


def check_budget(experiment: Experiment, configs: Mapping[str, Any]) -> dict[str, Any]:
    """The budget statement for ``{arm: config}``; for ``tokens`` every arm must
    train the same token positions (else ExperimentError naming the arms)."""
    tokens = {arm: tokens_per_run(c) for arm, c in configs.items()}
    steps = {arm: int(c.train.steps) for arm, c in configs.items()}
    if experiment.budget == "tokens" and len(set(tokens.values())) > 1:
        raise ExperimentError(f"experiment {experiment.name!r}: budget 'tokens' but the arms "
                              f"train different token positions: {tokens}")
    return {"kind": experiment.budget, "tokens_per_run": tokens, "steps": steps}
