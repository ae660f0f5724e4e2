"""Planning an experiment: which runs, with which commands, in which order.

A run is one (arm, seed): one ``rtt_jax.main --mode=train_eval`` command (or
the arm's ``module``, e.g. ``rtt_jax.rl``, with its ``args`` flags) with
``--config=<experiment file>:<variant>/<arm> --config.seed=<seed>`` and its own
workdir ``<out>/runs/<arm>/seed_<seed>``. It is *complete* when its workdir
holds ``report.json`` (``run_status.json`` beside it records the exit code,
the seconds taken and the last error line; ``execute`` writes it).

An experiment's steps (``spec.Step``) are planned as runs too, with
``kind="step"``: ``python -m MODULE --out=OUT/steps/NAME[/seed_S] ...``,
complete when that directory holds ``done.json``. ``plan`` lists every run
after the runs it ``needs``; ``execute`` starts a run only when those are
complete.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import shlex
from typing import Iterable, Sequence

from rtt_jax import cli_errors, paths
from rtt_jax.experiments.definition import Experiment, ExperimentError, Step

REPORT, STATUS, LOG, DONE = "report.json", "run_status.json", "run.log", "done.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The shipped experiment files ship inside the package (rtt_jax/configs/experiments;
# the repository's top-level configs/ is a symlink to rtt_jax/configs).
EXPERIMENTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "experiments")


@dataclasses.dataclass(frozen=True)
class Run:
    arm: str  # the arm, or the step's name for kind="step"
    seed: int | None  # None: a step that runs once
    workdir: str
    argv: tuple[str, ...]  # the command, without the python executable
    kind: str = "run"  # "run" (rtt_jax.main, report.json) or "step" (done.json)
    needs: tuple[str, ...] = ()  # keys of the runs that must be complete first
    done: str = DONE  # a step's completion file

    def command(self, python: str = "python") -> str:
        return " ".join(shlex.quote(a) for a in (python, *self.argv))

    @property
    def key(self) -> str:
        return self.arm if self.seed is None else f"{self.arm}/seed_{self.seed}"

    @property
    def complete(self) -> bool:
        return paths.exists(os.path.join(self.workdir, REPORT if self.kind == "run" else self.done))


class _StepDirs:
    """``{step:NAME}`` in a template: NAME's output directory for this seed."""

    def __init__(self, out: str, seed: int | None, experiment: Experiment):
        self.out, self.seed, self.experiment = out, seed, experiment

    def __format__(self, name: str) -> str:
        step = self.experiment.step(name)
        if step is None:
            raise ExperimentError(f"{{step:{name}}}: no step {name!r} in experiment "
                                  f"{self.experiment.name!r}")
        return step_dir(self.out, step, self.seed)


def step_dir(out: str, step: Step, seed: int | None) -> str:
    base = f"{paths.absolute(out)}/steps/{step.name}"
    return f"{base}/seed_{seed}" if step.per_seed and seed is not None else base


def _by_variant(value, variant: str, where: str):
    """A step argument's value for ``variant`` (``{variant: value}`` or one value)."""
    if not isinstance(value, dict):
        return value
    if variant not in value:
        raise ExperimentError(f"{where}: no value for variant {variant!r}; "
                              f"variants: {', '.join(value)}")
    return value[variant]


def _fill(template: str, where: str, **fields) -> str:
    try:
        return str(template).format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise ExperimentError(f"{where}: template {template!r}: {type(e).__name__}: {e}; "
                              "fields are {out} {runs} {seed} {variant} {experiment} "
                              "{step:NAME}") from None


def experiment_path(name_or_path: str) -> str:
    """``NAME`` -> ``configs/experiments/NAME.py``; a path to a .py file is kept."""
    if name_or_path.endswith(".py") or os.sep in name_or_path:
        path = name_or_path
    else:
        path = os.path.join(EXPERIMENTS_DIR, f"{name_or_path}.py")
    if not os.path.isfile(path):
        known = sorted(f[:-3] for f in os.listdir(EXPERIMENTS_DIR)
                       if f.endswith(".py") and not f.startswith("_")) \
            if os.path.isdir(EXPERIMENTS_DIR) else []
        raise ExperimentError(f"--experiment={name_or_path}: no such experiment file {path}; "
                              f"known: {', '.join(known)}")
    return os.path.abspath(path)


def load_experiment(path: str):
    """The experiment file's module (``EXPERIMENT`` and ``get_config``)."""
    spec = importlib.util.spec_from_file_location(
        "rtt_experiment_" + os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("EXPERIMENT", "get_config"):
        if not hasattr(module, attr):
            raise ExperimentError(f"{path}: an experiment file must define {attr}")
    if not isinstance(module.EXPERIMENT, Experiment):
        raise ExperimentError(f"{path}: EXPERIMENT must be an rtt_jax.experiments.Experiment")
    return module


def check_flags(experiment: str, seeds, parallel: int, run_timeout: float | None) -> None:
    """The flags every experiment command shares, checked before any work:
    ValueError naming the flag. The experiment file is loaded once here, so
    a file that does not even import is one line too."""
    path = experiment_path(experiment)
    with cli_errors.user_code(f"--experiment={path}"):
        load_experiment(path)
    bad = [s for s in seeds if not str(s).strip().lstrip("-").isdigit()]
    if bad:
        raise ValueError(f"--seeds={','.join(map(str, seeds))}: expected integers, got {bad[0]!r}")
    if parallel < 1:
        raise ValueError(f"--parallel={parallel}: expected at least 1")
    if run_timeout is not None and run_timeout <= 0:
        raise ValueError(f"--run_timeout={run_timeout:g}: expected a positive number of seconds")


def plan(path: str, experiment: Experiment, variant: str, out: str,
         seeds: Sequence[int] | None = None, arms: Sequence[str] | None = None,
         sets: Iterable[str] = (), workdir_root: str | None = None) -> list[Run]:
    """Every (arm, seed) run, arms in the experiment's order, each preceded by
    the steps and arms it needs (those are added even when ``arms`` leaves
    them out).

    ``sets``: extra ``field=value`` config overrides passed to every run as
    ``--config.field=value`` (e.g. a smaller ``train.steps`` for a smoke run).
    ``workdir_root`` replaces ``<out>/runs`` (e.g. a ``gs://`` bucket on TPU)."""
    seeds = tuple(seeds) if seeds else experiment.seeds_for(variant)
    arms = tuple(arms) if arms else experiment.arm_names
    for a in arms:
        experiment.arm(a)  # unknown arm -> ExperimentError
    root = workdir_root or os.path.join(paths.absolute(out), "runs")
    extra = []
    for s in sets:
        if "=" not in s:
            raise ExperimentError(f"--set={s}: expected field=value")
        extra.append(f"--config.{s}")
    # Repository-relative when inside it: the same command works on a TPU VM checkout.
    rel = os.path.relpath(path, REPO_ROOT)
    config_path = path if rel.startswith("..") else rel
    planned: dict[str, Run] = {}

    def fields(seed):
        return dict(out=paths.absolute(out), runs=root, seed="" if seed is None else seed,
                    variant=variant, experiment=config_path,
                    step=_StepDirs(out, seed, experiment))

    def seeds_of(name: str) -> tuple:
        step = experiment.step(name)
        if step is not None:
            return seeds if step.per_seed else (None,)
        return experiment.arm_seeds(name, variant, seeds)

    def need_keys(names, seed) -> tuple[str, ...]:
        keys = []
        for name in names:
            own = seeds_of(name)
            chosen = [seed] if seed in own else list(own)
            for s in chosen:
                keys.append(add(name, s))
        return tuple(keys)

    def add(name: str, seed) -> str:
        key = name if seed is None else f"{name}/seed_{seed}"
        if key in planned:
            if planned[key] is None:
                raise ExperimentError(f"experiment {experiment.name!r}: {key} needs itself "
                                      "through its needs (a cycle)")
            return key
        planned[key] = None  # a cycle stops here (the spec forbids self-needs)
        step = experiment.step(name)
        if step is not None:
            where = f"experiment {experiment.name!r} step {name!r}"
            needs = need_keys(step.needs, seed)
            workdir = step_dir(out, step, seed)
            args = [f"--{k}=" + _fill(_by_variant(v, variant, f"{where} arg {k!r}"), where,
                                      **fields(seed)) for k, v in step.args.items()]
            argv = ("-m", step.module, f"--out={workdir}", *args)
            run = Run(name, seed, workdir, argv, kind="step", needs=needs, done=step.done)
        else:
            arm = experiment.arm(name)
            where = f"experiment {experiment.name!r} arm {name!r}"
            needs = need_keys(arm.needs, seed)
            workdir = f"{root}/{name}/seed_{seed}"
            run_sets = [f"--config.{k}={_fill(v, where, **fields(seed))}"
                        for k, v in arm.run_sets.items()]
            args = [f"--{k}={_fill(v, where, **fields(seed))}" for k, v in arm.args.items()]
            argv = ("-m", arm.module, "--mode=train_eval",
                    f"--config={config_path}:{variant}/{name}", f"--config.seed={seed}",
                    *run_sets, *extra, *args, f"--workdir={workdir}")
            run = Run(name, seed, workdir, argv, needs=needs)
        del planned[key]  # re-insert after its needs: the list is in dependency order
        planned[key] = run
        return key

    for arm in arms:
        for seed in experiment.arm_seeds(arm, variant, seeds):
            add(arm, seed)
    return list(planned.values())


