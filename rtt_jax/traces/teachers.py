"""Teachers: where traces come from.

* ``ProgramTeacher``: the families' own solvers, all styles or chosen ones.
* ``JsonlTeacher``: traces written by any LLM or person in the record schema
  (``rtt_jax.traces.record``); a bad record raises ``TraceFormatError``
  naming ``file:line``.
* ``ModelTeacher``: samples ``k`` completions per problem from a
  ``sample_fn(prompts, k) -> list[list[str]]`` (the KV-cache sampler plugs in
  here) and keeps those whose answer and every step verify.

Every teacher yields ``TraceRecord``s. Program and JSONL teachers do not judge
their traces; the filters do (``rtt_jax.traces.filters``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from rtt_jax import tasks
from rtt_jax.tasks import FamilyLookup
from rtt_jax.tasks.answers import extract_final_answer
from rtt_jax.tasks.base import Problem
from rtt_jax.traces.record import (TraceFormatError, TraceRecord, iter_json_lines,
                                   problem_fields, record_from_json)
from rtt_jax.traces.verify import check_record

SampleFn = Callable[[list[str], int], list[list[str]]]


def completion_of(family: Any, problem: Problem, style: str) -> tuple[str, str]:
    """(prompt, completion) the way the family formats its examples."""
    return family.format_example(problem, style)


def record_prompt(record: TraceRecord, family_lookup: FamilyLookup = tasks.get) -> str:
    """The prompt a trace record trains with: the family's own prompt for the
    record's style (evaluation prompts are written the same way, cue line
    included), else the question and a newline (a ``model`` style, an
    imported record of a family we do not have)."""
    try:
        family = family_lookup(record.problem.family)
        if record.style in getattr(family, "styles", ()):
            return completion_of(family, record.problem, record.style)[0]
    except (KeyError, ValueError, ImportError):
        pass
    question = record.problem.question
    return question if question.endswith("\n") else question + "\n"


class ProgramTeacher:
    """Traces from the families' solvers.

    ``styles`` maps a family name to the styles to write; a family absent
    from it (or ``styles=None``) gets every style it has.
    """

    def __init__(self, styles: Mapping[str, Sequence[str]] | None = None,
                 family_lookup: FamilyLookup = tasks.get):
        self._styles = dict(styles or {})
        self._lookup = family_lookup

    def styles_for(self, family_name: str) -> tuple[str, ...]:
        family = self._lookup(family_name)
        chosen = tuple(self._styles.get(family_name) or family.styles)
        unknown = [s for s in chosen if s not in family.styles]
        if unknown:
            raise ValueError(f"{family_name}: unknown styles {unknown}; known: {family.styles}")
        return chosen

    def teach(self, problem: Problem) -> list[TraceRecord]:
        family = self._lookup(problem.family)
        styles = self.styles_for(problem.family)
        if hasattr(family, "styles_for"):
            # External sources (reasoning-gym) have traces only for some items.
            available = family.styles_for(problem)
            styles = tuple(s for s in styles if s in available)
        out = []
        for style in styles:
            trace = family.solve(problem, style)
            _, completion = completion_of(family, problem, style)
            out.append(TraceRecord(problem=problem, style=style, text=completion,
                                   answer=trace.answer, steps=tuple(trace.steps),
                                   source="program", teacher="program"))
        return out


class JsonlTeacher:
    """Imports trace records from JSONL files.

    A problem given by reference (family, seed, index, level and no
    question) is regenerated with the family's generator; if a question is
    also given it must match the regenerated one, so that a trace cannot be
    attached to a problem it does not solve. ``teacher`` overrides the
    records' teacher label (e.g. the model that wrote them).
    """

    def __init__(self, paths: str | Sequence[str], teacher: str | None = None,
                 family_lookup: FamilyLookup = tasks.get):
        self._paths = [paths] if isinstance(paths, str) else list(paths)
        self._teacher = teacher
        self._lookup = family_lookup

    def _problem(self, obj: Any, where: str) -> Problem:
        if not isinstance(obj, Mapping):
            raise TraceFormatError(f"{where}: a trace record must be a JSON object")
        fields = problem_fields(obj.get("problem"), where)
        if fields["question"] is None:
            coords = [fields[k] for k in ("seed", "index", "level")]
            if None in coords:
                raise TraceFormatError(f"{where}: problem needs either question and answer, "
                                       "or seed, index and level to regenerate it")
            try:
                family = self._lookup(fields["family"])
                return family.generate(*coords)
            except (KeyError, ValueError) as e:
                raise TraceFormatError(f"{where}: cannot regenerate problem: {e}") from None
        if fields["answer"] is None:
            raise TraceFormatError(f"{where}: problem has a question but no answer")
        for key in ("seed", "index", "level"):
            fields[key] = fields[key] if fields[key] is not None else 0
        return Problem(**fields)

    def __iter__(self) -> Iterator[TraceRecord]:
        for path in self._paths:
            for where, obj in iter_json_lines(path):
                record = record_from_json(obj, where, problem=self._problem(obj, where))
                if self._teacher is not None:
                    record = record.replace(teacher=self._teacher)
                yield record


@dataclasses.dataclass
class SamplingStats:
    problems: int = 0
    samples: int = 0
    kept: int = 0
    answer_wrong: int = 0
    steps_invalid: int = 0
    duplicates: int = 0  # a problem's repeated sample, dropped unchecked
    problems_solved: int = 0  # with at least one kept sample
    # samples == kept + answer_wrong + steps_invalid + duplicates


class ModelTeacher:
    """Rejection sampling from a model: keep completions that fully verify.

    ``sample_fn(prompts, k)`` returns, for each prompt, ``k`` completion
    strings. Prompts are the families' own prompts for ``prompt_style``.
    ``style_label="model"`` (default): the style only shapes the prompt,
    records are labelled ``model`` and the checkers accept any style;
    ``"prompted"``: records carry the prompted style and must verify in it,
    so they train with that style's prompt (as ``OpenAITeacher``'s option).
    Kept records carry ``source="model"``, ``teacher=name`` and their
    verdicts. ``dedupe_within_problem`` drops repeated identical samples.
    ``hint(problem) -> str``, when given, is appended to every prompt (STaR's
    rationalisation: the answer given as a hint); the records keep the
    problem, so they train without it, and ``name`` should mark them.
    """

    def __init__(self, sample_fn: SampleFn, k: int, name: str = "model",
                 prompt_style: Mapping[str, str] | None = None,
                 dedupe_within_problem: bool = True,
                 family_lookup: FamilyLookup = tasks.get,
                 hint: Callable[[Problem], str] | None = None,
                 style_label: str = "model"):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if style_label not in ("model", "prompted"):
            raise ValueError(f"style_label must be 'model' or 'prompted', got {style_label!r}")
        self._style_label = style_label
        self._sample_fn = sample_fn
        self.k = k
        self.name = name
        self._prompt_style = dict(prompt_style or {})
        self._dedupe = dedupe_within_problem
        self._lookup = family_lookup
        self._hint = hint
        self.stats = SamplingStats()

    def _prompt(self, problem: Problem) -> str:
        prompt = self._plain_prompt(problem)
        return prompt + self._hint(problem) if self._hint is not None else prompt

    def _style(self, problem: Problem, family) -> str | None:
        styles = tuple(getattr(family, "styles", ()))
        return self._prompt_style.get(problem.family) or (styles[0] if styles else None)

    def _plain_prompt(self, problem: Problem) -> str:
        family = self._lookup(problem.family)
        style = self._style(problem, family)
        if style is None:
            return problem.question + "\n"
        try:
            return completion_of(family, problem, style)[0]
        except ValueError:  # e.g. a reasoning-gym item our solvers cannot write
            return problem.question + "\n"

    def teach_batch(self, problems: Sequence[Problem]) -> list[TraceRecord]:
        prompts = [self._prompt(p) for p in problems]
        samples = self._sample_fn(prompts, self.k)
        if len(samples) != len(problems) or any(len(s) != self.k for s in samples):
            raise ValueError(f"sample_fn must return {len(problems)} lists of {self.k} "
                             f"completions, got lengths {[len(s) for s in samples]}")
        kept: list[TraceRecord] = []
        for problem, completions in zip(problems, samples):
            self.stats.problems += 1
            family = self._lookup(problem.family)
            label = (self._style(problem, family) if self._style_label == "prompted"
                     else None) or "model"
            seen: set[str] = set()
            solved = False
            for text in completions:
                self.stats.samples += 1
                if not isinstance(text, str):
                    self.stats.answer_wrong += 1
                    continue
                if self._dedupe and text in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(text)
                record = TraceRecord(problem=problem, style=label, text=text,
                                     answer=extract_final_answer(text), source="model",
                                     teacher=self.name)
                verdicts = check_record(record, family)
                if not verdicts.answer_correct:
                    self.stats.answer_wrong += 1
                elif not (verdicts.all_steps_valid and verdicts.answer_follows):
                    self.stats.steps_invalid += 1
                else:
                    self.stats.kept += 1
                    solved = True
                    kept.append(record.replace(verdicts=verdicts))
            self.stats.problems_solved += solved
        return kept

    def teach(self, problems: Iterable[Problem], batch_size: int = 64) -> Iterator[TraceRecord]:
        batch: list[Problem] = []
        for p in problems:
            batch.append(p)
            if len(batch) == batch_size:
                yield from self.teach_batch(batch)
                batch = []
        if batch:
            yield from self.teach_batch(batch)
