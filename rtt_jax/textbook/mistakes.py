"""Common mistakes, made by corrupting one step of a real solver trace.

``find_mistake(family, problem, trace, rng)`` picks a step, rewrites its
result the way a learner typically gets it wrong (a forgotten carry, a missing
borrow, a dropped place-value zero, a sign error, adding instead of
multiplying, ...), and keeps the corruption only if the family's own
``check_steps`` flags the corrupted trace. So every "wrong line" a section
shows is really wrong, and the corrected line is the solver's original.

Only the result number in the line is rewritten, matched as a whole token
(the last occurrence, which is where every solver writes its result). The one
exception is modular's carry slip: a line that starts from an earlier result
carried on wrongly mod 10 (``-7`` carried on as ``7`` instead of ``3``, ``12``
as its tens digit ``1``), which is the whole line redone from the wrong start.
"""
from __future__ import annotations

import dataclasses
import random
import re

from rtt_jax.tasks.base import Problem, Step, Trace
from rtt_jax.textbook import skills as skills_lib


@dataclasses.dataclass(frozen=True)
class Mistake:
    step_index: int
    wrong_line: str
    right_line: str
    wrong_value: str
    right_value: str
    kind: str  # the name of the slip, e.g. "forgetting the carry"
    why: str  # one sentence saying what went wrong


def _int(x) -> int | None:
    if isinstance(x, bool):
        return None
    try:
        return int(str(x))
    except ValueError:
        return None


def _main_result(step: Step):
    """The value a line ends with: the result, or a divmod's remainder."""
    r = step.result
    if isinstance(r, tuple) and len(r) == 2 and all(_int(v) is not None for v in r):
        return r[1]
    return r


def _replace_last(text: str, old: str, new: str) -> str | None:
    # Whole-token match: "5" must not match inside "25" or "-5" or "5.5".
    # A sentence-final "." is fine; a decimal point is not.
    before = r"(?<![\w.])" if old.startswith("-") else r"(?<![\w.\-])"
    pat = re.compile(before + re.escape(old) + r"(?!\w|\.\d)")
    found = list(pat.finditer(text))
    if not found:
        return None
    m = found[-1]
    return text[:m.start()] + new + text[m.end():]


def _rewrite_column(step: Step, right: str, wrong: str) -> str | None:
    """Column lines state the result twice ("= 14, write 4, carry 1"); keep them consistent."""
    if step.op not in ("add_column", "sub_column"):
        return None
    r, w = int(right), int(wrong)
    if step.op == "add_column":
        old, new = f"= {r}, write {r % 10}, carry {r // 10}", f"= {w}, write {w % 10}, carry {w // 10}"
    else:
        old, new = f"= {r}, write {r}", f"= {w}, write {w}"
    return step.text.replace(old, new) if old in step.text else None


def _rewrite_head(family: str, step: Step, right: str, wrong: str) -> str | None:
    """Modular's rewrite lines (``=3+6-4``) state their result first, not last."""
    if family != "modular" or not step.text.startswith("="):
        return None
    m = re.match(r"= ?(-?[0-9]+)", step.text)
    if not m or m[1] != right:
        return None
    return step.text[:m.start(1)] + wrong + step.text[m.end(1):]


def _modular_candidates(step: Step) -> list[tuple[int, str, str]]:
    """Slips inside one modular line: ``x ± y = z`` with z the exact result
    (a wrong value is kept only if it is not z mod 10 either, which the checker
    would accept), and ``t mod 10 = r``."""
    r, ins = step.result, [_int(v) for v in step.inputs]
    if isinstance(r, bool) or not isinstance(r, int) or len(ins) != 2 or None in ins:
        return []
    out: list[tuple[int, str, str]] = []
    if step.op == "mod":
        t = ins[0]
        if t < 0:
            out.append(((-t) % 10, "reducing a negative number as if it were positive",
                        f"{t} is negative, so its remainder mod 10 is {t} + {r - t} = {r}, "
                        f"not the last digit of {-t}"))
        elif t >= 10:
            out.append(((t // 10) % 10, "keeping the wrong digit",
                        f"mod 10 keeps the [last|ones] digit of {t}, which is {r}[, not its tens digit|]"))
        out.append(((r + 1) % 10, "an arithmetic slip",
                    f"there is [a small arithmetic slip|a slip in the reduction|a miscount]; {t} mod 10 [is|is really|should be] {r}"))
        return [o for o in out if o[0] != r]
    x, y = ins
    if step.op == "sub":
        e, expr, minus = x - y, f"{x} - {y}", True
    elif step.op == "add":  # pairwise operands are strings: "-9" is a subtraction
        minus = str(step.inputs[1]).startswith("-")
        e, expr = x + y, f"{step.inputs[0]} {'-' if minus else '+'} {abs(y)}"
    else:
        return []
    if r != e:  # a line already reduced: not what the solver writes
        return []
    if e < 0 and minus and 0 <= x:
        out.append((-e, "subtracting the wrong way round",
                    f"{expr} is {e}, not {-e}: taking {abs(y)} away from the smaller number {x} "
                    f"[goes below zero|lands below zero|gives a negative number], and the line keeps the exact result"))
    elif e < 0 and x < 0:
        out.append((-e, "a sign error",
                    f"{expr} is {e}, not {-e}: starting from {step.inputs[0]}, the result [keeps|still has] "
                    f"its minus sign"))
    out.append((e + 1 if e % 2 else e - 1, "an arithmetic slip",
                f"there is [a small arithmetic slip|a miscalculation|one wrong sum]; [exactly|worked out exactly|done carefully], {expr} = {e}"))
    # z and z mod 10 both make a valid line, so a slip must differ from both.
    return [o for o in out if o[0] % 10 != e % 10]


def _modular_carry_slips(trace: Trace, i: int) -> list[tuple[str, str, str, str, str]]:
    """(wrong line, wrong start, right start, kind, why): line ``i`` redone from
    an earlier result carried on wrongly mod 10, for each operand of it that
    carries on a result outside 0-9. In a chain the wrong line is valid
    arithmetic from an ungrounded start; in ``rewrite`` it changes the value."""
    step = trace.steps[i]
    ins = [_int(v) for v in step.inputs]
    if step.op not in ("add", "sub") or len(ins) != 2 or None in ins or step.result is None:
        return []
    out = []
    for pos, src in enumerate(skills_lib.modular_sources(trace)[i]):
        if src is None:
            continue
        z, v = trace.steps[src].result, ins[pos]
        if isinstance(z, bool) or not isinstance(z, int) or z == v or z % 10 != v:
            continue  # not carried on mod 10 (the exact style keeps totals)
        if z < 0:
            w, kind = (-z) % 10, "dropping the minus sign when carrying on"
            why = (f"the earlier result {z} carries on as {z} + {v - z} = {v}, not as {w}: "
                   f"dropping its minus sign [changes its value mod 10|gives a different remainder]")
        else:
            w, kind = (z // 10) % 10, "carrying on the tens digit"
            why = f"the earlier result {z} carries on as its [last|ones] digit, {v}, not as its tens digit, {w}"
        if w == v:
            continue
        if trace.style == "pairwise":
            xs, ys = str(step.inputs[0]), str(step.inputs[1])
            yv = ins[1]
            if pos == 0:
                line = f"{w}{ys if ys.startswith('-') else '+' + ys}={w + yv}"
            else:
                line = f"{xs}+{w}={ins[0] + w}"
        else:
            new = w + ins[1] if step.op == "add" else w - ins[1]
            if trace.style == "rewrite":
                line = _rewrite_head("modular", step, str(step.result), str(new))
            else:
                line = f"{w}{'+' if step.op == 'add' else '-'}{ins[1]}={new}"
        if line:
            out.append((line, str(w), str(v), kind, why))
    return out


def _candidates(family: str, step: Step) -> list[tuple[str, str, str]]:
    """(wrong value, kind, why) options for one step, most typical first."""
    if family == "modular":
        return [(str(w), k, why) for w, k, why in _modular_candidates(step) if w != step.result]
    r = _main_result(step)
    if isinstance(r, bool):
        return [(str(not r), "mixing up the truth values",
                 f"the value [should be|is really|must be] {r}: [check|recheck|ask] which of 'and', 'or' and 'not' applies[| here| at this point]")]
    ri = _int(r)
    if ri is None:
        return []
    ins = [_int(v) for v in step.inputs]
    out: list[tuple[int, str, str]] = []
    if step.op == "add_column" and ins[2] == 1:
        out.append((ri - 1, "forgetting the carry", f"the carry of 1 [from the previous column|from the column to the right] was [left out|forgotten|dropped], so the column gives {ri - 1} instead of {ri}"))
    if step.op == "sub_column" and ins[2] == 1:
        out.append(((ri + 1) % 10, "forgetting the borrow", "the 1 borrowed by the previous column was [not taken away|forgotten|never paid back]"))
    if step.op == "mul" and ri >= 10 and ri % 10 == 0:
        out.append((ri // 10, "a place-value slip", f"a zero [went missing|was dropped|was left off], so the product came out ten times too small ({ri // 10} instead of {ri})"))
    if step.op in ("mul",) and len(ins) == 2 and None not in ins and ins[0] + ins[1] != ri:
        out.append((ins[0] + ins[1], "adding instead of multiplying", f"{ins[0]} and {ins[1]} were added, but the [problem|question|step] [asks for|needs] {ins[0]} times {ins[1]}"))
    if step.op == "add_mul" and None not in ins:
        wrong = (ins[0] + ins[1]) * ins[2]
        if wrong != ri:
            out.append((wrong, "an order-of-operations slip", f"{ins[0]} + {ins[1]} was added before multiplying by {ins[2]}; the product {ins[1]} * {ins[2]} must come first"))
    if step.op == "div" and len(ins) == 2 and None not in ins and ins[0] * ins[1] != ri:
        out.append((ins[0] * ins[1], "choosing the wrong operation", f"{ins[0]} was multiplied by {ins[1]} where the [problem|statement] says to divide"))
    if family in ("expressions", "linear_equation") and ri != 0:
        out.append((-ri, "a sign error", f"the [sign was lost|minus sign went astray|sign got flipped]: the value is {ri}, not {-ri}"))
    if step.op == "divmod" or family == "division":
        out.append((ri + 1, "a remainder slip", f"the remainder [was worked out|came out] one too high; the [true|correct] value is {ri}"))
    elif step.op == "sub":
        out.append((ri + 1, "a subtraction slip", f"the subtraction [was off by one|missed by one]; the [true|correct] value is {ri}"))
    out.append((ri + 1 if ri % 2 else ri - 1 if ri else 1, "an arithmetic slip",
                f"there is [a small arithmetic slip|a miscalculation|a simple slip]; [recomputing|working it again|redoing it] gives {ri}"))
    return [(str(w), k, why) for w, k, why in out if w != ri]


def _flagged(fam, problem: Problem, lines: list[str], answer: str) -> bool:
    report = fam.check_steps(problem, "\n".join(lines) + f"\n#### {answer}")
    return not report.all_valid


def find_mistake(fam, problem: Problem, trace: Trace, rng: random.Random) -> Mistake | None:
    """A corrupted step that ``check_steps`` flags, or None if none is found.

    Steps whose candidate matches the skill's typical slip are tried first,
    then the rest in a seeded order.
    """
    typical = next((s.mistake for s in skills_lib.skills(fam.name) if s.style == trace.style), "")
    lines = [s.text for s in trace.steps]
    order = list(range(len(trace.steps)))
    rng.shuffle(order)
    options = []
    for i in order:
        right = str(_main_result(trace.steps[i]))
        for wrong, kind, why in _candidates(fam.name, trace.steps[i]):
            options.append((kind != typical, i, wrong, right, kind, why, None))
        if fam.name == "modular":  # whole lines started from a wrongly carried result
            for line, wrong, start, kind, why in _modular_carry_slips(trace, i):
                options.append((kind != typical, i, wrong, start, kind, why, line))
    options.sort(key=lambda o: o[0])  # stable: typical slips first, seeded order within
    for _, i, wrong, right, kind, why, line in options[:12]:
        bad = line or (_rewrite_column(trace.steps[i], right, wrong)
                       or _rewrite_head(fam.name, trace.steps[i], right, wrong)
                       or _replace_last(lines[i], right, wrong))
        if bad is None or bad == lines[i]:
            continue
        if _flagged(fam, problem, lines[:i] + [bad] + lines[i + 1:], trace.answer):
            return Mistake(i, bad, lines[i], wrong, right, kind, why)
    return None
