"""Probes: measurements an evaluation adds to its report under ``report["probes"]``.

A probe is a small pluggable piece (big_vision's evaluators in miniature):
``name`` and ``measure(completions, logprob_fn) -> dict``, where
``completions`` maps each eval set's name to ``(EvalSet, prompts, raw
completions, scored texts)`` and ``logprob_fn(contexts, continuations,
prompts) -> [log p(continuation | context)]`` is the model's (None when the
evaluator has no model, e.g. an API); each context is its prompt followed by
the first lines of a completion, so a model that numbers positions by line
(``model.positions=coupled``) scores the lines where it would write them.
``probes_from_spec`` builds the ones a checked ``config.eval`` asks for.

``MisconceptionProbe`` (``eval.misconception``): how much of a
misconception (``rtt_jax.traces.misconception``) a model holds, on the
``bug_applies`` set (``evaluation.extra_sets``):

* from its samples: of the lines it wrote where the bug applies, the share
  written the buggy way (``buggy_line_rate``), in the text it stands by
  (after retracted lines are set aside), and the buggy lines it wrote and
  then retracted (``retracted_buggy_lines``);
* from log-probabilities: at each line of the *correct* trace where the bug
  applies, teacher-forced up to that line's ``=``, the probability of the
  buggy result against the correct ones (exact or reduced mod 10), each
  followed by a newline: ``buggy_probability`` (its mean share) and
  ``buggy_preferred_rate`` (how often the buggy result is the likeliest).
  Samples say what greedy decoding writes; log-probabilities say how much of
  the belief is in the model even where greedy decoding hides it.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

LogprobFn = Callable[[Sequence[str], Sequence[str], Sequence[str]], Sequence[float]]
# At most this many log-probability probes per evaluation (a trace of level 8
# has up to 8 lines; each probe scores 2-3 continuations).
MAX_LOGPROB_PROBES = 400


class MisconceptionProbe:
    name = "misconception"

    def __init__(self, misconception: str, set_name: str,
                 max_logprob_probes: int = MAX_LOGPROB_PROBES):
        from rtt_jax.evaluation.extra_sets import MISCONCEPTIONS
        if misconception not in MISCONCEPTIONS:
            raise ValueError(f"unknown misconception {misconception!r}; known: {MISCONCEPTIONS}")
        self.misconception, self.set_name = misconception, set_name
        self.max_logprob_probes = max_logprob_probes

    def measure(self, completions: Mapping[str, tuple], logprob_fn: LogprobFn | None
                ) -> dict[str, Any]:
        from rtt_jax.traces import misconception as bug
        if self.set_name not in completions:
            return {"misconception": self.misconception, "error": f"no set {self.set_name}"}
        eval_set, prompts, _, scored = completions[self.set_name]
        counts = {bug.APPLIES_BUGGY: 0, bug.APPLIES_CORRECT: 0, bug.APPLIES_OTHER: 0}
        retracted_buggy = 0
        for s in scored:
            text = s.text if isinstance(s.text, str) else ""
            for line in text.split("\n"):
                verdict = bug.classify_line(line)
                if verdict is not None:
                    counts[verdict] += 1
            retracted_buggy += sum(bug.classify_line(ln) == bug.APPLIES_BUGGY
                                   for ln in s.retracted)
        applicable = sum(counts.values())
        out: dict[str, Any] = {
            "misconception": self.misconception, "set": self.set_name,
            "problems": len(eval_set.problems), "lines_applicable": applicable,
            "lines_buggy": counts[bug.APPLIES_BUGGY],
            "lines_correct": counts[bug.APPLIES_CORRECT],
            "buggy_line_rate": counts[bug.APPLIES_BUGGY] / applicable if applicable else None,
            "retracted_buggy_lines": retracted_buggy,
            "retracted_buggy_per_problem": retracted_buggy / max(len(eval_set.problems), 1)}
        if logprob_fn is not None:
            out.update(self._logprobs(eval_set, prompts, logprob_fn))
        return out

    def _logprobs(self, eval_set, prompts, logprob_fn: LogprobFn) -> dict[str, Any]:
        from rtt_jax.traces import misconception as bug
        items = []  # (prompt, context, [correct continuations], buggy continuation)
        for problem, prompt in zip(eval_set.problems, prompts):
            for probe in bug.probes(problem):
                items.append((prompt, prompt + probe.prefix, [c + "\n" for c in probe.correct],
                              probe.buggy + "\n"))
                if len(items) >= self.max_logprob_probes:
                    break
            if len(items) >= self.max_logprob_probes:
                break
        contexts, continuations, item_prompts = [], [], []
        for prompt, context, correct, buggy in items:
            for c in (*correct, buggy):
                contexts.append(context)
                continuations.append(c)
                item_prompts.append(prompt)
        scores = list(logprob_fn(contexts, continuations, item_prompts))
        shares, preferred, k = [], 0, 0
        for _, _, correct, _ in items:
            lp = scores[k:k + len(correct) + 1]
            k += len(correct) + 1
            top = max(lp)
            total = sum(math.exp(v - top) for v in lp)
            shares.append(math.exp(lp[-1] - top) / total)
            preferred += lp[-1] > max(lp[:-1])
        n = len(items)
        return {"logprob_probes": n,
                "buggy_probability": sum(shares) / n if n else None,
                "buggy_preferred_rate": preferred / n if n else None}


def probes_from_spec(spec) -> list:
    """The probes a checked ``EvalSpec`` asks for."""
    out = []
    if spec.misconception:
        from rtt_jax.traces import misconception
        out.append(MisconceptionProbe(spec.misconception,
                                      f"{misconception.FAMILY}/bug_applies"))
    return out
