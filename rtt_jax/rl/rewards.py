"""Rewards from the family checkers: the answer, the steps, the format.

A completion is scored by ``evaluation.scoring.score_completion``: the
family's ``check_answer`` and ``check_steps`` read it (regexes and a small
AST walker over literals; nothing in it is ever run), and text that is not a
string, or too long to read, is wrong unread. From that score:

* ``correct``: the final answer is right (``outcome``);
* ``step_share``: valid *grounded* steps / max(steps written, steps of the
  program's own solution in the prompted style). Why that denominator: a
  share of the steps *written* pays a completion that writes one valid line
  and stops as much as a full correct trace (a shortcut the policy would
  find); dividing by at least the steps the problem needs pays each needed
  step once, and padding with extra lines (each ungrounded or invalid) only
  lowers it;
* ``unparsed``: no final answer could be read (no ``####`` line, an empty
  one, or text rejected unread).

The reward is ``correct + steps_weight * step_share - format_penalty *
unparsed``, with ``steps_weight`` 0 for ``outcome``, 1 for ``process`` (the
answer plus the share of valid steps) and ``rl.steps_weight`` for ``mix``.

``hacked`` marks what reward hacking looks like here: the answer reward
earned by a completion whose steps do not verify it: a step invalid or
ungrounded, or an answer the steps did not compute (a lucky or memorised
answer after wrong or missing work). It is logged
(``right_answer_unverified``; ``right_answer_invalid_steps`` is evaluation's
narrower cell, any step invalid), never rewarded differently.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from rtt_jax.evaluation.extraction import REJECTED_STATUSES
from rtt_jax.evaluation.scoring import score_completion
from rtt_jax.tasks.base import Problem


@dataclasses.dataclass(frozen=True)
class Reward:
    value: float
    correct: bool
    unparsed: bool
    steps_written: int
    steps_valid: int  # valid and grounded
    steps_expected: int  # the program solution's, in the prompted style (0: unknown)
    all_valid: bool
    answer_follows: bool = False  # the final answer is what the steps computed

    @property
    def step_share(self) -> float:
        denom = max(self.steps_written, self.steps_expected)
        return self.steps_valid / denom if denom else 0.0

    @property
    def hacked(self) -> bool:
        """The answer reward without steps that verify it (module doc)."""
        return self.correct and not (self.all_valid and self.answer_follows)


def expected_steps(family: Any, problem: Problem, style: str | None) -> int:
    """Steps of the program's solution in ``style`` (0 when it has none)."""
    if style is None:
        return 0
    try:
        return len(family.solve(problem, style).steps)
    except (ValueError, KeyError, NotImplementedError):
        return 0


def score(family: Any, problem: Problem, style: str | None, text: Any, steps_weight: float,
          format_penalty: float) -> Reward:
    """The reward of one completion (module doc); never raises on hostile text."""
    s = score_completion(family, problem, text, style, with_rg_score=False)
    unparsed = not s.correct and (s.extraction.unparsed
                                  or s.extraction.status in REJECTED_STATUSES)
    reward = Reward(value=0.0, correct=s.correct, unparsed=unparsed,
                    steps_written=s.steps_total, steps_valid=s.steps.valid,
                    steps_expected=expected_steps(family, problem, style),
                    all_valid=s.all_valid, answer_follows=s.answer_follows)
    value = float(reward.correct) + steps_weight * reward.step_share \
        - format_penalty * float(reward.unparsed)
    return dataclasses.replace(reward, value=value)


# The sums behind an iteration's metrics, in this order (all-gathered across
# processes before they are divided, so every host logs the global batch's).
SUM_KEYS = ("rows", "reward", "correct", "steps_valid", "steps_written", "step_share",
            "fully_valid", "invalid_steps", "hacked", "unparsed", "response_tokens")


def reward_sums(rewards: Sequence[Reward], response_lengths: Sequence[int]) -> np.ndarray:
    """[len(SUM_KEYS)] float64 sums of a batch's rewards."""
    return np.array([
        len(rewards), sum(r.value for r in rewards), sum(r.correct for r in rewards),
        sum(r.steps_valid for r in rewards), sum(r.steps_written for r in rewards),
        sum(r.step_share for r in rewards), sum(r.all_valid for r in rewards),
        sum(r.correct and not r.all_valid for r in rewards),
        sum(r.hacked for r in rewards), sum(r.unparsed for r in rewards),
        sum(response_lengths)], np.float64)


def reward_metrics(sums: np.ndarray) -> dict[str, float]:
    """An iteration's metrics from ``reward_sums`` (added over processes):
    the mean reward, answer accuracy, step validity (valid grounded steps /
    steps written, as evaluation's), the mean step share, fully valid
    traces, reward hacking watched (``right_answer_unverified``: the answer
    rewarded without steps that verify it; ``right_answer_invalid_steps``:
    evaluation's cell, a step invalid), unparsed output and the mean
    response length in tokens."""
    s = dict(zip(SUM_KEYS, (float(x) for x in sums)))
    n = max(s["rows"], 1.0)
    return {"reward": s["reward"] / n, "accuracy": s["correct"] / n,
            "step_validity": s["steps_valid"] / s["steps_written"] if s["steps_written"]
            else float("nan"),
            "step_share": s["step_share"] / n, "fully_valid_traces": s["fully_valid"] / n,
            "right_answer_invalid_steps": s["invalid_steps"] / n,
            "right_answer_unverified": s["hacked"] / n, "unparsed": s["unparsed"] / n,
            "response_length": s["response_tokens"] / n}
