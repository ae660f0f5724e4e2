"""The trace record: one solved problem, as stored in trace datasets.

JSONL schema ``rtt_jax.trace/1`` (one JSON object per line, UTF-8)::

    {
      "schema":  "rtt_jax.trace/1",          # optional on import, checked if present
      "problem": {                           # the problem the trace solves
        "family":   str,                     # task family name (required)
        "seed":     int, "index": int, "level": int,
        "question": str, "answer": str,      # reference answer, as a string
        "data":     {...}                    # family-specific, JSON-able
      },
      "style":   str,                        # solver style, or a teacher's label
      "text":    str,                        # the completion a model is trained on:
                                             # step lines, then "#### <answer>"
      "answer":  str | null,                 # the answer the trace claims
      "steps":   [{"op", "inputs", "result", "text"}, ...],  # may be []
      "source":  "program" | "model" | "import" | "human",
      "teacher": str,                        # e.g. "program", "gsm8k-human", "gpt-x"
      "noise":   null | "wrong_step" | "skipped_step" | "wrong_answer",
      "verdicts": null | {"answer_correct": bool, "all_steps_valid": bool,
                          "answer_follows": bool, "steps_valid": int,
                          "steps_invalid": int, "steps_unparseable": int,
                          "steps_ungrounded": int}
    }

A problem can be given *by reference* on import: ``family``, ``seed``,
``index`` and ``level`` without ``question``; the importer regenerates it
(see ``teachers.JsonlTeacher``). ``answer`` may be omitted on import; it is
then parsed from ``text``'s last ``####`` line.

``render_text`` / ``parse_text`` are the text half of the format: step lines
plus a final marker line, and back.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from fractions import Fraction
from typing import Any, Iterable, Iterator, Mapping, Sequence

from rtt_jax import json_lines
from rtt_jax.cli_errors import naming
from rtt_jax.tasks.answers import ANSWER_MARKER, extract_final_answer
from rtt_jax.tasks.base import Problem, Step, StepReport

SCHEMA = "rtt_jax.trace/1"
SOURCES = ("program", "model", "import", "human")
NOISE_KINDS = ("wrong_step", "skipped_step", "wrong_answer")


class TraceFormatError(ValueError):
    """A record that does not follow the schema; the message names file:line."""


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """The checkers' findings on one record. Steps fall in four kinds:
    ``steps_valid`` (right and grounded), ``steps_invalid`` (wrong
    arithmetic), ``steps_ungrounded`` (right, but using a number from
    nowhere) and ``steps_unparseable``. ``all_steps_valid``: every step right
    and grounded. Records written before ``steps_ungrounded`` existed counted
    ungrounded steps in ``steps_invalid`` (and read back with 0 here)."""

    answer_correct: bool
    all_steps_valid: bool
    answer_follows: bool
    steps_valid: int
    steps_invalid: int
    steps_unparseable: int
    steps_ungrounded: int = 0

    @classmethod
    def from_checks(cls, answer_correct: bool, report: StepReport) -> "Verdicts":
        return cls(bool(answer_correct), report.all_valid, bool(report.answer_follows),
                   report.valid, report.wrong, report.unparseable, report.ungrounded)

    def step_problems(self, require_grounded: bool = True) -> list[str]:
        """What is wrong with the steps, worst first (empty: they verify):
        ``wrong_arithmetic``, ``unparseable``, ``ungrounded`` (only when
        ``require_grounded``), ``no_steps``, ``answer_not_derived`` (the final
        answer is not what the steps computed)."""
        out = []
        if self.steps_invalid:
            out.append("wrong_arithmetic")
        if self.steps_unparseable:
            out.append("unparseable")
        if self.steps_ungrounded and require_grounded:
            out.append("ungrounded")
        if not (self.steps_valid or self.steps_ungrounded or self.steps_invalid
                or self.steps_unparseable):
            out.append("no_steps")
        if not self.answer_follows:
            out.append("answer_not_derived")
        return out

    @property
    def verified(self) -> bool:
        """The answer is right, every step is valid and grounded, and the
        answer is what the steps computed."""
        return self.answer_correct and self.all_steps_valid and self.answer_follows


@dataclasses.dataclass(frozen=True)
class TraceRecord:
    problem: Problem
    style: str
    text: str
    answer: str | None
    steps: tuple[Step, ...] = ()
    source: str = "program"
    teacher: str = "program"
    noise: str | None = None
    verdicts: Verdicts | None = None

    @property
    def family(self) -> str:
        return self.problem.family

    @property
    def id(self) -> str:
        """Stable identifier: the problem's coordinates, style, teacher and a
        digest of the text (two teachers may solve one problem identically)."""
        p = self.problem
        digest = hashlib.blake2b(self.text.encode(), digest_size=6).hexdigest()
        return f"{p.family}/{p.seed}/{p.level}/{p.index}/{self.style}/{self.teacher}/{digest}"

    def replace(self, **changes: Any) -> "TraceRecord":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "problem": _jsonable(self.problem.to_json()),
            "style": self.style,
            "text": self.text,
            "answer": self.answer,
            "steps": [_jsonable(dataclasses.asdict(s)) for s in self.steps],
            "source": self.source,
            "teacher": self.teacher,
            "noise": self.noise,
            "verdicts": None if self.verdicts is None else dataclasses.asdict(self.verdicts),
        }

    def to_line(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True)


def render_text(step_lines: Sequence[str], answer: str) -> str:
    """Step lines, then the final-answer marker line."""
    return "\n".join([*step_lines, f"{ANSWER_MARKER} {answer}"])


@dataclasses.dataclass(frozen=True)
class ParsedText:
    step_lines: tuple[str, ...]
    answer: str | None


def parse_text(text: str) -> ParsedText:
    """Inverse of ``render_text``: non-empty non-marker lines, last marker's answer."""
    lines = tuple(line for line in (raw.rstrip() for raw in text.splitlines())
                  if line.strip() and not line.lstrip().startswith(ANSWER_MARKER))
    return ParsedText(lines, extract_final_answer(text))


# --------------------------------------------------------------------------
# JSON <-> record


def _jsonable(x: Any) -> Any:
    """Tuples become lists, Fractions become "p/q" strings (JSON has neither)."""
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    return x


def _tupled(x: Any) -> Any:
    return tuple(_tupled(v) for v in x) if isinstance(x, list) else x


def _encodable(text: str) -> bool:
    """False for strings JSON can carry but UTF-8 files cannot (lone surrogates)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _need(d: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise TraceFormatError(f"{where}: missing field {key!r}")
    value = d[key]
    # bool is an int subclass; a level of `true` is a schema error, not level 1.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise TraceFormatError(
            f"{where}: field {key!r} must be {_type_names(types)}, got {type(value).__name__}")
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: type | tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in _as_tuple(types))


def problem_fields(obj: Any, where: str) -> dict[str, Any]:
    """Validated ``problem`` fields; question/answer/data may be absent (by reference)."""
    if not isinstance(obj, Mapping):
        raise TraceFormatError(f"{where}: field 'problem' must be an object")
    out: dict[str, Any] = {"family": _need(obj, "family", str, where)}
    for key in ("seed", "index", "level"):
        out[key] = _need(obj, key, int, where) if key in obj else None
    for key in ("question", "answer"):
        out[key] = _need(obj, key, str, where) if key in obj else None
    out["data"] = _need(obj, "data", dict, where) if "data" in obj else {}
    return out


def record_from_json(obj: Any, where: str, problem: Problem | None = None) -> TraceRecord:
    """A record from its JSON object; ``where`` ("file:line") prefixes errors.

    ``problem`` overrides the record's own problem fields (used by importers
    that regenerate a problem given by reference).
    """
    if not isinstance(obj, Mapping):
        raise TraceFormatError(f"{where}: a trace record must be a JSON object, "
                               f"got {type(obj).__name__}")
    if obj.get("schema", SCHEMA) != SCHEMA:
        raise TraceFormatError(f"{where}: schema {obj.get('schema')!r} is not {SCHEMA!r}")
    if problem is None:
        fields = problem_fields(obj.get("problem"), where)
        missing = [k for k, v in fields.items() if v is None]
        if missing:
            raise TraceFormatError(f"{where}: problem lacks {', '.join(missing)}")
        problem = Problem(**fields)
    text = _need(obj, "text", str, where)
    for name, value in (("text", text), ("question", problem.question)):
        if not _encodable(value):
            raise TraceFormatError(f"{where}: field {name!r} is not valid Unicode (lone surrogate)")
    answer = obj.get("answer", extract_final_answer(text))
    if answer is not None and not isinstance(answer, str):
        raise TraceFormatError(f"{where}: field 'answer' must be str or null")
    source = obj.get("source", "import")
    if source not in SOURCES:
        raise TraceFormatError(f"{where}: source {source!r} not one of {SOURCES}")
    noise = obj.get("noise")
    if noise is not None and noise not in NOISE_KINDS:
        raise TraceFormatError(f"{where}: noise {noise!r} not one of {NOISE_KINDS}")
    steps = []
    for i, s in enumerate(_need(obj, "steps", list, where) if "steps" in obj else []):
        if not isinstance(s, Mapping) or not isinstance(s.get("text"), str):
            raise TraceFormatError(f"{where}: steps[{i}] must be an object with a 'text' string")
        steps.append(Step(str(s.get("op", "")), _tupled(list(s.get("inputs") or [])),
                          _tupled(s.get("result")), s["text"]))
    verdicts = obj.get("verdicts")
    if verdicts is not None:
        try:
            verdicts = Verdicts(**verdicts)
        except TypeError as e:
            raise TraceFormatError(f"{where}: bad 'verdicts': {e}") from None
    return TraceRecord(problem=problem, style=_need(obj, "style", str, where) if "style" in obj
                       else "imported", text=text, answer=answer, steps=tuple(steps),
                       source=source, teacher=str(obj.get("teacher", source)), noise=noise,
                       verdicts=verdicts)


def iter_json_lines(path: str) -> Iterator[tuple[str, Any]]:
    """(``"path:line"``, parsed object) for each non-blank line of a JSONL file.

    A line that is not UTF-8, nests too deep or is not JSON raises
    TraceFormatError naming ``path:line`` (``rtt_jax.json_lines``)."""
    lines = json_lines.iter_json_lines(path)
    while True:
        try:
            lineno, obj = next(lines)
        except StopIteration:
            return
        except json_lines.JsonLineError as e:
            raise TraceFormatError(str(e)) from None
        yield f"{path}:{lineno}", obj


def read_records(path: str) -> Iterator[TraceRecord]:
    """Every record of a JSONL file written by ``write_records`` (full problems)."""
    for where, obj in iter_json_lines(path):
        yield record_from_json(obj, where)


def write_records(path: str, records: Iterable[TraceRecord]) -> int:
    n = 0
    with naming(path), open(path, "w", encoding="utf-8") as f:  # a full disk names the file
        for r in records:
            f.write(r.to_line() + "\n")
            n += 1
    return n
