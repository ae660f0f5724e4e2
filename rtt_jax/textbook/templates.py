"""The wording and layout choices a textbook section is composed from.

Sections vary along independent axes so that no two read alike: heading
style, title phrasing, introduction, part headings, the order of the parts,
how a worked step is laid out (line then explanation, explanation then line,
numbered, "Step k:"), connective phrases, how many worked examples and
exercises, and whether exercise solutions follow each exercise or are
collected at the end. ``TemplateChoice`` records one draw of every axis; its
``template_id`` is a short stable string so corpora can report template
entropy.

Trace lines are always printed verbatim on a line of their own (possibly
after a prefix such as "Step 2:"), so the numbers a reader sees are exactly
the ones the family's checker verifies.
"""
from __future__ import annotations

import dataclasses
import random

HEADINGS = (
    "## {title}", "# {title}", "{title}\n{underline}", "Section {num}: {title}",
    "{num}. {title}", "### {title} (level {level})", "Lesson {num} - {title}",
    "{upper}",
)
TITLE_FORMS = (
    "{skill}", "{skill}: {lead}", "Understanding {skill_lc}", "A closer look at {skill_lc}",
    "{skill} step by step", "Practice with {skill_lc}", "{skill} ({stage} problems)",
    "How to use {skill_lc}",
)
LEADS = ("the idea", "a guided tour", "rules and examples", "from rule to practice",
         "worked examples", "what to remember")
STAGES = {1: "first", 2: "warm-up", 3: "standard", 4: "longer", 5: "challenging", 6: "advanced"}
INTROS = (
    "In this section we study {skill_lc}. {level_sentence}",
    "{level_sentence} This section explains {skill_lc} and shows it at work.",
    "This lesson is about {skill_lc}. We state the rule, apply it carefully, and look at a mistake worth avoiding.",
    "Many problems of this kind can be solved with {skill_lc}. {level_sentence}",
    "Here we learn {skill_lc}, a method that turns a long problem into a sequence of small, checkable steps.",
    "",  # some sections start straight away
    "Before practising, it helps to see why {skill_lc} works. {level_sentence}",
)
LEVEL_SENTENCES = (
    "The examples here are at level {level}.",
    "All numbers in this section are of level {level} size.",
    "We work with level-{level} problems throughout.",
    "The problems below are pitched at level {level}.",
)
RULE_HEADS = ("The rule", "Key idea", "Definition", "What to remember", "The method",
              "Background", "Rule of thumb", "")
WORKED_HEADS = ("Worked example", "Example", "An example, step by step", "Let us try one",
                "Seeing it in action", "A full solution", "Walkthrough")
MISTAKE_HEADS = ("A common mistake", "Watch out", "Where people go wrong", "Pitfall",
                 "Spot the error", "A mistake to avoid", "Careful!")
EXERCISE_HEADS = ("Exercises", "Practice", "Try these", "Your turn", "Problems",
                  "Check your understanding")
ANSWER_HEADS = ("Solutions", "Answers to the exercises", "Worked solutions", "Answer key")
PROBLEM_LEADS = ("Consider the problem: {q}", "Problem. {q}", "We are asked: {q}",
                 "Take this question. {q}", "{q}", "Suppose we want to answer: {q}")
CONNECTIVES = ("Next, ", "Then ", "After that, ", "Now ", "Moving on, ", "", "", "Following on, ")
# How one worked step is laid out; {line} is the trace line, {why} the words.
STEP_LAYOUTS = (
    "{line}\n{why}",
    "{why}\n{line}",
    "{n}. {line}\n   {why}",
    "Step {n}: {line}\n{why}",
    "{line}\n({why})",
    "{why} We write:\n{line}",
)
CONCLUSIONS = ("So the answer is {a}.", "The final answer is {a}.", "This gives {a}.",
               "Therefore the answer is {a}.", "We conclude that the answer is {a}.",
               "The result is {a}.")
MISTAKE_OPENERS = (
    "Here is a solution with an error in it:",
    "A student solving a similar problem wrote the following:",
    "Look at this attempt, which contains {kind}:",
    "It is easy to make {kind}. Consider this work:",
    "One slip can spoil the whole answer. Here is an example:",
)
MISTAKE_FIXES = (
    "The mistake is in the line\n{wrong}\nThe trouble: {why}. The line should read\n{right}",
    "Can you find it? The faulty line is\n{wrong}\nWhat went wrong is {kind}: {why}. Corrected:\n{right}",
    "The error is {kind}. In\n{wrong}\n{why}. The correct line is\n{right}",
    "Checking each line finds the problem:\n{wrong}\nHere {why}. Fixing it gives\n{right}",
)
MISTAKE_MORALS = ("Once a step is wrong, every later step inherits the error.",
                  "Checking each step as you go catches this early.",
                  "A quick estimate of the size of the answer often reveals such slips.",
                  "", "Always recheck a step before building on it.")
EXERCISE_LEADS = ("Solve the following.", "Work these out, showing each step.",
                  "Use the same method on these problems.", "Try these on your own first.", "")
CLOSINGS = ("", "With practice this method becomes quick and reliable.",
            "Every step above can be checked on its own, which is what makes the method trustworthy.",
            "In the next section we will build on this.", "")
SUBHEADS = ("{h}:", "**{h}**", "### {h}", "{h}.", "{h}\n{dashes}", "[{h}]")
EXERCISE_LABELS = ("Exercise {k}.", "{k})", "({letter})", "Q{k}.", "Problem {k}:")
# Part orders: "rule", "worked", "mistake", "exercises".
ORDERS = (
    ("rule", "worked", "mistake", "exercises"),
    ("rule", "mistake", "worked", "exercises"),
    ("worked", "rule", "mistake", "exercises"),
    ("rule", "worked", "exercises", "mistake"),
    ("mistake", "rule", "worked", "exercises"),
    ("rule", "worked", "exercises"),  # some sections skip the pitfall
)


@dataclasses.dataclass(frozen=True)
class TemplateChoice:
    heading: int
    title: int
    intro: int
    order: int
    layout: int
    n_worked: int  # 1 or 2
    n_exercises: int  # 1 to 4
    answers_at_end: bool
    explain_exercises: bool  # exercise solutions with words, or lines only
    subhead: int
    label: int

    @property
    def template_id(self) -> str:
        return (f"h{self.heading}t{self.title}i{self.intro}o{self.order}l{self.layout}"
                f"w{self.n_worked}e{self.n_exercises}{'A' if self.answers_at_end else 'a'}"
                f"{'X' if self.explain_exercises else 'x'}s{self.subhead}n{self.label}")


def choose(rng: random.Random) -> TemplateChoice:
    return TemplateChoice(
        heading=rng.randrange(len(HEADINGS)), title=rng.randrange(len(TITLE_FORMS)),
        intro=rng.randrange(len(INTROS)), order=rng.randrange(len(ORDERS)),
        layout=rng.randrange(len(STEP_LAYOUTS)), n_worked=rng.choice((1, 1, 2)),
        n_exercises=rng.randint(1, 4), answers_at_end=rng.random() < 0.4,
        explain_exercises=rng.random() < 0.5, subhead=rng.randrange(len(SUBHEADS)),
        label=rng.randrange(len(EXERCISE_LABELS)))
