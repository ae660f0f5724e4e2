"""Checking the steps of a GSM8K-style solution: its claims, their verdicts.

How model text is checked (it is untrusted; nothing is ``eval``-ed): each line
yields its claims, either its ``<<expr=result>>`` annotations or, if it has
none, its surface equations ``expr = number`` where ``expr`` contains an
operator (read by ``rtt_jax.tasks.gsm8k_prose``). Expressions go through
``safe_arith``. A claim is valid when the expression's exact value equals the
claimed number, or rounds to it at the claimed number of decimals (``10/3 =
3.33``). It is grounded when every number it uses is in the question (``50%``
also counts as ``0.5``), a result claimed earlier, 0, 1, 2 or 100, a fact the
question's words call for (``rtt_jax.tasks.gsm8k_numbers``: "three" is 3,
"dozen" 12, "week" 7 and 52, "hour" 60...) or a number the prose derived
(``rtt_jax.tasks.gsm8k_grounding``). An annotation's claim must also match the
number written right after it (``<<9*2=18>>18``). The final answer follows
(``answer_follows``) when it equals a result claimed by a step.

``judge_lines(question, lines)`` judges a solution's lines in order;
``rtt_jax.tasks.gsm8k`` (the GSM8K family and loader) is built on it.
"""
from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from typing import Sequence

from rtt_jax.tasks import gsm8k_prose as prose
from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.tasks.base import INVALID, UNPARSEABLE, VALID, StepVerdict
from rtt_jax.tasks.gsm8k_grounding import AlgebraStep, ProseFacts
from rtt_jax.tasks.gsm8k_numbers import COMMON_CONSTANTS, question_numbers, word_numbers
from rtt_jax.tasks.safe_arith import (NUMBER_PATTERN, SafeArithError, evaluate, evaluate_node,
                                      format_number, number_values, parse, parse_number)

_ANNOTATION_RE = re.compile(r"<<([^<>\n]{0,300})>>")
# "\s*(?:[$€£]\s*)?", never "\s*[$€£]?\s*": two adjacent \s* split a run of
# spaces in quadratically many ways before the match fails.
_WRITTEN_AFTER_RE = re.compile(r"\s*(?:[$€£]\s*)?(-?" + NUMBER_PATTERN + r"(?:/[0-9]{1,12})?)")
_NO_CURRENCY = str.maketrans({"$": "", "€": "", "£": ""})
UNGROUNDED = "ungrounded"  # the reason's word for a number from nowhere
_MAX_LINES = 200
_MAX_CLAIMS = 200


@dataclasses.dataclass(frozen=True)
class Claim:
    expression: str
    claimed: str
    line: str
    annotated: bool = False  # from a <<expr=result>> annotation
    written: str | None = None  # the number written right after the annotation
    algebra: AlgebraStep | None = None  # an equation with an unknown


def _surface_claims(line: str) -> list[Claim]:
    """``A = B`` calculations written in plain text, left to right.

    Each link of a chain is one claim (``9 * 10 - 7 = 90 - 7 = 83`` claims
    ``9 * 10 - 7`` is ``90 - 7`` and ``90 - 7`` is 83). Algebra (``4x+12 =
    56``, ``B - 35 = 16``, ``= 5A``) is not a numeric claim and is skipped
    here (``gsm8k_grounding.ProseFacts`` reads it), as are equations whose
    left side computes nothing (``x = 5``, ``150 = 150``).
    """
    out = []
    for chain in prose.chains(line):
        for a, b in zip(chain, chain[1:]):
            if prose.is_numeric_claim(a, b):
                out.append(Claim(a.text, b.text.translate(_NO_CURRENCY).strip(), line))
    return out


def _bare_annotation_expression(line: str, m: re.Match) -> str | None:
    """For ``36 - 8 = <<28=28>>28``, whose annotation computes nothing: the
    written expression ``36 - 8`` right before it, if there is one."""
    before = strip_annotations(line[:m.start()]).rstrip()
    if not before.endswith("="):
        return None
    found = prose.chains(before + " 0")
    if not found or len(found[-1]) < 2:
        return None
    a, b = found[-1][-2], found[-1][-1]
    return a.text if prose.is_numeric_claim(a, b) else None


def claims_in_line(line: str) -> list[Claim]:
    annotations = list(_ANNOTATION_RE.finditer(line))
    if annotations:
        out = []
        for m in annotations:
            left, eq, right = m.group(1).rpartition("=")
            expression = left if eq else m.group(1)
            if eq and not any(ch in expression for ch in "+-*/x×÷%("):
                expression = _bare_annotation_expression(line, m) or expression
            written = _WRITTEN_AFTER_RE.match(line, m.end())
            out.append(Claim(expression, right if eq else "", line,
                             annotated=True, written=written.group(1) if written else None))
        return out
    return _surface_claims(line)


_DECIMALS_RE = re.compile(r"-?[0-9,]*\.([0-9]+)")
_WRITTEN_NUMBER_RE = re.compile(r"\s*[$€£]?\s*(-?(?:[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+))\s?%?\s*")
_PERCENT_WORDS_RE = re.compile(r"%|\bpercent|\bcents?\b", re.IGNORECASE)
# "100 / 3 = 33, with 1 remaining": a whole number of times, not the quotient.
_PERCENT_AS_UNIT_RE = re.compile(r"(?<![0-9.])100\s?%|\)\s?%")
_ROUNDS_RE = re.compile(r"\bround", re.IGNORECASE)
_WHOLE_TIMES_RE = re.compile(r"remain|left over|leftover|\bfull\b|\bwhole\b|\bcomplete", re.IGNORECASE)


def _close_enough(value: Fraction, claimed: Fraction, claimed_text: str) -> bool:
    """Equal, or equal to the places shown: rounded (10/3 = 3.33, not 3.34)
    or cut off (3/21 = 14.28%). A percent is compared as written (16.66%)."""
    if value == claimed:
        return True
    m = _WRITTEN_NUMBER_RE.fullmatch(claimed_text)
    d = _DECIMALS_RE.fullmatch(m.group(1)) if m else None
    if d is None or claimed == 0:
        return False
    written = parse_number(m.group(1))
    if not written:
        return False
    shown = value * written / claimed  # the value in the written number's scale
    unit = Fraction(1, 10 ** len(d.group(1)))
    cut = (abs(shown) // unit) * unit * (1 if shown >= 0 else -1)
    return abs(shown - written) * 2 <= unit or cut == written


def _claimed_value(text: str) -> Fraction | None:
    # Annotations occasionally claim a fraction ("3/4=3/4"); evaluate covers it,
    # and a written chain claims an expression ("= 90 - 7 = 83").
    return evaluate(prose.to_arithmetic(text).replace(",", "")) if text else None


@dataclasses.dataclass
class Judgement:
    """What ``judge_lines`` found: the claims, one verdict each, the claimed
    results in order (plus values solved for in prose), and the facts."""

    claims: list[Claim]
    verdicts: list[StepVerdict]
    results: list[Fraction]
    facts: ProseFacts


def _arith_match(c: Claim, value: Fraction, claimed: Fraction, claimed_text: str) -> Fraction | None:
    """The number the claim rightly says ``value`` is, if it does: usually
    ``claimed``; B's first number when the "=" runs on."""
    if _close_enough(value, claimed, claimed_text):
        return claimed
    # "600 / 50 = 12 * 60 = 720": the "=" runs on, A is B's first number.
    try:
        first = number_values(parse(prose.to_arithmetic(claimed_text)))[:1]
    except (SafeArithError, RecursionError):
        first = []
    if first and first[0] != claimed and value == first[0]:
        return Fraction(first[0])
    # "100 / 3 = 33 with 1 remaining": whole times.
    if (value.denominator != 1 and claimed == value.numerator // value.denominator
            and _WHOLE_TIMES_RE.search(c.line)):
        return claimed
    # "$1 / 2 = 50 cents".
    number = claimed_text.strip()
    if value * 100 == claimed and len(number) < 20 and re.search(r"(?<![0-9.])" + re.escape(number) + r"\s*cents?\b",
                                            c.line):
        return claimed
    return None


def _judge(c: Claim, facts: ProseFacts) -> tuple[StepVerdict, Fraction | None]:
    """The claim's verdict and its claimed value (None if unreadable).

    A percent sign is a hundredth ("20 * 40% = 8"); where that reading
    fails, "* 100%" or a bracket's "%" may be a unit (".6 x 100% = 60",
    "(45/300*100)% = 15%"), and so may a "%" on both sides. "20 * 40% = 800"
    stays wrong."""
    readings = []
    pairs = [(c.expression, c.claimed)]
    if _PERCENT_AS_UNIT_RE.search(c.expression) or "%" in c.expression and "%" in c.claimed:
        pairs.append((c.expression.replace("%", ""), c.claimed.replace("%", "")))
    for expression, claimed_text in pairs:
        try:
            node = parse(prose.to_arithmetic(expression))
            value = Fraction(evaluate_node(node))
        except (SafeArithError, RecursionError, ZeroDivisionError):
            continue
        readings.append((node, value, _claimed_value(claimed_text), claimed_text))
    if not readings:
        return StepVerdict(c.line[:200], UNPARSEABLE, False,
                           f"cannot evaluate {c.expression[:60]!r}"), None
    if readings[0][2] is None:
        return StepVerdict(c.line[:200], UNPARSEABLE, False,
                           f"result {c.claimed[:30]!r} is not a number"), None
    node, value, claimed, _ = readings[0]
    ok = False
    for r_node, r_value, r_claimed, r_text in readings:
        said = None if r_claimed is None else _arith_match(c, r_value, r_claimed, r_text)
        if said is not None:
            node, value, claimed, ok = r_node, r_value, said, True
            break
    ungrounded = [format_number(v) for v in facts.ungrounded(node)]
    reason = "" if ok else f"{c.expression} is {format_number(value)}, not {c.claimed}"
    if ok and c.written is not None and _claimed_value(c.written) not in (claimed, value):
        ok, reason = False, f"annotation says {c.claimed} but the text says {c.written}"
    if ungrounded:
        reason = (reason + "; " if reason else "") + f"{UNGROUNDED} {', '.join(ungrounded[:5])}"
    return StepVerdict(c.line[:200], VALID if ok else INVALID, not ungrounded, reason), claimed


def _add_algebra(out: "Judgement", steps: Sequence[AlgebraStep], line: str) -> None:
    """A valid, grounded step for each equation that derived numbers."""
    for step in steps:
        out.claims.append(Claim(step.left, step.right, line, algebra=step))
        out.verdicts.append(StepVerdict(line[:200], VALID, True, f"algebra ({step.status})"))


def judge_lines(question: str, lines: Sequence[str]) -> Judgement:
    """Judge every claim of ``lines`` (solution lines, without the ``####``
    line) in order. Before and after a line's claims, its prose is read for
    the numbers it derives (``gsm8k_grounding.ProseFacts``), so a claim is
    grounded by the question, an earlier result, a common constant or a
    number the prose derived before it."""
    facts = ProseFacts(question_numbers(question) | COMMON_CONSTANTS,
                             percent=bool(_PERCENT_WORDS_RE.search(question)))
    out = Judgement([], [], [], facts)
    for line in lines[:_MAX_LINES]:
        claims = claims_in_line(line)[:_MAX_CLAIMS - len(out.claims)]
        surface = strip_annotations(line)
        facts.percent = facts.percent or "%" in surface
        said = prose.statements(surface)
        facts.state(said.before)
        if len(surface) <= prose.MAX_LINE_CHARS:
            facts.state(word_numbers(surface))
        facts.compute(said.expressions)
        algebra = facts.absorb(surface)
        _add_algebra(out, algebra, line)
        for c in claims:
            verdict, claimed = _judge(c, facts)
            out.claims.append(c)
            out.verdicts.append(verdict)
            if claimed is not None:
                out.results.append(claimed)
                facts.add(claimed)
                pct = prose.percent_literal(c.claimed)
                if pct is not None:  # "= 30%" also states the number 30
                    out.results.append(pct)
                    facts.add(pct)
        if claims:  # what the line's results make derivable
            seen = {(a.left, a.right) for a in algebra}
            _add_algebra(out, [a for a in facts.absorb(surface)
                               if (a.left, a.right) not in seen], line)
        facts.state(said.after)
        if len(out.claims) >= _MAX_CLAIMS:
            break
    out.results.extend(facts.solutions.values())
    return out


def judge_claims(question: str, claims: Sequence[Claim]) -> tuple[list[StepVerdict], list[Fraction]]:
    """One verdict per claim, and the claimed results in order (claims taken
    from their lines: ``judge_lines`` over the distinct lines they come from)."""
    lines = list(dict.fromkeys(c.line for c in claims))
    j = judge_lines(question, lines)
    return j.verdicts, j.results


def solution_lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines()[:_MAX_LINES]:
        line = raw.strip()
        if line and not line.startswith(ANSWER_MARKER):
            out.append(line)
    return out


def solution_claims(text: str) -> list[Claim]:
    return [c for line in solution_lines(text) for c in claims_in_line(line)]


def strip_annotations(text: str) -> str:
    return _ANNOTATION_RE.sub("", text)


def answer_follows(final: Fraction, j: Judgement, question: str, text: str = "") -> bool:
    """The final answer is a computed result; or, when the question asks for
    a percentage, a computed fraction times 100 (``12/15 = .8``, ``#### 80``);
    or, when the text says it rounds, a result rounded to a whole number
    (``15.36 minutes, which rounds down to 15``)."""
    if final in j.results:
        return True
    if _PERCENT_WORDS_RE.search(question) and final / 100 in j.results:
        return True
    if final.denominator == 1 and _ROUNDS_RE.search(text):
        return any(r.denominator != 1 and final in (r.numerator // r.denominator,
                                                    r.numerator // r.denominator + 1)
                   for r in j.results)
    return False

