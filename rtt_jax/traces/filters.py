"""Trace filters: which records a dataset keeps, and why the others went.

Rules run cheapest first; a record is dropped for the first rule it fails,
and the report counts that one reason:

1. format (``format:*``): non-empty text; a final ``####`` answer marker when
   the family uses one (``require_marker``); at most ``max_chars`` characters,
   ``max_lines`` lines and ``max_line_chars`` per line; no control
   characters other than newline and tab, and valid Unicode (no lone surrogates).
2. ``answer_wrong``: the family's ``check_answer`` rejects the text.
3. ``steps_invalid:<kind>``: the family's ``check_steps`` finds, worst
   first, ``wrong_arithmetic`` (a step computes wrongly), ``unparseable``
   (a step it cannot read), ``ungrounded`` (a step uses a number from
   nowhere; only with ``require_grounded_steps``), ``no_steps`` (nothing to
   check) or ``answer_not_derived`` (the final answer is not what the steps
   computed). Wrong arithmetic and ungrounded numbers are separate reasons,
   so a card shows which one a dataset loses, and the grounding requirement
   can be switched off (human solutions state numbers in prose that the
   checker cannot trace) without letting wrong arithmetic through.
4. ``style_cap``: the problem already has ``max_traces_per_problem`` kept
   traces (several styles per problem are wanted, unbounded repeats are not).
5. ``exact_duplicate`` / ``near_duplicate``: the text (with its question) is
   the same as, or a MinHash-LSH near-duplicate of, a kept one
   (``rtt_jax.traces.dedup``).

Noise-injected records (``record.noise`` set) skip rules 2 and 3 on purpose:
the flawed-traces experiment trains on them. ``FilterConfig`` fields are the
``filters`` block of ``configs/traces/*.py``. ``FilterReport.step_problems``
counts every problem the step check saw (not only the first), kept records
included: with grounding off, how many kept traces have ungrounded steps.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any, Iterable, Iterator

from rtt_jax import tasks
from rtt_jax.tasks import FamilyLookup
from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.traces.dedup import NearDuplicateIndex
from rtt_jax.traces.record import TraceRecord
from rtt_jax.traces.verify import check_record

_CONTROL = frozenset(chr(c) for c in range(32)) - {"\n", "\t"}


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    require_correct_answer: bool = True
    require_valid_steps: bool = True
    # With False, a step whose arithmetic is right but whose numbers the
    # checker cannot trace to the question or earlier steps still passes.
    require_grounded_steps: bool = True
    require_marker: bool = True  # only for styles whose text has a marker
    max_chars: int = 6000
    max_lines: int = 400
    max_line_chars: int = 400
    max_traces_per_problem: int = 8
    dedup_threshold: float = 0.95  # Jaccard; >= 1.0 keeps exact dedup only
    dedup_num_perm: int = 64
    dedup_shingle: int = 5
    verify_noisy: bool = False  # also apply rules 2-3 to noise-injected records


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates cannot be written to the JSONL file
        return False


def format_problem(record: TraceRecord, cfg: FilterConfig, needs_marker: bool) -> str | None:
    """The first format rule ``record.text`` breaks, or None."""
    text = record.text
    if not text.strip():
        return "format:empty"
    if len(text) > cfg.max_chars:
        return "format:too_long"
    lines = text.split("\n")
    if len(lines) > cfg.max_lines:
        return "format:too_many_lines"
    if any(len(line) > cfg.max_line_chars for line in lines):
        return "format:line_too_long"
    if any(ch in _CONTROL for ch in text):
        return "format:control_chars"
    if not _utf8_ok(text):
        return "format:bad_unicode"
    if needs_marker and not any(line.lstrip().startswith(ANSWER_MARKER) for line in lines):
        return "format:no_answer_marker"
    return None


@dataclasses.dataclass
class FilterReport:
    """Counts of records seen, kept and dropped per reason, overall and per family."""

    seen: int = 0
    kept: int = 0
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    by_family: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # Every step problem of every checked record ("ungrounded" counted even
    # when the switch lets it through), per family: kind -> records.
    step_problems: dict[str, collections.Counter] = dataclasses.field(default_factory=dict)

    def flag(self, family: str, problems: list[str]) -> None:
        counter = self.step_problems.setdefault(family, collections.Counter())
        counter.update(problems)

    def count(self, family: str, reason: str | None) -> None:
        self.seen += 1
        fam = self.by_family.setdefault(family, {"seen": 0, "kept": 0, "dropped": {}})
        fam["seen"] += 1
        if reason is None:
            self.kept += 1
            fam["kept"] += 1
        else:
            self.dropped[reason] += 1
            fam["dropped"][reason] = fam["dropped"].get(reason, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {"seen": self.seen, "kept": self.kept, "dropped": dict(sorted(self.dropped.items())),
                "by_family": {k: v for k, v in sorted(self.by_family.items())},
                "step_problems": {k: dict(sorted(v.items()))
                                  for k, v in sorted(self.step_problems.items())}}


class TraceFilter:
    """Stateful filter (dedup and per-problem caps remember what was kept)."""

    def __init__(self, config: FilterConfig = FilterConfig(),
                 family_lookup: FamilyLookup = tasks.get):
        self.config = config
        self._lookup = family_lookup
        self.report = FilterReport()
        self._per_problem: collections.Counter = collections.Counter()
        self._index = NearDuplicateIndex(threshold=config.dedup_threshold,
                                         num_perm=config.dedup_num_perm,
                                         shingle=config.dedup_shingle)
        self._marker_styles: dict[tuple[str, str], bool] = {}

    def _needs_marker(self, record: TraceRecord, family: Any) -> bool:
        """Whether this family/style's own reference text carries a marker.

        Lee et al.'s published formats carry the answer without one; asking
        for it there would drop every correct trace.
        """
        if not self.config.require_marker:
            return False
        key = (record.family, record.style)
        if key not in self._marker_styles:
            needs = True
            if record.style in getattr(family, "styles", ()):
                try:
                    reference = family.format_example(record.problem, record.style)[1]
                    needs = ANSWER_MARKER in reference
                except (ValueError, KeyError):
                    needs = True
            self._marker_styles[key] = needs
        return self._marker_styles[key]

    def reason_to_drop(self, record: TraceRecord) -> tuple[str | None, TraceRecord]:
        """(first failed rule or None, the record with verdicts filled in)."""
        cfg = self.config
        family = self._lookup(record.family)
        reason = format_problem(record, cfg, self._needs_marker(record, family))
        if reason is not None:
            return reason, record
        if record.noise is None or cfg.verify_noisy:
            if cfg.require_correct_answer or cfg.require_valid_steps:
                record = record.replace(verdicts=check_record(record, family))
                v = record.verdicts
                if cfg.require_correct_answer and not v.answer_correct:
                    return "answer_wrong", record
                if cfg.require_valid_steps:
                    problems = v.step_problems(require_grounded=True)
                    self.report.flag(record.family, problems)
                    if not cfg.require_grounded_steps and "ungrounded" in problems:
                        problems.remove("ungrounded")
                    if problems:
                        return f"steps_invalid:{problems[0]}", record
        problem_key = (record.family, record.problem.seed, record.problem.level,
                       record.problem.index, record.problem.question)
        if self._per_problem[problem_key] >= cfg.max_traces_per_problem:
            return "style_cap", record
        # The question is part of the dedup text: two problems with the same
        # solution text are different examples.
        before = self._index.stats.exact_duplicates
        if not self._index.add(record.id, record.problem.question + "\n" + record.text):
            exact = self._index.stats.exact_duplicates > before
            return ("exact_duplicate" if exact else "near_duplicate"), record
        self._per_problem[problem_key] += 1
        return None, record

    def __call__(self, records: Iterable[TraceRecord]) -> Iterator[TraceRecord]:
        for record in records:
            reason, record = self.reason_to_drop(record)
            self.report.count(record.family, reason)
            if reason is None:
                yield record
