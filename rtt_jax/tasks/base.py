"""Core types shared by every task family: Problem, Step, Trace, StepReport.

A task family is a seeded, index-addressable generator of problems plus
solvers that write step-by-step traces and checkers that read text back.
Nothing here imports JAX; tasks are plain Python so that they can run in Grain
workers, data-building CLIs and tests alike.

Text conventions (shared with `rtt_jax.data` formatting and evaluation):

* A trace's rendered text is its steps, one per line (``Trace.text``).
* A complete solution ends with a final-answer marker line ``#### <answer>``
  (GSM8K's convention). ``extract_final_answer`` takes the *last* marker.
  Families whose published formats carry the answer differently (Lee et al.
  2023 addition formats) say so in their ``extract_answer``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, runtime_checkable

ANSWER_MARKER = "####"
# Model text is untrusted: cap what a checker is willing to read.
MAX_CHECK_CHARS = 20_000



@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem instance; a pure function of (family, seed, index, level)."""

    family: str
    seed: int
    index: int
    level: int
    question: str  # the prompt text shown to a model
    answer: str  # canonical final answer, as a string
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # JSON-able

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"data": dict(self.data)}


@dataclasses.dataclass(frozen=True)
class Step:
    """One claimed computation or inference in a trace.

    ``op`` names the operation (``add``, ``sub``, ``mul``, ``divmod``,
    ``infer``, ...), ``inputs`` its operands and ``result`` what the step
    claims; ``text`` is the rendered line a model sees.
    """

    op: str
    inputs: tuple[Any, ...]
    result: Any
    text: str


@dataclasses.dataclass(frozen=True)
class Trace:
    family: str
    style: str
    steps: tuple[Step, ...]
    answer: str
    # Some published formats (e.g. Lee et al.) are not "one step per line";
    # such a solver supplies the exact text here.
    rendered: str | None = None

    @property
    def text(self) -> str:
        if self.rendered is not None:
            return self.rendered
        return "\n".join(s.text for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "style": self.style,
            "steps": [dataclasses.asdict(s) for s in self.steps],
            "answer": self.answer,
            "text": self.text,
        }


VALID, INVALID, UNPARSEABLE = "valid", "invalid", "unparseable"


@dataclasses.dataclass(frozen=True)
class StepVerdict:
    line: str
    verdict: str  # VALID | INVALID | UNPARSEABLE
    grounded: bool  # inputs come from the problem or earlier steps
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class StepReport:
    steps: tuple[StepVerdict, ...]
    answer_follows: bool  # the final answer is what the steps computed

    @property
    def valid(self) -> int:
        return sum(s.verdict == VALID and s.grounded for s in self.steps)

    @property
    def invalid(self) -> int:
        return sum(s.verdict == INVALID or (s.verdict == VALID and not s.grounded)
                   for s in self.steps)

    @property
    def unparseable(self) -> int:
        return sum(s.verdict == UNPARSEABLE for s in self.steps)

    @property
    def all_valid(self) -> bool:
        return bool(self.steps) and self.valid == len(self.steps)


def split_marker_line(line: str) -> tuple[str, str, str] | None:
    """``(head, answer, tail)`` of a ``####`` marker line, else None.

    A marker line is optional spaces/tabs, ``####``, then the answer; ``head``
    is everything up to the answer and ``tail`` its trailing spaces/tabs, so
    ``head + answer + tail == line``. String methods, not a regex: the regex
    ``^[ \t]*####[ \t]*(.*?)[ \t]*$`` backtracks over a long run of spaces
    and took seconds on one 20,000-character model line.
    """
    body = line.lstrip(" \t")
    if not body.startswith(ANSWER_MARKER):
        return None
    rest = body[len(ANSWER_MARKER):]
    answer = rest.lstrip(" \t")
    head = line[:len(line) - len(answer)]
    stripped = answer.rstrip(" \t")
    return head, stripped, answer[len(stripped):]


def extract_final_answer(text: str) -> str | None:
    """The text after the last ``####`` marker line, or None if there is none.

    Lines end at ``\n`` only (a ``\r`` stays in the answer for the caller's
    ``strip``). Linear in ``len(text)``: each line is looked at once, from the end.
    """
    text = text[-MAX_CHECK_CHARS:]
    end = len(text)
    while True:
        hit = text.rfind(ANSWER_MARKER, 0, end)
        if hit < 0:
            return None
        start = text.rfind("\n", 0, hit) + 1
        stop = text.find("\n", hit)
        parts = split_marker_line(text[start:stop if stop >= 0 else len(text)])
        if parts is not None:
            return parts[1]
        end = start  # this line has a '####' but not at its start: look above it


@runtime_checkable
class TaskFamily(Protocol):
    name: str
    styles: tuple[str, ...]
    levels: range  # every level that exists
    train_levels: range  # the levels a default curriculum trains on

    def generate(self, seed: int, index: int, level: int) -> Problem: ...

    def solve(self, problem: Problem, style: str) -> Trace: ...

    def check_answer(self, problem: Problem, text: str) -> bool: ...

    def check_steps(self, problem: Problem, text: str) -> StepReport: ...


class CuedFamily:
    """What the cue-prompted families (expressions, linear_equation, logic,
    word_problem, counting) share: seeding by (seed, name, level, index) and
    the prompt ``question + cue line`` / completion ``trace + #### answer``.

    A subclass sets ``name``, ``levels``, ``style_cues`` (style -> cue line)
    and implements ``solve``.
    """

    name: str
    levels: range
    style_cues: Mapping[str, str]

    def seeded_rng(self, seed: int, index: int, level: int):
        import random
        if level not in self.levels:
            raise ValueError(f"{self.name}: level {level} not in {self.levels}")
        return random.Random(make_rng_seed(seed, self.name, level, index))

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        trace = self.solve(problem, style)  # type: ignore[attr-defined]
        return (f"{problem.question}\n{self.style_cues[style]}\n",
                f"{trace.text}\n{ANSWER_MARKER} {trace.answer}")


def make_rng_seed(*parts: Any) -> int:
    """A stable 64-bit seed from (seed, family, level, index, ...).

    Python's ``hash`` is salted per process, so we derive seeds from a keyed
    blake2b digest instead: same arguments, same seed, on every machine.
    """
    import hashlib

    h = hashlib.blake2b(repr(parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


