"""RL prompts from the curriculum's synthetic sources and levels, by index.

Prompt ``i`` of iteration ``k`` is a pure function of (seed, k, i): the stage
active at iteration ``k`` (``data.stages``, whose ``steps`` count iterations
here), then a (source, level) drawn from that stage's mixture with the
curriculum's weights (a source's weight split evenly over its levels, as
``Curriculum`` mixes them), a problem of that family and level, and one of the
source's styles. The prompt text is the family's own
(``format_example(problem, style)[0]``), the one SFT put before each target,
so the policy is asked as it was taught.

Why by index and not through the Grain pipeline: the rollout state is then
one integer (the iteration) and a resumed run draws the same prompts; and a
prompt does not depend on which other prompts share its batch or host.

Problems are drawn with their own stream, ``make_rng_seed(seed, "rl", source)``,
apart from the training stream of the same source and from evaluation's
(``eval_seed``); at small levels the problem space is tiny, so contents still
overlap (as they do between training and evaluation).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from rtt_jax import tasks
from rtt_jax.data.sources import mix64, name_key
from rtt_jax.data.spec import DataSpec
from rtt_jax.tasks.base import Problem, make_rng_seed

_RL_KEY = name_key("rl_prompts")
_UNIT = float(1 << 53)


@dataclasses.dataclass(frozen=True)
class RolloutPrompt:
    iteration: int
    index: int  # within the iteration: the group's id
    source: str
    level: int
    style: str
    problem: Problem
    text: str

    @property
    def family(self) -> Any:
        return tasks.get(self.problem.family)


class PromptStream:
    """The prompts of every iteration (module doc). ``data`` is the checked
    ``DataSpec``; its stages' sources must be synthetic (``rl.spec`` checks)."""

    def __init__(self, data: DataSpec, seed: int):
        self.seed = int(seed)
        self.stages = data.stages
        self._sources = data.sources
        self._gen_seed = {name: make_rng_seed(self.seed, "rl", name) % (1 << 31)
                          for name in data.sources}
        self._components = [self._stage_components(s) for s in data.stages]

    def _stage_components(self, stage) -> list[tuple[str, int, float]]:
        """(source, level, cumulative weight) of one stage, weights normalised."""
        out, total = [], 0.0
        weights = stage.weights
        for name, levels in zip(stage.sources, stage.levels):
            for level in levels:
                total += weights[name] / len(levels)
                out.append((name, level, total))
        return [(n, lv, c / total) for n, lv, c in out]

    def stage_at(self, iteration: int) -> int:
        start = 0
        for k, stage in enumerate(self.stages):
            start += stage.steps
            if iteration < start:
                return k
        return len(self.stages) - 1

    def prompt(self, iteration: int, index: int) -> RolloutPrompt:
        stage = self.stage_at(iteration)
        h = mix64(self.seed, _RL_KEY, iteration, index)
        u = (h >> 11) / _UNIT
        comps = self._components[stage]
        name, level, _ = next((c for c in comps if u < c[2]), comps[-1])
        src = self._sources[name]
        family = tasks.get(src.family)
        problem_index = mix64(h, stage, 1) >> 2
        problem = family.generate(self._gen_seed[name], problem_index, level)
        style = src.styles[mix64(h, 2) % len(src.styles)]
        text = family.format_example(problem, style)[0]
        return RolloutPrompt(iteration, index, name, level, style, problem, text)

    def batch(self, iteration: int, indices) -> list[RolloutPrompt]:
        return [self.prompt(iteration, int(i)) for i in indices]
