"""The import directions docs/design.md draws, read statically from every module.

Each module under rtt_jax/ is parsed with ``ast`` (nothing is imported). An
import is *module-level* when it runs at import time (the module body, a
class body, a top-level ``if``/``try``); one inside a function runs only
when called. The contract (issue 18):

* no module under ``rtt_jax/model/`` imports ``rtt_jax.train`` or
  ``rtt_jax.tasks`` (anywhere: the model takes plain arguments);
* no module under ``rtt_jax/data/`` imports ``rtt_jax.model`` or
  ``rtt_jax.config_validation`` (anywhere: data never needs the model);
* ``rtt_jax/train/`` does not import ``rtt_jax.evaluation`` at module level
  (the entry point hands the loop its evaluation);
* nothing below ``rtt_jax/rl/`` (tasks, data, model, train, evaluation)
  imports it: RL is a top-level part, like the entry points;
* the parts (``rtt_jax.<first name>``: a package or a top-level module)
  import each other at module level without a cycle;
* the leaf modules (``LEAVES``), which any part may import, import no part
  of the package but other leaves (anywhere).
"""
from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "rtt_jax"

# Top-level modules any part may import: they import nothing of the package but
# each other (a new leaf is registered here).
LEAVES = ("config_error", "batch_sharding", "paths", "json_lines", "run_files", "process_setup",
          "workdir_config", "external_data")

# (importing part, imported part, where): "anywhere" or "module level".
FORBIDDEN = [
    ("model", "train", "anywhere"),
    ("model", "tasks", "anywhere"),
    ("data", "model", "anywhere"),
    ("data", "config_validation", "anywhere"),
    ("train", "evaluation", "module level"),
    # rl sits on top of train, evaluation, data and tasks (like main.py).
    *((below, "rl", "anywhere") for below in ("tasks", "data", "model", "train", "evaluation")),
]


def module_name(path: pathlib.Path, root: pathlib.Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import in ``source``, the
    code of ``module``. ``from a import b`` yields ``a.b`` (b may be a
    submodule); relative imports are resolved against ``module``."""
    out: list[tuple[str, bool]] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend((a.name, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                out.extend((f"{base}.{a.name}", top) for a in child.names)
            else:
                inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(child, top and not inner)

    visit(ast.parse(source), True)
    return out


def part(module: str) -> str | None:
    """``rtt_jax.data.spec`` -> ``data``; ``rtt_jax.paths`` -> ``paths``; else None."""
    names = module.split(".")
    return names[1] if len(names) > 1 and names[0] == "rtt_jax" else None


def package_imports(root: pathlib.Path = PACKAGE) -> dict[str, list[tuple[str, bool]]]:
    """module -> its imports, for every .py file under ``root``."""
    return {module_name(p, root): imports(p.read_text(), module_name(p, root),
                                          p.name == "__init__.py")
            for p in sorted(root.rglob("*.py"))}


def violations(graph: dict[str, list[tuple[str, bool]]]) -> list[str]:
    """Every import that breaks ``FORBIDDEN``, as 'module imports name (where)'."""
    out = []
    for module, found in graph.items():
        for name, top in found:
            for src, dst, where in FORBIDDEN:
                if part(module) == src and part(name) == dst and (top or where == "anywhere"):
                    out.append(f"{module} imports {name} ({'module level' if top else 'in a function'}"
                               f"; forbidden {where})")
    return out


def part_cycles(graph: dict[str, list[tuple[str, bool]]]) -> list[list[str]]:
    """Cycles among parts, following module-level imports only."""
    edges: dict[str, set[str]] = {}
    for module, found in graph.items():
        for name, top in found:
            a, b = part(module), part(name)
            if top and a and b and a != b:
                edges.setdefault(a, set()).add(b)
    cycles, state = [], {}

    def dfs(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            dfs(node, [node])
    return cycles


@pytest.fixture(scope="module")
def graph():
    return package_imports()


def test_the_contract_directions_hold(graph):
    assert len(graph) > 100  # every module was read
    assert violations(graph) == []


def test_no_import_cycles_between_parts(graph):
    assert part_cycles(graph) == []


def leaf_violations(graph: dict[str, list[tuple[str, bool]]]) -> list[str]:
    """Imports of a leaf module (``LEAVES``) that reach a part other than a leaf."""
    return [f"{module} imports {name}" for module, found in graph.items()
            if part(module) in LEAVES and module == f"rtt_jax.{part(module)}"
            for name, _ in found if part(name) is not None and part(name) not in LEAVES]


def test_leaf_modules_import_only_leaves(graph):
    assert {f"rtt_jax.{leaf}" for leaf in LEAVES} <= set(graph)  # each is a top-level module
    assert leaf_violations(graph) == []
    synthetic = {"rtt_jax.paths": imports("def f():\n    from rtt_jax.train import loop\n",
                                          "rtt_jax.paths")}
    assert leaf_violations(synthetic) == ["rtt_jax.paths imports rtt_jax.train.loop"]


def test_the_checker_catches_a_forbidden_import():
    synthetic = {
        "rtt_jax.model.sampler": imports("import jax\nfrom rtt_jax.train import sharding\n",
                                         "rtt_jax.model.sampler"),
        "rtt_jax.model.stop_rules": imports(
            "def f():\n    from rtt_jax.tasks.safe_arith import evaluate\n",
            "rtt_jax.model.stop_rules"),
        "rtt_jax.data.pipeline": imports("from ..config_validation import ConfigError\n",
                                         "rtt_jax.data.pipeline"),
        "rtt_jax.train.loop": imports(
            "from rtt_jax.evaluation.during_training import make_periodic_eval\n"
            "def run():\n    from rtt_jax.evaluation import standalone\n",
            "rtt_jax.train.loop"),
    }
    found = violations(synthetic)
    assert any("rtt_jax.model.sampler imports rtt_jax.train.sharding (module level" in v
               for v in found)
    assert any("rtt_jax.model.stop_rules imports rtt_jax.tasks.safe_arith.evaluate (in a function" in v
               for v in found)
    assert any("rtt_jax.data.pipeline imports rtt_jax.config_validation.ConfigError" in v
               for v in found)
    train = [v for v in found if v.startswith("rtt_jax.train.loop")]
    assert len(train) == 1 and "module level" in train[0]  # the in-function one is allowed


def test_the_checker_finds_a_cycle_and_ignores_function_level_imports():
    graph = {
        "rtt_jax.train.loop": imports("from rtt_jax import evaluation\n", "rtt_jax.train.loop"),
        "rtt_jax.evaluation.standalone": imports("from rtt_jax.train.checkpoint import x\n",
                                                 "rtt_jax.evaluation.standalone"),
    }
    assert part_cycles(graph) == [["evaluation", "train", "evaluation"]]
    graph["rtt_jax.train.loop"] = imports("def f():\n    from rtt_jax import evaluation\n",
                                          "rtt_jax.train.loop")
    assert part_cycles(graph) == []
