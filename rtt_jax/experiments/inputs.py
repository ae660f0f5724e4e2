"""The files a planned experiment reads, and whether each can be had.

Every run's files are read from its arm's config as the runner builds it
(the experiment file's ``VARIANT/ARM`` config with ``--set``), with the
fields its command sets in place (the arm's ``run_sets``), and listed:
fields named ``path`` or ``*_path`` (data sources, eval sets) and a
``data.tokenizer`` directory. Steps' arguments that name a config file or a
workdir count too. Each path must be one of

* made by a run or step this one needs (directly or through its needs):
  a path under the experiment's ``--out`` or run root;
* a file of a dataset in ``rtt_jax.external_data`` (Lee et al.'s
  files): present, or the issue says where to put it and which page says how
  to get it;
* a file that exists (a config file of the checkout, a user's file).

The runner checks this before it starts anything, so a missing data file is
one ``error:`` line up front instead of every run failing; the same check
plans every shipped experiment and variant in ``tests/test_experiment_data.py``.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterator, Mapping, Sequence

import ml_collections

from rtt_jax import external_data, paths
from rtt_jax.data.family_tokenizer import is_family_spec
from rtt_jax.experiments.plan import REPO_ROOT, Run
from rtt_jax.experiments.definition import ExperimentError

# Kinds of issue; ABSENT is a dataset of external_data that is not on this machine.
ABSENT, MISSING, NOT_NEEDED, UNLISTED = "absent", "missing", "not_needed", "unlisted"


@dataclasses.dataclass(frozen=True)
class InputIssue:
    run: str  # the run's or step's key
    field: str  # config field or step argument
    path: str
    kind: str
    message: str

    def line(self) -> str:
        return f"{self.run}: {self.field}={self.path!r}: {self.message}"


def command_sets(run: Run) -> list[tuple[str, str]]:
    """The ``--config.FIELD=VALUE`` pairs of a run's command, in order."""
    out = []
    for arg in run.argv:
        if arg.startswith("--config.") and "=" in arg:
            field, _, value = arg[len("--config."):].partition("=")
            out.append((field, value))
    return out


def run_paths(arm_config: Mapping[str, Any], run: Run) -> list[tuple[str, str]]:
    """``(field, path)`` for every file run ``run`` reads: its arm's config's
    paths, with the fields its command sets (``run_sets``, ``--set``) in place."""
    found = dict(config_paths(arm_config))
    for field, value in command_sets(run):
        name = f"config.{field}"
        last = field.rpartition(".")[2]
        if name in found or last == "path" or last.endswith("_path") or \
                name == "config.data.tokenizer":
            found[name] = value
    return [(field, path) for field, path in found.items()
            if path and not (field == "config.data.tokenizer" and _names_no_file(path))]


def config_paths(config: Mapping[str, Any], prefix: str = "config") -> Iterator[tuple[str, str]]:
    """``(field, path)`` for every file a config names (module doc)."""
    for key, value in config.items():
        name = f"{prefix}.{key}"
        if isinstance(value, (Mapping, ml_collections.ConfigDict)):
            yield from config_paths(value, name)
        elif isinstance(value, str) and value and (key == "path" or key.endswith("_path")):
            yield name, value
        elif name == "config.data.tokenizer" and isinstance(value, str) and \
                not _names_no_file(value):
            yield name, value


def _names_no_file(tokenizer: str) -> bool:
    """A ``data.tokenizer`` that reads no file: the byte tokenizer, or one
    trained at the run's start on a family's text (``"family:..."``)."""
    return tokenizer in ("", "bytes") or is_family_spec(tokenizer)


def step_paths(run: Run, roots: Sequence[str]) -> Iterator[tuple[str, str]]:
    """A step's arguments that name a file: a config file (``--config=F[:ARG]``)
    or a path under the experiment's output."""
    for arg in run.argv:
        if not arg.startswith("--") or "=" not in arg or arg.startswith("--out="):
            continue
        flag, _, value = arg[2:].partition("=")
        if flag == "config":
            yield f"--{flag}", value.partition(":")[0]
        elif any(_under(value, root) for root in roots):
            yield f"--{flag}", value


def _under(path: str, root: str) -> bool:
    path, root = path.rstrip("/"), root.rstrip("/")
    return path == root or path.startswith(root + "/")


def _all_needs(run: Run, by_key: Mapping[str, Run]) -> list[Run]:
    seen: dict[str, Run] = {}
    todo = list(run.needs)
    while todo:
        key = todo.pop()
        if key in seen or key not in by_key:
            continue
        seen[key] = by_key[key]
        todo.extend(by_key[key].needs)
    return list(seen.values())


def _issue(run: Run, field: str, path: str, roots: Sequence[str],
           by_key: Mapping[str, Run]) -> InputIssue | None:
    if any(_under(path, root) for root in roots):
        makers = [n.key for n in _all_needs(run, by_key) if _under(path, n.workdir)]
        if makers:
            return None
        return InputIssue(run.key, field, path, NOT_NEEDED,
                          "under the experiment's output, but no run or step it needs makes it")
    data = external_data.owner(path)
    if data is not None:
        name = os.path.basename(path)
        if name not in data.files:
            return InputIssue(run.key, field, path, UNLISTED,
                              f"not one of {data.name}'s files {list(data.files)}")
        if not paths.exists(path):
            return InputIssue(run.key, field, path, ABSENT,
                              f"no such file; {data.how_to_get()}")
        return None
    full = path if paths.is_remote(path) or os.path.isabs(path) else os.path.join(REPO_ROOT, path)
    if not paths.exists(full):
        return InputIssue(run.key, field, path, MISSING, "no such file")
    return None


def check_inputs(configs: Mapping[str, Any], runs: Sequence[Run],
                 roots: Sequence[str]) -> list[InputIssue]:
    """Every input of ``runs`` that cannot be had (module doc). ``configs``:
    each arm's config as the runner built it; ``roots``: the experiment's
    ``--out`` and run root, under which runs and steps write."""
    roots = [paths.absolute(r) for r in roots]
    by_key = {r.key: r for r in runs}
    issues = []
    for run in runs:
        found = run_paths(configs[run.arm], run) if run.kind == "run" else step_paths(run, roots)
        for field, path in found:
            issue = _issue(run, field, path, roots, by_key)
            if issue is not None:
                issues.append(issue)
    return issues


def inputs_error(experiment: str, issues: Sequence[InputIssue]) -> ExperimentError:
    """One line: the experiment's first issue, and how many more."""
    more = f" ({len(issues) - 1} more inputs cannot be had)" if len(issues) > 1 else ""
    return ExperimentError(f"{experiment} {issues[0].line()}{more}")
