"""Noise injection for the flawed-traces experiment.

Three corruptions, each applied to a record at its own rate (the rates are
exclusive shares: a record gets at most one corruption, so rates must sum to
at most 1):

* ``wrong_step``: one step line claims a wrong number. The step is picked
  uniformly; in its line the step's ``result`` (when the line shows it) or
  else the line's last number has its last digit changed. The final answer
  is left as it was, like the corrupted scratchpads of Lee et al. 2023.
* ``skipped_step``: one computation line (a step with a result that is not
  just one of its inputs, as in ``7 / 1 = 7``), picked uniformly, is deleted.
* ``wrong_answer``: the claimed final answer is changed: the value after the
  last ``####`` marker, or, in formats without a marker (``128+367=495``,
  ``4 9 5``), the last number of the text. Numbers get their last digit
  changed (so the value always differs); yes/no and true/false are flipped;
  any other answer gets `` not`` appended (``wrong_answer_text``).

Changing one digit keeps the number's length, so a corrupted line still
parses under the same regexes and is caught as *wrong*, not as noise.

Deterministic: the choice for a record depends only on ``NoiseConfig.seed``
and the record's id (not on the order records arrive in).
"""
from __future__ import annotations

import dataclasses
import random
import re
from typing import Any, Sequence

from rtt_jax.tasks.answers import ANSWER_MARKER, split_marker_line
from rtt_jax.tasks.base import make_rng_seed
from rtt_jax.traces.record import NOISE_KINDS, TraceRecord

_NUMBER_RE = re.compile(r"[0-9]+", re.ASCII)
_FLIPS = {"yes": "no", "no": "yes", "true": "false", "false": "true"}
_BOOL_RE = re.compile(r"\b(True|False|true|false|Yes|No|yes|no)\b")


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    wrong_step: float = 0.0
    skipped_step: float = 0.0
    wrong_answer: float = 0.0
    seed: int = 0

    def __post_init__(self):
        rates = (self.wrong_step, self.skipped_step, self.wrong_answer)
        if any(r < 0 for r in rates) or sum(rates) > 1 + 1e-9:
            raise ValueError(f"noise rates must be >= 0 and sum to <= 1, got {rates}")


def _other_digit(rng: random.Random, digit: str) -> str:
    return rng.choice([d for d in "0123456789" if d != digit])


def _change_last_digit(rng: random.Random, number: str) -> str:
    return number[:-1] + _other_digit(rng, number[-1])


def _replace_span(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def wrong_number_in_line(rng: random.Random, line: str, result: object = None) -> str | None:
    """``line`` with one number's last digit changed, or None if it has no number.

    Prefers the last standalone occurrence of ``result`` (what the step claims);
    falls back to the line's last number.
    """
    spans = [m.span() for m in _NUMBER_RE.finditer(line)]
    if not spans:
        # Truth-value steps (logic): flip the last truth word instead.
        words = list(_BOOL_RE.finditer(line))
        if not words:
            return None
        start, end = words[-1].span()
        return _replace_span(line, start, end, _flip_word(line[start:end]))
    target = spans[-1]
    want = None
    if isinstance(result, int) and not isinstance(result, bool):
        want = str(abs(result))
    elif isinstance(result, str) and result.lstrip("-").isdigit():
        want = result.lstrip("-")
    if want is not None:
        hits = [s for s in spans if line[s[0]:s[1]] == want]
        if hits:
            target = hits[-1]
    start, end = target
    return _replace_span(line, start, end, _change_last_digit(rng, line[start:end]))


def _flip_word(word: str) -> str:
    flipped = _FLIPS[word.lower()]
    return flipped.capitalize() if word[:1].isupper() else flipped


def wrong_answer_text(rng: random.Random, answer: str) -> str:
    """A different answer: last digit changed, yes/no flipped, else a suffix."""
    numbers = list(_NUMBER_RE.finditer(answer))
    if numbers:
        start, end = numbers[-1].span()
        return _replace_span(answer, start, end, _change_last_digit(rng, answer[start:end]))
    if answer.strip().lower() in _FLIPS:
        return _flip_word(answer.strip())
    return answer + " not"


def _is_identity(step) -> bool:
    """A step whose result is one of its inputs (``7 / 1 = 7``, ``13 + 0 = 13``):
    dropping it leaves a complete derivation, so it is no place for a skip."""
    return any(str(x) == str(step.result) for x in step.inputs)


def _step_line_indices(lines: Sequence[str], record: TraceRecord,
                       for_skip: bool = False) -> list[tuple[int, object]]:
    """(line index, step result) of the lines that are computation steps.

    With structured steps, a line is one when its text is the text of a step
    that has a result (plans such as "To find Ann's apples, we need Tom's."
    and restatements have none: dropping them leaves the reasoning whole);
    without structured steps, every non-marker line holding a number counts.
    ``for_skip`` also leaves out identity steps (``_is_identity``).
    """
    out = []
    by_text = {s.text.strip(): s.result for s in record.steps
               if s.result is not None and not (for_skip and _is_identity(s))}
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(ANSWER_MARKER):
            continue
        if record.steps:
            if stripped in by_text:
                out.append((i, by_text[stripped]))
        elif _NUMBER_RE.search(stripped):
            out.append((i, None))
    return out


def corrupt(record: TraceRecord, kind: str, rng: random.Random) -> TraceRecord | None:
    """``record`` with one corruption of ``kind``, or None if it has no place for it."""
    lines = record.text.split("\n")
    if kind == "wrong_answer":
        for i in range(len(lines) - 1, -1, -1):
            parts = split_marker_line(lines[i])  # linear: no regex on long lines
            if parts is not None:
                head, answer, tail = parts
                new_answer = wrong_answer_text(rng, answer)
                lines[i] = head + new_answer + tail
                return record.replace(text="\n".join(lines), answer=new_answer, noise=kind)
        numbers = list(_NUMBER_RE.finditer(record.text))
        if not numbers:
            return None
        start, end = numbers[-1].span()
        text = _replace_span(record.text, start, end,
                             _change_last_digit(rng, record.text[start:end]))
        return record.replace(text=text, noise=kind)
    candidates = _step_line_indices(lines, record, for_skip=kind == "skipped_step")
    if not candidates:
        return None
    i, result = rng.choice(candidates)
    if kind == "skipped_step":
        del lines[i]
    elif kind == "wrong_step":
        changed = wrong_number_in_line(rng, lines[i], result)
        if changed is None:
            return None
        lines[i] = changed
    else:
        raise ValueError(f"unknown noise kind {kind!r}; known: {NOISE_KINDS}")
    # The structured steps no longer describe the text; drop them.
    return record.replace(text="\n".join(lines), steps=(), noise=kind)


class NoiseInjector:
    """Applies ``NoiseConfig`` to records; counts what it did in ``counts``."""

    def __init__(self, config: NoiseConfig):
        self.config = config
        self.counts = {kind: 0 for kind in NOISE_KINDS} | {"clean": 0, "no_place": 0}

    def kind_for(self, record: TraceRecord) -> tuple[str | None, random.Random]:
        rng = random.Random(make_rng_seed(self.config.seed, "noise", record.id))
        u = rng.random()
        edge = 0.0
        for kind in NOISE_KINDS:
            edge += getattr(self.config, kind)
            if u < edge:
                return kind, rng
        return None, rng

    def __call__(self, record: TraceRecord) -> TraceRecord:
        kind, rng = self.kind_for(record)
        if kind is None:
            self.counts["clean"] += 1
            return record
        out = corrupt(record, kind, rng)
        if out is None:
            self.counts["no_place"] += 1
            return record
        self.counts[kind] += 1
        return out


def catch_rates(family_name: str, problems_per_level: int = 30, seed: int = 0) -> dict[str, Any]:
    """How often the family's checkers catch each corruption of its program traces.

    Returns ``{kind: {"tried", "caught", "rate"}}`` plus ``no_place`` counts;
    records the family does not itself verify are left out.
    """
    from rtt_jax.traces.teachers import ProgramTeacher
    from rtt_jax import tasks
    from rtt_jax.traces.verify import check_record
    family = tasks.get(family_name)
    teacher = ProgramTeacher()
    out: dict[str, Any] = {k: {"tried": 0, "caught": 0} for k in NOISE_KINDS}
    out["no_place"] = {k: 0 for k in NOISE_KINDS}
    for level in family.train_levels:
        for index in range(problems_per_level):
            for clean in teacher.teach(family.generate(seed, index, level)):
                if not check_record(clean, family).verified:
                    continue
                for kind in NOISE_KINDS:
                    rng = random.Random(make_rng_seed(seed, "catch", clean.id, kind))
                    bad = corrupt(clean, kind, rng)
                    if bad is None:
                        out["no_place"][kind] += 1
                        continue
                    out[kind]["tried"] += 1
                    out[kind]["caught"] += not check_record(bad, family).verified
    for kind in NOISE_KINDS:
        tried = out[kind]["tried"]
        out[kind]["rate"] = round(out[kind]["caught"] / tried, 4) if tried else None
    return out


if __name__ == "__main__":
    # python -m rtt_jax.traces.noise [N] [family ...]: catch rates as JSON lines.
    import json
    import sys

    from rtt_jax import tasks
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    for name in sys.argv[2:] or tasks.names():
        print(json.dumps({"family": name, **catch_rates(name, n)}, sort_keys=True))
