"""Core types shared by every task family: Problem, Step, Trace, StepReport.

A task family is a seeded, index-addressable generator of problems plus
solvers that write step-by-step traces and checkers that read text back.
Nothing here imports JAX; tasks are plain Python so that they can run in Grain
workers, data-building CLIs and tests alike.

Text conventions (shared with `rtt_jax.data` formatting and evaluation):

* A trace's rendered text is its steps, one per line (``Trace.text``).
* A complete solution ends with a final-answer marker line ``#### <answer>``
  (GSM8K's convention; ``rtt_jax.tasks.answers``, which also holds the one
  rule for text too long to read). Families whose published formats carry
  the answer differently (Lee et al. 2023 addition formats) say so in their
  ``extract_answer``.

``TaskFamily`` is the contract every family meets, the generated ones (built
on ``rtt_jax.tasks.family.Family``) and the adapters for external sources
(GSM8K, reasoning-gym) alike.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, runtime_checkable


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
        """Steps that are wrong or ungrounded (``wrong`` + ``ungrounded``)."""
        return sum(s.verdict == INVALID or (s.verdict == VALID and not s.grounded)
                   for s in self.steps)

    @property
    def unparseable(self) -> int:
        return sum(s.verdict == UNPARSEABLE for s in self.steps)

    @property
    def wrong(self) -> int:
        """Steps whose arithmetic is wrong (grounded or not)."""
        return sum(s.verdict == INVALID for s in self.steps)

    @property
    def ungrounded(self) -> int:
        """Steps whose arithmetic is right but that use a number from nowhere."""
        return sum(s.verdict == VALID and not s.grounded for s in self.steps)

    @property
    def all_valid(self) -> bool:
        return bool(self.steps) and self.valid == len(self.steps)


@runtime_checkable
class TaskFamily(Protocol):
    """What callers may use of a family; ``rtt_jax.tasks.get(name)`` returns one.

    Checkers take untrusted text: anything that is not a string, or is longer
    than ``answers.MAX_CHECK_CHARS``, is wrong (``check_answer`` False,
    ``extract_answer`` None, ``check_steps`` one unparseable step), never an
    exception. ``style=None`` means "any of the family's styles".
    """

    name: str
    styles: tuple[str, ...]
    levels: range  # every level that exists
    train_levels: range  # the levels a default curriculum trains on

    def generate(self, seed: int, index: int, level: int) -> Problem: ...

    def solve(self, problem: Problem, style: str) -> Trace: ...

    def format_example(self, problem: Problem, style: str) -> tuple[str, str]:
        """(prompt, completion); the completion ends with ``#### answer``
        (Lee et al.'s addition formats keep their published form)."""
        ...

    def extract_answer(self, problem: Problem, text: str,
                       style: str | None = None) -> str | None: ...

    def check_answer(self, problem: Problem, text: str, style: str | None = None) -> bool: ...

    def check_steps(self, problem: Problem, text: str,
                    style: str | None = None) -> StepReport: ...


def make_rng_seed(*parts: Any) -> int:
    """A stable 64-bit seed from (seed, family, level, index, ...).

    Python's ``hash`` is salted per process, so we derive seeds from a keyed
    blake2b digest instead: same arguments, same seed, on every machine.
    """
    import hashlib

    h = hashlib.blake2b(repr(parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


