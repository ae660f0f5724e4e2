"""Synthetic textbook sections, one per (family, seed, index, level).

``section(family, seed, index, level)`` composes a section that teaches one
skill of a task family: a rule or definition, one or two worked examples with
every step explained in words (some set in a small story, estimated first
and checked another way afterwards, some solved a second way by another
skill of the family), a common mistake shown and corrected, exercises with
worked solutions, sometimes notes (key terms, why the method works, tips)
and a closing sentence (some look back at the first worked example). ``TextbookSource`` exposes sections as a random-access
source (``source[i]``), in the same spirit as the synthetic trace sources:
item ``i`` is a pure function of (families, levels, seed, i).

Correctness by construction: every worked example and exercise solution is a
solver trace (``fam.solve``) printed line for line, and ``parts`` records the
problem's (seed, index, level) and the lines, so a test can regenerate the
problem and run the family's ``check_steps`` on them (a second method's
lines too: ``parts["worked"][k]["second"]``; a closing recap's line count
and answer: ``parts["recap"]``). Mistakes come from
``mistakes.find_mistake``, which keeps a corruption only if ``check_steps``
flags it. Settings, estimates and checks (``contexts``, ``checks``) compute
their numbers from the problem's data, and are recorded in ``parts`` too.

A problem's question is printed as ``questions.restate`` words it (recorded
as ``asked`` beside the generator's ``question``): the same numbers and
formulas in one of several phrasings.

Problems are drawn with a seed derived from ("textbook-problems", seed), not
``seed`` itself, so textbook examples are not the training or evaluation
problems of the same seed.
"""
from __future__ import annotations

import dataclasses
import random
import re
from typing import Any, Mapping, Sequence

from rtt_jax import tasks
from rtt_jax.tasks.base import Problem, Trace, make_rng_seed
from rtt_jax.textbook import checks, contexts, mistakes, notes, questions, variations
from rtt_jax.textbook import skills as skills_lib
from rtt_jax.textbook import templates as T


@dataclasses.dataclass(frozen=True)
class Section:
    text: str
    family: str
    level: int
    template_id: str
    parts: Mapping[str, Any]  # JSON-able: skill, order, rule, worked, mistake, exercises

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "family": self.family, "level": self.level,
                "template_id": self.template_id, "skill": self.parts["skill"],
                "style": self.parts["style"], "parts": dict(self.parts)}


# Families whose rule phrasings build one argument across sentences: never recombined.
_WHOLE_RULES = ("modular",)
# Families whose every step is explained: a modular line's words name its own
# carry (12 carries on as 2), so no line repeats what an earlier one said.
_EVERY_STEP_EXPLAINED = ("modular",)
# Longer solutions are not narrated as one paragraph: the words would sit far
# from their lines, and a section of bare lines reads as a dump of numbers
# (the heuristic rules' punctuated-line share).
_MAX_NARRATED_STEPS = 8
# A worked example is sometimes solved a second way, by another skill of the
# family (long division, then chunking), when both solutions have a few
# steps (a one-line second method says nothing) and the second is short
# enough to read beside the first.
_SECOND_METHOD_P = 0.15
_MIN_SECOND_STEPS, _MAX_SECOND_STEPS = 3, 10
# How often a rule is given in brief (a lead sentence and the rule at work)
# rather than whole: the many whole phrasings carry the most distinct text.
_BRIEF_RULE_P = 0.3
# A sentence that leans on the one before it cannot start a recombined rule's tail.
_DEPENDENT = ("This", "That", "It ", "They", "These", "Then", "So ", "Each ", "Here", "Once")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z'])")


def _sentences(text: str) -> list[str]:
    return [x for x in _SENTENCE_END.split(text.strip()) if x]


def _lc(title: str) -> str:
    # Keep proper nouns and acronyms ("Euclid's", "GCD") capitalised.
    first = title.split()[0]
    return title if first[:2].isupper() or first.startswith("Euclid") else title[0].lower() + title[1:]


class _Composer:
    """Renders one section; holds the rng so draws happen in a fixed order."""

    def __init__(self, fam, skill: skills_lib.Skill, choice: T.TemplateChoice,
                 rng: random.Random, problem_seed: int, level: int):
        self.fam, self.skill, self.c, self.rng = fam, skill, choice, rng
        self.problem_seed, self.level = problem_seed, level

    def pick(self, options: Sequence[str]) -> str:
        return T.vary(options[self.rng.randrange(len(options))], self.rng)

    def problem(self) -> tuple[Problem, Trace]:
        p = self.fam.generate(self.problem_seed, self.rng.randrange(2 ** 31), self.level)
        return p, self.fam.solve(p, self.skill.style)

    def subhead(self, h: str) -> str:
        return T.SUBHEADS[self.c.subhead].format(h=h, dashes="-" * len(h)) if h else ""

    def steps(self, trace: Trace, explained: bool) -> str:
        if not explained:
            return "\n".join(s.text for s in trace.steps)
        whys, explained_ops = [], set()
        for n, step in enumerate(trace.steps, 1):
            # A kind of step is explained the first time; repeats of it are
            # often left for the reader to follow, as a textbook would.
            if (self.fam.name not in _EVERY_STEP_EXPLAINED and step.op in explained_ops
                    and self.rng.random() < 0.6):
                whys.append("")
                continue
            explained_ops.add(step.op)
            why = skills_lib.explain(step, self.rng.randrange(2 ** 30), self.fam.name, trace, n - 1)
            # A connective now and then; on every line they read as filler.
            conn = self.pick(T.CONNECTIVES) if n > 1 and self.rng.random() < 0.15 else ""
            if why.startswith("So "):  # "Next, so the gcd is ..." reads badly
                conn = ""
            if conn:
                why = conn + why[0].lower() + why[1:]
            whys.append(why)
        lines = "\n".join(s.text for s in trace.steps)
        narrated = self.c.narrated if len(trace.steps) <= _MAX_NARRATED_STEPS else None
        if narrated:  # the explanations as one paragraph, then or after the lines
            lead = self.pick(T.NARRATION_LEADS)
            story = " ".join(x for x in [lead] + whys if x)
            return f"{story}\n{lines}" if narrated == "before" else f"{lines}\n{story}"
        k = self.c.layout % len(T.STEP_LAYOUTS)  # a long narrated solution: a line layout
        layout, bare = T.STEP_LAYOUTS[k], T.STEP_LINE_ONLY[k]
        return "\n".join(layout.format(line=step.text, why=why, n=n) if why
                         else bare.format(line=step.text, n=n)
                         for n, (step, why) in enumerate(zip(trace.steps, whys), 1))

    def record(self, p: Problem, t: Trace) -> dict[str, Any]:
        """The problem's identity and lines, and ``asked``: the question as the
        section words it (``questions.restate``)."""
        return {"question": p.question, "asked": questions.restate(p, self.rng), "seed": p.seed,
                "index": p.index, "level": p.level, "style": t.style,
                "lines": [s.text for s in t.steps], "answer": t.answer}

    def rule_text(self) -> str:
        """One phrasing of the skill's rule in full, or the rule in brief:
        the lead sentence of one of its ``brief_rules``, sometimes with one
        sentence of another (not for families whose phrasings build one
        argument)."""
        rules = self.skill.rules
        if self.fam.name in _WHOLE_RULES or self.rng.random() >= _BRIEF_RULE_P:
            return self.pick(rules)
        # The rule in brief: the lead sentence of one phrasing, sometimes one
        # more sentence of another; the example after it shows the rest.
        # Only phrasings written to be taken apart (``Skill.brief_rules``).
        rules = self.skill.brief_rules or rules
        lead = _sentences(self.pick(rules))[0]
        rest = [x for r in rules for x in _sentences(r)[1:] if not x.startswith(_DEPENDENT)]
        more = [self.pick(rest)] if rest and self.rng.random() < 0.4 else []
        return " ".join([lead] + [x for x in more if x != lead])

    def rule(self, parts: dict) -> str:
        text = self.rule_text()
        parts["rule"] = text
        example = ""
        if self.rng.random() < 0.8:  # the rule at work on one small problem
            p, t = self.problem()
            k = min(len(t.steps), self.rng.randint(1, 2))
            whys = [skills_lib.explain(st, self.rng.randrange(2 ** 30), self.fam.name, t, i)
                    for i, st in enumerate(t.steps[:k])]
            lines = "\n".join(st.text for st in t.steps[:k])
            rec = self.record(p, t) | {"shown": k}
            example = (f"{self.pick(T.RULE_EXAMPLE_LEADS).format(q=rec['asked'])}\n{lines}\n"
                       + " ".join(whys))
            parts["rule_example"] = rec
        return "\n".join(x for x in (self.subhead(self.pick(T.RULE_HEADS)), text, example) if x)

    def worked(self, parts: dict) -> str:
        blocks, parts["worked"] = [], []
        head = self.pick(T.WORKED_HEADS)
        for k in range(self.c.n_worked):
            p, t = self.problem()
            rec = self.record(p, t)
            setting = contexts.context(p, self.rng) if self.c.context else None
            guess = checks.estimate(p, self.rng) if self.c.estimate else None
            check = checks.check(p, t.answer, self.rng) if self.c.check else None
            twist = variations.variation(p, self.rng) if self.rng.random() < 0.6 else None
            again = self.second_method(p, t, rec) if self.rng.random() < _SECOND_METHOD_P else None
            rec.update(context=setting, estimate=guess, check=check, variation=twist)
            parts["worked"].append(rec)
            title = head if self.c.n_worked == 1 else f"{head} {k + 1}"
            ask = (f"{setting} {self.pick(T.CONTEXT_BRIDGES).format(q=rec['asked'])}" if setting
                   else self.pick(T.PROBLEM_LEADS).format(q=rec['asked']))
            body = [self.subhead(title), ask, guess, self.steps(t, explained=True),
                    self.pick(T.CONCLUSIONS).format(a=t.answer), again, check, twist]
            blocks.append("\n".join(x for x in body if x))
        return "\n\n".join(blocks)

    def second_method(self, p: Problem, t: Trace, rec: dict) -> str | None:
        """The same problem solved by another skill of the family (its own
        solver style), recorded as ``rec["second"]``; None when the family
        has one skill, either solution is very short or the second is long,
        or (never seen) the two answers differ."""
        others = [s for s in skills_lib.skills(self.fam.name) if s.style != self.skill.style]
        if not others:
            return None
        other = self.rng.choice(others)
        t2 = self.fam.solve(p, other.style)
        if (t2.answer != t.answer or len(t.steps) < _MIN_SECOND_STEPS
                or not _MIN_SECOND_STEPS <= len(t2.steps) <= _MAX_SECOND_STEPS):
            return None
        method = _lc(other.title.split(": ")[-1])
        rec["second"] = {"style": other.style, "method": other.title,
                         "lines": [s.text for s in t2.steps], "answer": t2.answer}
        lead = self.pick(T.SECOND_METHOD_LEADS).format(method=method)
        agree = self.pick(T.SECOND_METHOD_AGREE).format(a=t.answer, method=method)
        return "\n".join([lead] + rec["second"]["lines"] + [agree])

    def closing(self, parts: dict) -> str:
        """A general closing sentence, or a look back at the first worked
        example (its line count and answer, from ``parts``)."""
        first = (parts.get("worked") or [None])[0]
        if first and len(first["lines"]) >= 2 and self.rng.random() < 0.5:
            ex = "the first worked example" if len(parts["worked"]) > 1 else "the worked example"
            text = self.pick(T.RECAPS).format(n=len(first["lines"]), a=first["answer"], ex=ex,
                                              Ex=ex[0].upper() + ex[1:])
            parts["recap"] = {"text": text, "lines": len(first["lines"]), "answer": first["answer"]}
            return text
        return self.pick(T.CLOSINGS)

    def terms(self, parts: dict) -> str:
        found = notes.terms(self.fam.name, self.rng, self.rng.randint(2, 3))
        parts["terms"] = [term for term, _ in found]
        forms = ("{t}: {d}.", "- {t}: {d}.", "**{t}** - {d}.", "The {t} is {d}.")
        form = self.pick(forms) if self.rng.random() < 0.5 else None
        lines = [(form or "{T}: {d}.").format(t=t, T=t[0].upper() + t[1:], d=d) for t, d in found]
        return "\n".join(x for x in [self.subhead(self.pick(T.TERM_HEADS))] + lines if x) if found else ""

    def why(self, parts: dict) -> str:
        pool = notes.WHY.get(self.fam.name, ())
        if not pool:
            return ""
        chosen = [T.vary(x, self.rng) for x in self.rng.sample(pool, self.rng.randint(1, min(2, len(pool))))]
        parts["why"] = chosen
        return "\n".join(x for x in [self.subhead(self.pick(T.WHY_HEADS)), " ".join(chosen)] if x)

    def tips(self, parts: dict) -> str:
        pool = notes.TIPS.get(self.fam.name, ())
        if not pool:
            return ""
        chosen = [T.vary(x, self.rng) for x in self.rng.sample(pool, self.rng.randint(2, min(4, len(pool))))]
        parts["tips"] = chosen
        bullet = self.pick(("- ", "* ", "", "+ "))
        return "\n".join([x for x in [self.subhead(self.pick(T.TIP_HEADS))] if x]
                         + [bullet + tip for tip in chosen])

    def mistake(self, parts: dict) -> str:
        p, t = self.problem()
        m = mistakes.find_mistake(self.fam, p, t, self.rng)
        if m is None:  # never seen in practice; the section then skips the pitfall
            parts["mistake"] = None
            return ""
        attempt = [s.text for s in t.steps[:m.step_index]] + [m.wrong_line]
        m = dataclasses.replace(m, why=T.vary(m.why, self.rng))  # "[a|b]" wording picked here
        rec = self.record(p, t)
        parts["mistake"] = rec | dataclasses.asdict(m)
        fix = self.pick(T.MISTAKE_FIXES).format(wrong=m.wrong_line, right=m.right_line,
                                                why=m.why, kind=m.kind, k=m.step_index + 1)
        body = [self.subhead(self.pick(T.MISTAKE_HEADS)),
                self.pick(T.MISTAKE_OPENERS).format(kind=m.kind, name=self.rng.choice(contexts.NAMES)),
                rec["asked"], "\n".join(attempt),
                fix, self.pick(T.MISTAKE_MORALS) if self.rng.random() < T.MISTAKE_MORAL_P else ""]
        return "\n".join(x for x in body if x)

    def exercises(self, parts: dict) -> tuple[str, str]:
        """(exercise block, answers block; empty unless answers go at the end)."""
        qs, sols, parts["exercises"] = [], [], []
        for k in range(1, self.c.n_exercises + 1):
            p, t = self.problem()
            rec = self.record(p, t)
            setting = contexts.context(p, self.rng) if self.rng.random() < 0.6 else None
            check = checks.check(p, t.answer, self.rng) if self.rng.random() < 0.5 else None
            shown = len(t.steps) if self.c.solutions else 0
            rec.update(context=setting, check=check, shown=shown)
            parts["exercises"].append(rec)
            label = T.EXERCISE_LABELS[self.c.label].format(k=k, letter="abcdefgh"[k - 1])
            work = self.steps(t, self.c.solutions == 2) if shown else ""
            body = "\n".join(x for x in (work, self.pick(T.CONCLUSIONS).format(a=t.answer), check) if x)
            qs.append(f"{label} {setting} {rec['asked']}" if setting else f"{label} {rec['asked']}")
            sols.append((label, body))
        lead = self.pick(T.EXERCISE_LEADS) if self.rng.random() < T.EXERCISE_LEAD_P else ""
        head = [self.subhead(self.pick(T.EXERCISE_HEADS))] + ([lead] if lead else [])
        if self.c.answers_at_end:
            answers = [self.subhead(self.pick(T.ANSWER_HEADS))] + [f"{lab}\n{b}" for lab, b in sols]
            return "\n".join(x for x in head + qs if x), "\n".join(x for x in answers if x)
        said = self.pick(T.SOLUTION_LABELS)
        interleaved = [f"{q}\n{said}\n{b}" if said else f"{q}\n{b}" for q, (_, b) in zip(qs, sols)]
        return "\n\n".join(["\n".join(x for x in head if x)] + interleaved), ""


def section(family: str, seed: int, index: int, level: int) -> Section:
    """Section ``index`` of ``family`` at ``level``: a pure function of its arguments."""
    fam = tasks.get(family)
    if level not in fam.levels:
        raise ValueError(f"{family} has no level {level}; levels are "
                         f"{fam.levels.start}..{fam.levels.stop - 1}")
    rng = random.Random(make_rng_seed("textbook", seed, family, level, index))
    skill = rng.choice(skills_lib.skills(family))
    choice = T.choose(rng)
    comp = _Composer(fam, skill, choice, rng,
                     make_rng_seed("textbook-problems", seed) % 2 ** 31, level)
    title = T.TITLE_FORMS[choice.title].format(
        skill=skill.title, skill_lc=_lc(skill.title), lead=comp.pick(T.LEADS),
        stage=T.STAGES.get(level, "advanced"))
    heading = T.HEADINGS[choice.heading].format(
        title=title, underline="=" * len(title), upper=title.upper(), level=level,
        num=f"{level}.{index % 97 + 1}")
    opening, purpose = divmod(choice.intro, len(T.INTRO_PURPOSES))
    intro = " ".join(x for x in (
        T.vary(T.INTRO_OPENINGS[opening], rng).format(skill=skill.title, skill_lc=_lc(skill.title)),
        T.vary(T.INTRO_PURPOSES[purpose], rng)) if x)
    parts: dict[str, Any] = {"skill": skill.title, "style": skill.style,
                             "order": list(choice.parts), "mistake": None}
    blocks, answers = [heading] + ([intro] if intro else []), ""
    for name in choice.parts:
        if name == "exercises":
            block, answers = comp.exercises(parts)
        else:
            block = getattr(comp, name)(parts)
        if block:
            blocks.append(block)
    closing = comp.closing(parts) if rng.random() < T.CLOSING_P else ""
    blocks += [b for b in (answers, closing) if b]
    return Section("\n\n".join(blocks) + "\n", family, level, choice.template_id, parts)


class TextbookSource:
    """Random-access textbook sections: ``source[i]`` for any ``i >= 0``.

    Items cycle through ``families`` (item ``i`` belongs to family
    ``i % len(families)``) and, within a family, through its levels, so any
    window of items is balanced. ``levels`` is one list for all families
    (each family keeps the levels it has), a mapping family -> levels, or None
    for each family's ``train_levels``. There is no ``__len__``: the source is
    unbounded, like the synthetic trace sources.
    """

    def __init__(self, families: Sequence[str] | None = None,
                 levels: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
                 seed: int = 0):
        self.families = tuple(families or tasks.names())
        self.seed = seed
        self._levels: dict[str, tuple[int, ...]] = {}
        for f in self.families:
            fam = tasks.get(f)
            want = (levels.get(f) if isinstance(levels, Mapping) else levels) or fam.train_levels
            have = tuple(lv for lv in want if lv in fam.levels)
            if not have:
                raise ValueError(f"textbook source: {f} has none of levels {list(want)}")
            self._levels[f] = have

    def locate(self, i: int) -> tuple[str, int, int]:
        """(family, level, section index) of item ``i``."""
        if i < 0:
            raise IndexError(f"textbook source index must be >= 0, got {i}")
        family = self.families[i % len(self.families)]
        k = i // len(self.families)
        lv = self._levels[family]
        return family, lv[k % len(lv)], k

    def __getitem__(self, i: int) -> Section:
        family, level, k = self.locate(int(i))
        return section(family, self.seed, k, level)
