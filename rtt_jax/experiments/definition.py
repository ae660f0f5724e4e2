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

Multi-phase experiments (distillation, self-improvement rounds) add two
things. An arm may run only after other work of the same seed is complete
(``Arm.needs``: arm names or step names), may have its own seeds
(``Arm.seeds``, e.g. one teacher) and may stay out of the budget check
(``Arm.in_budget=False``: a teacher is not a compared arm). Steps (``Step``) are
commands that are not training runs (sample a teacher, build a round's
traces): ``python -m MODULE --out=OUT/steps/NAME[/seed_S] --flag=value ...``,
complete when that directory holds ``done.json`` (its summary, collected into
``results.json``). Text fields of steps and ``Arm.run_sets`` are templates
over ``{out}`` (the experiment's output directory), ``{runs}`` (the run
workdirs' root), ``{seed}``, ``{variant}``, ``{experiment}`` (the experiment
file) and ``{step:NAME}`` (that step's output directory for this seed), so an
arm can train on what a step wrote (``--config.data.sources.x.path``).

Budgets: ``tokens`` (every arm trains ``steps x global_batch_size x seq_len``
token positions: the same compute; checked by ``check_budget``),
``examples`` (every arm sees the same number of examples; arms set their
steps so that holds and the runner reports the examples each run counted) or
``flops`` (every arm's planned FLOPs agree within ``FLOPS_TOLERANCE``: a
training run's forward and backward passes, an RL run's sampling passes and
updates too, ``rtt_jax.rl.accounting``; for arms that compute differently).

An arm's run is ``python -m rtt_jax.main`` unless ``Arm.module`` names
another entry point with the same flags (``rtt_jax.rl``); ``Arm.args`` adds
flags to its command line, as templates (``{"init_from":
"{runs}/sft/seed_{seed}"}``, with ``needs=("sft",)``: start from that arm's
workdir).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Mapping, Sequence

import ml_collections

BUDGETS = ("tokens", "examples", "flops")
FLOPS_TOLERANCE = 0.02  # "flops": arms within 2% (whole steps rarely meet exactly)


class ExperimentError(ValueError):
    """An experiment definition that cannot be run; one line naming what and where."""


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    # Work of the same seed (arm or step names) that must be complete first.
    needs: tuple[str, ...] = ()
    # Config fields set on the run's command line, as templates (module doc).
    run_sets: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # This arm's own seeds per variant (default: the experiment's).
    seeds: Mapping[str, tuple[int, ...]] | None = None
    # False: trained and reported, but not held to the equal budget (a teacher).
    in_budget: bool = True
    # The run's entry module: rtt_jax.main, or another that takes the same
    # --config, --workdir and --mode flags and writes report.json (rtt_jax.rl).
    module: str = "rtt_jax.main"
    # Extra flags of the run's command line, as templates (module doc):
    # {"init_from": "{runs}/sft/seed_{seed}"} -> --init_from=<that workdir>.
    args: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Step:
    """A command an arm needs: ``python -m module --out=DIR --key=value ...``.

    ``args`` values are templates (module doc), or ``{variant: template}``
    where a value differs by variant (a smoke variant samples less);
    ``per_seed`` steps run once
    per seed (``DIR = OUT/steps/NAME/seed_S``), others once
    (``DIR = OUT/steps/NAME``, needs resolved at the arms' first seed). The
    module writes ``DIR/done.json`` (a JSON summary) as its last act; a
    module that writes another last file (``rtt_jax.traces.build``'s
    ``dataset_card.json``) names it in ``done``."""
    name: str
    module: str
    args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    needs: tuple[str, ...] = ()
    per_seed: bool = True
    description: str = ""
    # The file whose presence marks the step complete (its JSON summary).
    done: str = "done.json"


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    claim: str
    arms: tuple[Arm, ...]
    baseline: str
    budget: str = "tokens"
    seeds: Mapping[str, tuple[int, ...]] = dataclasses.field(
        default_factory=lambda: {"cpu": (0, 1), "tpu": (0, 1, 2)})
    steps: tuple[Step, ...] = ()

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
        steps = [s.name for s in self.steps]
        if len(set(steps)) != len(steps) or set(steps) & set(names):
            raise ExperimentError(f"experiment {self.name!r}: step names {steps} must be "
                                  f"unique and differ from the arm names {names}")
        known = set(names) | set(steps)
        for who, needs in [(a.name, a.needs) for a in self.arms] + \
                          [(s.name, s.needs) for s in self.steps]:
            unknown = [n for n in needs if n not in known]
            if unknown or who in needs:
                raise ExperimentError(f"experiment {self.name!r}: {who!r} needs "
                                      f"{unknown or [who]}, which is not another arm or step")
        if self.baseline in names and not self.arm(self.baseline).in_budget:
            raise ExperimentError(f"experiment {self.name!r}: the baseline "
                                  f"{self.baseline!r} must be in the budget")

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise ExperimentError(f"experiment {self.name!r}: no arm {name!r}; "
                              f"arms: {', '.join(self.arm_names)}")

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def arm_seeds(self, arm: str, variant: str, seeds: tuple[int, ...]) -> tuple[int, ...]:
        """The seeds ``arm`` runs with, given the experiment's ``seeds``: an
        arm with its own seeds keeps those (a teacher trained once)."""
        own = self.arm(arm).seeds
        if own is None:
            return tuple(seeds)
        if variant not in own:
            raise ExperimentError(f"experiment {self.name!r}: arm {arm!r} has no seeds for "
                                  f"variant {variant!r}")
        return tuple(own[variant])

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


def typed_sets(sets: Sequence[str], config, where: str = "--set") -> dict[str, Any]:
    """``["train.steps=20"]`` -> ``{"train.steps": 20}``, each typed like the
    field (``typed_value``); ExperimentError naming the flag for a missing ``=``."""
    out = {}
    for s in sets:
        field, eq, raw = s.partition("=")
        if not eq:
            raise ExperimentError(f"{where}={s}: expected field=value")
        out[field] = typed_value(config, field, raw, where=where)
    return out


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


def flops_per_run(config, module: str = "rtt_jax.main") -> float:
    """Planned FLOPs of one run of ``module`` (rtt_jax.main or rtt_jax.rl) with ``config``."""
    from rtt_jax.rl import accounting
    if module == "rtt_jax.rl":
        return accounting.rl_run_flops(config)
    if module == "rtt_jax.main":
        return accounting.train_run_flops(config)
    raise ExperimentError(f"budget 'flops': no FLOPs count for runs of {module!r}")


def check_budget(experiment: Experiment, configs: Mapping[str, Any]) -> dict[str, Any]:
    """The budget statement for ``{arm: config}``; for ``tokens`` every arm must
    train the same token positions, for ``flops`` plan the same FLOPs (else
    ExperimentError naming the arms)."""
    tokens = {arm: tokens_per_run(c) for arm, c in configs.items()
              if experiment.arm(arm).in_budget}
    steps = {arm: int(c.rl.steps if experiment.arm(arm).module == "rtt_jax.rl"
                      else c.train.steps) for arm, c in configs.items()}
    if experiment.budget == "tokens" and len(set(tokens.values())) > 1:
        raise ExperimentError(f"experiment {experiment.name!r}: budget 'tokens' but the arms "
                              f"train different token positions: {tokens}")
    out = {"kind": experiment.budget, "tokens_per_run": tokens, "steps": steps}
    if experiment.budget == "flops":
        flops = {arm: flops_per_run(c, experiment.arm(arm).module) for arm, c in configs.items()}
        held = [v for arm, v in flops.items() if experiment.arm(arm).in_budget]
        if held and max(held) > (1 + FLOPS_TOLERANCE) * min(held):
            raise ExperimentError(f"experiment {experiment.name!r}: budget 'flops' but the arms "
                                  f"plan different FLOPs (more than {FLOPS_TOLERANCE:.0%} "
                                  f"apart): { {a: f'{v:.4g}' for a, v in flops.items()} }")
        out["flops_per_run"] = flops
    return out
