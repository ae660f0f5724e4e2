"""The wording and layout choices a textbook section is composed from.

Sections vary along independent axes so that no two read alike: heading
style, title phrasing, introduction (an opening and a purpose sentence drawn
separately), part headings, which parts a section has and in what order
(rule, worked examples, a common mistake, exercises, and optional notes: key
terms, why the method works, tips), how a worked step is laid out (line then
explanation, explanation then line, numbered, "Step k:", or the explanations
told as one paragraph before or after the lines), whether a worked example
comes with a setting (``contexts``), an estimate and a check
(``checks``), connective phrases, how many examples and exercises, whether
exercise solutions are worked in words, lines only or just answers (as an
answer key), and whether they follow each exercise or are collected at the end.
``TemplateChoice`` records one draw of every axis; its ``template_id`` is a
short stable string so corpora can report template entropy. ``vary`` picks
the wording inside a template: its ``[a|b]`` groups, then one of the
equivalent wordings of each stock phrase in ``REWORDINGS``.

Trace lines are always printed verbatim on a line of their own (possibly
after a prefix such as "Step 2:"), so the numbers a reader sees are exactly
the ones the family's checker verifies.
"""
from __future__ import annotations

import dataclasses
import random
import re

_ALTERNATIVES = re.compile(r"\[([^\[\]]*\|[^\[\]]*)\]")


# Phrases that recur across rules, explanations, settings and notes, each
# with wordings that mean exactly the same wherever the phrase stands (names
# of the same quantity, the same connective). ``vary`` picks one per use, so a
# stock phrase does not become a stock 4-gram (issue 28, item 5). Matched
# case-sensitively as whole words; never numbers, symbols or trace lines
# (those are filled in after ``vary``, or never pass through it).
REWORDINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the greatest common divisor", ("the greatest common divisor", "the highest common factor",
                                     "the greatest common factor", "the largest common divisor")),
    ("the least common multiple", ("the least common multiple", "the lowest common multiple",
                                   "the smallest common multiple")),
    ("So the answer is", ("So the answer is", "Therefore the answer is", "Thus the answer is",
                          "So the result is", "This means the answer is")),
    ("step by step", ("step by step", "one step at a time", "a step at a time")),
    ("both sides by the", ("both sides by the", "each side by the", "both sides of the equation by the")),
    ("for problems like these", ("for problems like these", "for questions of this kind",
                                 "for such problems", "for this kind of problem")),
    ("Many problems can be solved with", ("Many problems can be solved with",
                                          "A whole family of problems yields to",
                                          "Plenty of problems can be handled with")),
    ("We now turn to", ("We now turn to", "Next we look at", "Now we come to", "This section takes up")),
    ("on its own", ("on its own", "by itself", "in isolation")),
    ("which is why", ("which is why", "and that is why", "and so")),
    ("as a product of primes", ("as a product of primes", "as a product of prime numbers",
                                "as primes multiplied together")),
    ("from left to right", ("from left to right", "left to right", "starting from the left")),
    ("from right to left", ("from right to left", "right to left", "starting from the right")),
    ("one at a time", ("one at a time", "one by one", "in turn")),
    ("place value", ("place value", "place value", "positional value")),
    ("The correct line is", ("The correct line is", "The right line is", "The line should be")),
    ("every line should be checked", ("every line should be checked", "each line deserves a check",
                                      "every line is worth checking")),
    ("Use the same method on these problems", ("Use the same method on these problems",
                                               "Apply the method to these problems",
                                               "Solve these the same way")),
    ("Try these on your own first", ("Try these on your own first", "Attempt each one before reading on",
                                     "Work each one out before looking")),
    ("the total number of", ("the total number of", "the whole number of", "the overall number of")),
    ("for example", ("for example", "for instance")),
    ("in total", ("in total", "altogether", "in all")),
)
_REWORD_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in REWORDINGS) + r")\b")
_REWORD = dict(REWORDINGS)


def vary(text: str, rng: random.Random) -> str:
    """Pick one option of every ``[a|b|c]`` group in ``text`` (groups do not
    nest; brackets without a ``|`` are left alone), then one wording of every
    phrase in ``REWORDINGS``: one sentence template says the same thing in
    several ways, so repeated use does not repeat the same words."""
    text = _ALTERNATIVES.sub(lambda m: rng.choice(m.group(1).split("|")), text)
    return _REWORD_RE.sub(lambda m: rng.choice(_REWORD[m.group(1)]), text)


HEADINGS = (
    "## {title}", "# {title}", "Section {num}: {title}",
    "{num}. {title}", "### {title} (level {level})", "Lesson {num} - {title}",
    "{upper}", "Topic {num}: {title}", "{title}", "Unit {num} | {title}", "Chapter {num}. {title}",
)
TITLE_FORMS = (
    "{skill}", "{skill}: {lead}", "Understanding {skill_lc}", "A closer look at {skill_lc}",
    "{skill} step by step", "Practice with {skill_lc}", "{skill} ({stage} problems)",
    "How to use {skill_lc}", "Getting started with {skill_lc}", "{skill}, explained",
    "Learning {skill_lc}", "{skill} in practice", "Mastering {skill_lc}", "{skill}: {stage} examples",
)
LEADS = ("the idea", "a guided tour", "rules and examples", "from rule to practice",
         "worked examples", "what to remember", "method and practice", "a first look",
         "the method explained", "examples and exercises")
STAGES = {1: "first", 2: "warm-up", 3: "standard", 4: "longer", 5: "challenging", 6: "advanced"}
# An introduction is an opening sentence, then a purpose sentence (either may be empty).
INTRO_OPENINGS = (
    "[In this section|Here|This lesson] [we study|we learn|is about] {skill_lc}.",
    "Many problems can be solved with {skill_lc}.",
    "{skill} is [one of the basic tools|a basic tool] for problems like these.",
    "We now turn to {skill_lc}.",
    "", "", "", "", "", "",
)
INTRO_PURPOSES = (
    "[Each|Every] step [below|that follows] is [short enough|small enough] to check on its own.",
    "[One small step per line|A small step on each line] is the key.",
    "", "", "", "", "", "", "", "",
)
RULE_HEADS = ("The rule", "Key idea", "Definition", "What to remember", "The method",
              "Background", "Rule of thumb", "How it works", "The main idea", "In brief", "")
WORKED_HEADS = ("Worked example", "Example", "An example, step by step", "Let us try one",
                "Seeing it in action", "A full solution", "Walkthrough", "Example problem",
                "Working it through", "A solved problem", "Demonstration", "Following the method")
MISTAKE_HEADS = ("A common mistake", "Watch out", "Where people go wrong", "Pitfall",
                 "Spot the error", "A mistake to avoid", "Careful!", "Error analysis",
                 "What can go wrong", "Find the slip")
EXERCISE_HEADS = ("Exercises", "Practice", "Try these", "Your turn", "Problems",
                  "Check your understanding", "Practice problems", "On your own", "Drill",
                  "Questions")
ANSWER_HEADS = ("Solutions", "Answers to the exercises", "Worked solutions", "Answer key",
                "Answers", "Solutions to the practice problems")
TERM_HEADS = ("Key terms", "Vocabulary", "Words to know", "Glossary", "Terms used here")
WHY_HEADS = ("Why it works", "Why does this work?", "The reason behind the method",
             "Understanding the method", "A closer look")
TIP_HEADS = ("Tips", "Good habits", "Hints", "Remember", "Helpful advice")
PROBLEM_LEADS = ("Consider the problem: {q}", "Problem. {q}", "We are asked: {q}",
                 "Take this question. {q}", "{q}", "Suppose we want to answer: {q}",
                 "Here is the task: {q}", "Question: {q}", "Let us solve: {q}",
                 "Our problem is this. {q}", "Try this one: {q}", "The question reads: {q}")
RULE_EXAMPLE_LEADS = ("For example: {q}", "{q}", "{q}", "Example: {q}", "For instance: {q}")
SOLUTION_LABELS = ("Solution:", "Solution:", "Answer:", "Worked answer:", "", "Solution.", "How to do it:")
# After a setting, the question itself (most often on its own).
CONTEXT_BRIDGES = ("{q}", "{q}", "{q}", "{q}", "In symbols: {q}", "So: {q}")
CONNECTIVES = ("Next, ", "Then ", "After that, ", "Now ", "Moving on, ", "Following on, ",
               "From there, ", "Also, ")
# How one worked step is laid out; {line} is the trace line, {why} the words.
STEP_LAYOUTS = (
    "{line}\n{why}",
    "{why}\n{line}",
    "{n}. {line}\n   {why}",
    "Step {n}: {line}\n{why}",
    "{line}\n({why})",
    "{line}   <- {why}",
    "Line {n}. {why}\n{line}",
)
# The same layouts for a step left unexplained (a repeat of a kind already
# explained): numbering kept, so "Step 1", "Step 2", "Step 3" stay in sequence.
STEP_LINE_ONLY = ("{line}", "{line}", "{n}. {line}", "Step {n}: {line}", "{line}", "{line}",
                  "Line {n}. {line}")
# Or the explanations as one paragraph, before or after the lines.
NARRATIONS = ("before", "after")
NARRATION_LEADS = ("In words:", "", "", "")
# A worked example solved again by another method ({method}: its name, lower case).
SECOND_METHOD_LEADS = ("Another way: {method}.", "The same problem by a second method, {method}:",
                       "We could also use {method}:", "A second route, {method}, gives these lines:",
                       "For comparison, here is {method} on the same problem:",
                       "[Solved|Worked] instead by {method}:", "With {method} the work looks different:")
SECOND_METHOD_AGREE = ("Both methods give {a}.", "The two routes agree: {a}.", "Either way the answer is {a}.",
                       "{a} again, so the two methods agree.", "Same answer, {a}, by a different path.",
                       "The answers match ({a}), which is a check on both.")
# Short on purpose: a long stock phrase repeated after every solution is filler.
CONCLUSIONS = ("So the answer is {a}.", "The answer is {a}.", "This gives {a}.", "Answer: {a}.",
               "Result: {a}.", "We get {a}.", "So we find {a}.", "Final answer: {a}.",
               "Hence {a}.", "That makes {a}.", "{a} is the answer.", "The answer: {a}.",
               "The result is {a}.", "Our answer: {a}.", "This leaves {a} as the answer.",
               "The solution is {a}.", "We arrive at {a}.", "So it comes to {a}.", "That is, {a}.",
               "And so we have {a}.")
MISTAKE_OPENERS = (
    "{name} [wrote|tried|handed in] this:", "Here is {name}'s [work|attempt|solution]:",
    "{name} [made|slipped into] {kind} here:", "[Look at|Read] {name}'s [answer|working]:",
    "Here is a [solution|worked answer] with [an error|a mistake|a slip] in it:",
    "A student solving a similar problem [wrote the following|handed in this work]:",
    "Look at this attempt, which contains {kind}:",
    "It is easy to slip here ({kind}). Consider this work:",
    "One slip can [spoil|ruin] the whole answer. Here is an example:",
    "The work below [looks fine|seems right] at first glance, but one line is wrong:",
    "Someone tried the next problem and made {kind}:",
    "Read this solution carefully and look for the mistake:",
    "{name} [checked|compared] an answer with a friend's, and the two did not agree. Here is {name}'s [work|working]:",
    "One line of the [following|next] solution is wrong. [Which one?|Can you find it?]",
    "Before reading on, try to find the faulty step in {name}'s [solution|work]:",
    "[Here|Below] is a [typical|common] attempt by a student. It contains {kind}:",
    "[This|The following] attempt has one wrong line:",
    "{name}'s [working|solution] below goes wrong at one point:",
    "Here is how {name} [set about|tackled] the problem; one line is wrong:",
    "{name} was [sure|confident] of this answer, but it is wrong. Where?",
)
MISTAKE_FIXES = (
    "The mistake is in the line\n{wrong}\nThe trouble: {why}. The line should read\n{right}",
    "Can you find it? The faulty line is\n{wrong}\nWhat went wrong is {kind}: {why}. Corrected:\n{right}",
    "The error is {kind}. In\n{wrong}\n{why}. The correct line is\n{right}",
    "Checking each line finds the problem:\n{wrong}\nHere {why}. Fixing it gives\n{right}",
    "Line by line, everything holds until\n{wrong}\nwhere {why}. The right version is\n{right}",
    "The slip is here:\n{wrong}\nHere {why}. It should say\n{right}",
    # Naming the line instead of quoting it again.
    "The mistake is in line {k}: {why}. It should read\n{right}",
    "Line {k} is wrong; {why}. [Corrected|Fixed], it reads\n{right}",
    "Everything is right up to line {k}, where {why}. The correct line is\n{right}",
    "[Look at|Check] line {k}: {why}. [The right version|What it should say]:\n{right}",
    "Line {k} is where it breaks: {why}. Written correctly:\n{right}",
    "Line {k} is the culprit ({kind}): {why}. Put right, it becomes\n{right}",
    "The slip sits in line {k}: {why}, and every line after it would inherit the error. The line should be\n{right}",
    "Compare line {k} with what the step should give: {why}. Replacing it with\n{right}\nrepairs the solution.",
    "Did you spot it? The error in line {k} is {kind}; {why}. The corrected line reads\n{right}",
    "The trouble in line {k} is {kind}: {why}. It ought to say\n{right}",
)
# Closing sentences of a part, each said only sometimes (``*_P``: how often),
# so that no stock sentence ends most mistakes, exercise leads or sections.
MISTAKE_MORAL_P = 0.6
MISTAKE_MORALS = ("[Once|As soon as] a step is wrong, every [later|following] step [inherits the error|carries the error forward].",
                  "Checking each step as you go [catches this early|finds it before it spreads].",
                  "A quick estimate of the [size of the answer|answer's size] [often reveals|will often expose] such slips.",
                  "Always recheck a step before [building on it|using its result].",
                  "Slips like this are [common|easy to make], which is why every line should be checked.",
                  "The [fix|correction] changes only one line, but the [final answer|answer|result] depends on it.",
                  "A wrong line early on can make a whole solution look [convincing|plausible] and still be wrong.",
                  "Writing one step per line is what makes a slip like this easy to [find|locate].",
                  "Redoing just that step, [slowly|carefully], is usually enough to [catch|spot] it.",
                  "Reading each line back against the one before it [catches|exposes] this kind of slip.",
                  "Slips of this kind [creep in|happen most] when working quickly.",
                  "Nothing else in the work needed to change; one line was enough to [spoil|ruin] it.")
EXERCISE_LEAD_P = 0.7
EXERCISE_LEADS = ("Solve the following.", "Work these out, [showing each step|one step per line].",
                  "Use the same method on these problems.", "Try these on your own first.",
                  "Show every step, as in the [examples|worked examples].", "[Cover|Hide] the solutions and try each one.",
                  "These use [exactly the method above|the same method as above].",
                  "Each of these can be solved the same way.", "Write one step per line, as above.",
                  "When you have an answer, check it another way.", "Start each one with a rough estimate.",
                  "Solve each one, then compare with the [solutions|worked solutions].",
                  "Here are some problems to [practise|practice] on.", "Now it is your turn.")
# A section's last sentence, sometimes: a general one, or (given a worked
# example of at least two lines) a look back at it ({ex}: which example),
# with its own line count {n} and answer {a}.
CLOSING_P = 0.3
CLOSINGS = ("[Practice|Use] makes this method [quick|fast] and [reliable|safe].",
            "[Next|In the next section] we build on this.",
            "Before moving on, try one more problem of your own with the same method.",
            "Later sections use this method as one step inside longer problems.",
            "[Come back to|Revisit] these examples if a later problem goes wrong.",
            "With [a little|some] practice, the lines can be written without hesitation.")
RECAPS = ("In {ex}, {n} short lines were enough to reach {a}.",
          "Looking back at {ex}: {n} lines, one small step each, led to {a}.",
          "{Ex} reached {a} in {n} lines; a harder problem of the same kind usually needs more lines, but of "
          "the same sort.",
          "{n} lines took {ex} to {a}, and each of them can be checked by itself.",
          "To sum up {ex}: {n} steps, each one checkable, and the answer {a}.")
SUBHEADS = ("{h}:", "**{h}**", "{h}.", "[{h}]", "_{h}_", "## {h}", "")  # "": no part headings
EXERCISE_LABELS = ("Exercise {k}.", "{k})", "({letter})", "Q{k}.", "Problem {k}:", "#{k}.",
                   "Task {k}.")
# Part orders, from full lessons to shorter kinds of section a textbook also
# has: a worked-examples page, a practice set, an error clinic, a concept
# note. Parts: "rule", "worked", "mistake", "exercises", "why", "terms", "tips".
ORDERS = (
    ("rule", "worked", "mistake", "exercises"),
    ("rule", "mistake", "worked", "exercises"),
    ("worked", "rule", "mistake", "exercises"),
    ("rule", "worked", "exercises", "mistake"),
    ("mistake", "rule", "worked", "exercises"),
    ("rule", "worked", "exercises"),  # some sections skip the pitfall
    ("worked", "rule", "exercises"),
    ("worked", "mistake", "rule", "exercises"),
    ("worked", "rule"),  # worked examples first, the rule drawn from them
    ("rule", "exercises"),  # a practice set
    ("rule", "mistake", "worked"),  # an error clinic
    ("why", "rule", "worked"),  # a concept note
    ("terms", "rule", "worked", "exercises"),
)
# Optional notes, each inserted at a drawn position among the core parts.
NOTES = ("terms", "why", "tips")
_NOTE_AXES = {"terms": "g", "why": "y", "tips": "p"}  # template_id letters


@dataclasses.dataclass(frozen=True)
class TemplateChoice:
    heading: int
    title: int
    intro: int  # opening * len(INTRO_PURPOSES) + purpose
    order: int
    layout: int  # index into STEP_LAYOUTS, or len(STEP_LAYOUTS) + k for NARRATIONS[k]
    n_worked: int  # 1 or 2
    n_exercises: int  # 1 to 3
    answers_at_end: bool
    solutions: int  # exercise solutions: 0 answers only, 1 lines only, 2 lines with words
    subhead: int
    label: int
    context: bool  # worked examples open with a setting (where the family has one)
    check: bool  # worked examples end with a check (where the family has one)
    estimate: bool  # worked examples start with an estimate (where the family has one)
    notes: tuple[tuple[str, int], ...] = ()  # (note, position among the parts)

    @property
    def narrated(self) -> str | None:
        k = self.layout - len(STEP_LAYOUTS)
        return NARRATIONS[k] if k >= 0 else None

    @property
    def parts(self) -> tuple[str, ...]:
        """The section's parts in order, notes included."""
        out = list(ORDERS[self.order])
        for note, pos in self.notes:
            out.insert(min(pos, len(out)), note)
        return tuple(out)

    @property
    def template_id(self) -> str:
        notes = "".join(f"{_NOTE_AXES[n]}{p}" for n, p in self.notes)
        return (f"h{self.heading}t{self.title}i{self.intro}o{self.order}l{self.layout}"
                f"w{self.n_worked}e{self.n_exercises}{'A' if self.answers_at_end else 'a'}"
                f"x{self.solutions}s{self.subhead}n{self.label}"
                f"c{int(self.context)}k{int(self.check)}m{int(self.estimate)}{notes}")


def choose(rng: random.Random) -> TemplateChoice:
    order = rng.randrange(len(ORDERS))
    n_parts = len(ORDERS[order])
    notes = tuple((n, rng.randint(0, n_parts)) for n in NOTES
                  if n not in ORDERS[order] and rng.random() < 0.15)
    return TemplateChoice(
        heading=rng.randrange(len(HEADINGS)), title=rng.randrange(len(TITLE_FORMS)),
        intro=rng.randrange(len(INTRO_OPENINGS) * len(INTRO_PURPOSES)), order=order,
        layout=rng.randrange(len(STEP_LAYOUTS) + len(NARRATIONS)), n_worked=rng.choice((1, 1, 2)),
        n_exercises=rng.choice((1, 2, 2, 3)), answers_at_end=rng.random() < 0.4,
        solutions=rng.choice((0, 1, 2, 2)), subhead=rng.randrange(len(SUBHEADS)),
        label=rng.randrange(len(EXERCISE_LABELS)), context=rng.random() < 0.9,
        check=rng.random() < 0.75, estimate=rng.random() < 0.8, notes=notes)
