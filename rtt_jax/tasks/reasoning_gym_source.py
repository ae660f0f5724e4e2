"""reasoning-gym (PyPI ``reasoning_gym``) as a problem source.

reasoning-gym generates its items procedurally: item ``i`` of a dataset with
seed ``s`` is drawn from ``random.Random(s + i)``. Nothing is downloaded (the
test suite runs generation with sockets blocked).

``family("chain_sum")`` returns a family-like object named ``rg/chain_sum``
whose ``generate(seed, index, level)`` turns reasoning-gym item ``index`` into
our ``Problem``: ``question`` and ``answer`` are reasoning-gym's, ``data`` is
``{"dataset", "metadata", "ours"}`` where ``ours`` is, when the item's
metadata allows, ``{"family": <our family>, "data": <its Problem.data>}``.
Such items get our solvers' traces (styles of the mapped family) and our step
checker. ``gsm_symbolic`` items carry a worked solution (``answer_cot``) and
get style ``rg_cot``, checked like GSM8K text.

Answers are scored twice: ``check_answer`` (ours: the mapped family's checker,
else an exact number or normalized text comparison of the ``####`` answer) and
``rg_score`` (reasoning-gym's own ``score_answer``, a float in [0, 1]).

Level ``L`` chooses the dataset's difficulty (``LEVELS``); datasets without a
level mapping have only level 1 (reasoning-gym's defaults).
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable

from rtt_jax import tasks
from rtt_jax.tasks import gsm8k
from rtt_jax.tasks.answers import ANSWER_MARKER, extract_final_answer, readable
from rtt_jax.tasks.base import Problem, StepReport, Trace
from rtt_jax.tasks.safe_arith import parse_number

# reasoning-gym's gsm_symbolic picks its templates with Random(seed).choices(k=size),
# so an item depends on ``size``; fix it so that (seed, index) alone decides.
RG_SIZE = 1_000_000


def _digits(level: int) -> dict[str, int]:
    return {"min_digits": level, "max_digits": level}


def _values(level: int) -> dict[str, int]:
    return {"min_value": 1, "max_value": 10 ** (level + 1)}


# dataset -> level -> config overrides. Level 1 of a dataset absent here is
# reasoning-gym's default configuration.
LEVELS: dict[str, tuple[range, Callable[[int], dict[str, Any]]]] = {
    "chain_sum": (range(1, 6), _digits),
    "basic_arithmetic": (range(1, 5), _digits),
    "products": (range(1, 6), lambda L: {**_digits(L), "min_terms": 2, "max_terms": 2}),
    "gcd": (range(1, 5), _values),
    "lcm": (range(1, 4), _values),
    "base_conversion": (range(1, 5), lambda L: {"min_value": 0, "max_value": 10 ** (L + 1)}),
    "leg_counting": (range(1, 4), lambda L: {"min_animals": 1, "max_animals": 2 * L + 1}),
}
# Answers compared as text (base-36 digits, words); the rest as exact numbers.
TEXT_ANSWERS = frozenset({"base_conversion", "family_relationships"})
SHARED = ("chain_sum", "basic_arithmetic", "products", "simple_equations", "gcd", "lcm",
          "base_conversion", "leg_counting", "gsm_symbolic", "family_relationships")

# --------------------------------------------------------------------------
# metadata -> our families' problem data. Each returns (family, data) or None;
# a conversion is used only if our solver then reproduces reasoning-gym's answer.


def _to_expressions(meta: dict[str, Any]) -> dict | None:
    expr = meta.get("expression")
    return {"expression": expr} if isinstance(expr, str) else None


def _to_linear_equation(meta: dict[str, Any]) -> dict | None:
    eq, var = meta.get("equation"), meta.get("variable")
    if not isinstance(eq, str) or not isinstance(var, str) or len(var) != 1:
        return None
    # Our family's variable is x; rename only the standalone letter.
    return {"equation": re.sub(rf"(?<![A-Za-z]){var}(?![A-Za-z])", "x", eq)}


def _two_ints(values: Any) -> tuple[int, int] | None:
    if (isinstance(values, list) and len(values) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)):
        return values[0], values[1]
    return None


def _to_gcd_lcm(ask: str) -> Callable[[dict[str, Any]], dict | None]:
    def convert(meta: dict[str, Any]) -> dict | None:
        pair = _two_ints(meta.get("numbers"))
        return {"a": pair[0], "b": pair[1], "ask": ask} if pair else None
    return convert


def _to_multiplication(meta: dict[str, Any]) -> dict | None:
    m = re.fullmatch(r"\s*([0-9]+)\s*\*\s*([0-9]+)\s*", str(meta.get("expression", "")))
    return {"a": int(m[1]), "b": int(m[2])} if m else None


def _to_base_conversion(meta: dict[str, Any]) -> dict | None:
    n, src, dst = meta.get("decimal_value"), meta.get("source_base"), meta.get("target_base")
    if not all(isinstance(v, int) for v in (n, src, dst)) or n < 1:
        return None
    if src == 10 and 2 <= dst <= 16 and dst != 10:
        base, direction = dst, "to_base"
    elif dst == 10 and 2 <= src <= 16 and src != 10:
        base, direction = src, "to_decimal"
    else:
        return None  # base to base: our family always goes through base 10
    return {"n": n, "base": base, "digits": _to_base_digits(n, base), "direction": direction}


def _to_base_digits(n: int, base: int) -> str:
    from rtt_jax.tasks.digits import to_base
    return to_base(n, base)


def _to_counting(meta: dict[str, Any]) -> dict | None:
    from reasoning_gym.arithmetic.leg_counting import ANIMALS
    animals = meta.get("animals")
    if not isinstance(animals, dict) or not animals:
        return None
    if not all(re.fullmatch(r"[a-z]+", k) and k in ANIMALS for k in animals):
        return None  # multi-word names ("sea slug") do not fit our line patterns
    return {"counts": dict(animals), "legs": {k: ANIMALS[k] for k in animals}}


# dataset -> (our family, metadata -> that family's Problem.data or None)
CONVERTERS: dict[str, tuple[str, Callable[[dict[str, Any]], dict | None]]] = {
    "chain_sum": ("expressions", _to_expressions),
    "basic_arithmetic": ("expressions", _to_expressions),
    "products": ("multiplication", _to_multiplication),
    "simple_equations": ("linear_equation", _to_linear_equation),
    "gcd": ("gcd_lcm", _to_gcd_lcm("gcd")),
    "lcm": ("gcd_lcm", _to_gcd_lcm("lcm")),
    "base_conversion": ("base_conversion", _to_base_conversion),
    "leg_counting": ("counting", _to_counting),
}


def _jsonable(x: Any) -> Any:
    """reasoning-gym metadata as plain JSON (tuples, sets and objects to lists/str)."""
    return json.loads(json.dumps(x, default=lambda o: sorted(o) if isinstance(o, set) else str(o)))


def normalize_text_answer(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.strip().rstrip(".").split()).casefold()


def answers_match(got: str | None, want: str, as_text: bool) -> bool:
    if got is None:
        return False
    if not as_text:
        g, w = parse_number(got), parse_number(want)
        if g is not None and w is not None:
            return g == w
    return normalize_text_answer(got) == normalize_text_answer(want)


class RGFamily:
    """One reasoning-gym dataset behind the task-family interface."""

    def __init__(self, dataset: str):
        import reasoning_gym  # optional dependency: imported only when used
        from reasoning_gym.factory import DATASETS
        if dataset not in DATASETS:
            raise KeyError(f"reasoning-gym has no dataset {dataset!r}")
        self._rg = reasoning_gym
        self.dataset = dataset
        self.name = f"rg/{dataset}"
        self.levels, self._level_config = LEVELS.get(dataset, (range(1, 2), lambda L: {}))
        self.train_levels = self.levels
        self._converter = CONVERTERS.get(dataset)
        ours = tuple(tasks.get(self._converter[0]).styles) if self._converter else ()
        self.styles = ours + (("rg_cot",) if dataset == "gsm_symbolic" else ())

    @functools.lru_cache(maxsize=64)  # noqa: B019 - sources live as long as the process
    def _source(self, seed: int, level: int):
        if level not in self.levels:
            raise ValueError(f"{self.name}: level {level} not in {self.levels}")
        return self._rg.create_dataset(self.dataset, seed=seed, size=RG_SIZE,
                                       **self._level_config(level))

    def entry(self, problem: Problem) -> dict[str, Any]:
        """reasoning-gym's own item for a problem (regenerated, exact types)."""
        return self._source(problem.seed, problem.level)[problem.index]

    def generate(self, seed: int, index: int, level: int = 1) -> Problem:
        if not 0 <= index < RG_SIZE:
            raise ValueError(f"{self.name}: index {index} outside [0, {RG_SIZE})")
        item = self._source(seed, level)[index]
        meta = _jsonable(item.get("metadata", {}))
        answer = "" if item["answer"] is None else str(item["answer"])
        ours = None
        if self._converter is not None:
            family_name, convert = self._converter
            data = convert(meta)
            if data is not None and self._reproduces(family_name, data, seed, index, level, answer):
                ours = {"family": family_name, "data": data}
        return Problem(self.name, seed, index, level, item["question"], answer,
                       {"dataset": self.dataset, "metadata": meta, "ours": ours})

    @staticmethod
    def _reproduces(family_name, data, seed, index, level, answer) -> bool:
        family = tasks.get(family_name)
        problem = Problem(family_name, seed, index, level, "", answer, data)
        try:
            return all(
                family.check_answer(problem, text) and family.check_steps(problem, text).all_valid
                for text in (family.format_example(problem, s)[1] for s in family.styles))
        except Exception:  # noqa: BLE001 - our solver may not cover this item's form
            return False

    def our_problem(self, problem: Problem) -> Problem | None:
        ours = problem.data.get("ours")
        if not ours:
            return None
        return Problem(ours["family"], problem.seed, problem.index, problem.level,
                       problem.question, problem.answer, ours["data"])

    def styles_for(self, problem: Problem) -> tuple[str, ...]:
        """The styles this problem has traces in (mapping may fail per item)."""
        if self.dataset == "gsm_symbolic":
            return ("rg_cot",)
        return self.styles if self.our_problem(problem) is not None else ()

    def solve(self, problem: Problem, style: str) -> Trace:
        if style not in self.styles_for(problem):
            raise ValueError(f"{self.name}: no {style!r} trace for this problem")
        if style == "rg_cot":
            cot = problem.data["metadata"].get("answer_cot", "")
            body = "\n".join(ln for ln in cot.splitlines()
                             if not ln.strip().startswith(ANSWER_MARKER))
            return Trace(self.name, style, (), problem.answer, rendered=body)
        ours = self.our_problem(problem)
        trace = tasks.get(ours.family).solve(ours, style)
        return Trace(self.name, style, trace.steps, problem.answer, rendered=trace.rendered)

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        if style == "rg_cot":
            return problem.question + "\n", f"{self.solve(problem, style).text}\n" \
                                            f"{ANSWER_MARKER} {problem.answer}"
        ours = self.our_problem(problem)
        if ours is None or style not in self.styles:
            raise ValueError(f"{self.name}: no {style!r} trace for this problem")
        return problem.question + "\n", tasks.get(ours.family).format_example(ours, style)[1]

    def extract_answer(self, problem: Problem, text: str, style: str | None = None) -> str | None:
        ours = self.our_problem(problem)
        if ours is not None:
            family = tasks.get(ours.family)
            return family.extract_answer(ours, text, style if style in family.styles else None)
        return extract_final_answer(text)

    def check_answer(self, problem: Problem, text: str, style: str | None = None) -> bool:
        if readable(text) is None:
            return False
        ours = self.our_problem(problem)
        if ours is not None:
            return tasks.get(ours.family).check_answer(ours, text)
        return answers_match(extract_final_answer(text), problem.answer,
                             self.dataset in TEXT_ANSWERS)

    def rg_score(self, problem: Problem, text: str) -> float:
        """reasoning-gym's ``score_answer`` on the ``####`` answer of ``text``."""
        answer = extract_final_answer(text)
        return float(self._source(problem.seed, problem.level).score_answer(answer, self.entry(problem)))

    def check_steps(self, problem: Problem, text: str, style: str | None = None) -> StepReport:
        ours = self.our_problem(problem)
        if ours is not None:
            family = tasks.get(ours.family)
            return family.check_steps(ours, text, style if style in family.styles else None)
        # Free-form worked solutions (gsm_symbolic): GSM8K's equation checker.
        return gsm8k.FAMILY.check_steps(problem, text)


@functools.lru_cache(maxsize=None)
def family(dataset: str) -> RGFamily:
    return RGFamily(dataset)


def available_shared() -> tuple[str, ...]:
    """The datasets of ``SHARED`` that the installed reasoning-gym has."""
    from reasoning_gym.factory import DATASETS
    return tuple(d for d in SHARED if d in DATASETS)
