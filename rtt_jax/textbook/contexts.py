"""Settings for a worked example: the problem's own numbers in a small story.

(For counting, word problems and expressions: a recap of what the question
gives, counted from ``problem.data``.)

``context(problem, rng)`` returns a short paragraph that puts the numbers of
``problem`` into a situation where the family's operation is the natural
question (putting groups together is addition, sharing equally is division,
two blinking lights meet at the least common multiple ...) and ends by
naming the calculation. It returns None for a family without one.

Correctness by construction: every number in a story is a number of the
problem (``problem.data``), the story asks for exactly what the problem
asks, and a count of one takes the singular. Names, things and places vary
so that examples read as different situations; the arithmetic does not.
"""
from __future__ import annotations

import random
from typing import Callable

from rtt_jax.tasks.base import Problem
from rtt_jax.textbook.templates import vary

NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira",
         "Leo", "Maya", "Nils", "Olu", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
         "Wei", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Dmitri", "Esi", "Felix",
         "Gita", "Hugo", "Ivy", "Jonas", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Paula",
         "Rafael", "Sofia", "Tomas", "Uma", "Viktor", "Wren", "Yara", "Zane")
# (singular, plural) things people collect, carry or count.
THINGS = (("marble", "marbles"), ("sticker", "stickers"), ("stamp", "stamps"), ("shell", "shells"),
          ("book", "books"), ("pencil", "pencils"), ("apple", "apples"), ("coin", "coins"),
          ("card", "cards"), ("button", "buttons"), ("bead", "beads"), ("cookie", "cookies"),
          ("seed", "seeds"), ("brick", "bricks"), ("ticket", "tickets"), ("photo", "photos"),
          ("leaf", "leaves"), ("cherry", "cherries"), ("nail", "nails"), ("tile", "tiles"),
          ("toy car", "toy cars"), ("paper crane", "paper cranes"), ("pebble", "pebbles"),
          ("balloon", "balloons"), ("carrot", "carrots"), ("egg", "eggs"))
# Things counted in large numbers.
BIG_THINGS = (("visitor", "visitors"), ("ticket", "tickets"), ("step", "steps"), ("litre", "litres"),
              ("dollar", "dollars"), ("grain of rice", "grains of rice"), ("brick", "bricks"),
              ("page", "pages"), ("seat", "seats"), ("vote", "votes"), ("metre", "metres"),
              ("download", "downloads"), ("kilogram", "kilograms"), ("letter", "letters"))
CONTAINERS = (("box", "boxes"), ("bag", "bags"), ("crate", "crates"), ("jar", "jars"),
              ("shelf", "shelves"), ("tray", "trays"), ("basket", "baskets"), ("row", "rows"),
              ("packet", "packets"), ("drawer", "drawers"))
GROUPS = (("friend", "friends"), ("team", "teams"), ("table", "tables"), ("class", "classes"),
          ("bus", "buses"), ("family", "families"), ("shelf", "shelves"), ("group", "groups"))
PLACES = ("library", "school fair", "farm shop", "museum", "bakery", "harbour", "garden centre",
          "stadium", "post office", "toy shop", "bike shop", "train station")
# Stories use third-person singular verbs ("she finds"), so no singular "they".
_PRONOUNS = {"she": ("she", "her"), "he": ("he", "his")}


def count(n: int, noun: tuple[str, str]) -> str:
    """"1 apple", "3 apples"."""
    return f"{n} {noun[0] if n == 1 else noun[1]}"


def _noun(n: int, rng: random.Random) -> tuple[str, str]:
    return rng.choice(THINGS if n < 1000 else BIG_THINGS)


def _person(rng: random.Random) -> tuple[str, str, str]:
    """(name, subject pronoun, possessive)."""
    subject, possessive = _PRONOUNS[rng.choice(tuple(_PRONOUNS))]
    return rng.choice(NAMES), subject, possessive


TIMES = ("On Monday", "Last week", "In the morning", "Yesterday", "At the weekend", "Before lunch",
         "After school", "On Friday", "In spring", "Early on Sunday", "During the holidays",
         "One afternoon", "Last month", "On the first day", "This year", "At the start of the day")
GAIN_VERBS = ("finds", "is given", "buys", "collects", "wins", "picks up", "gets", "receives",
              "makes", "brings home")
LOSS_VERBS = ("gives away", "uses", "sells", "loses", "hands out", "eats", "gives to a friend",
              "trades away", "spends")
_ADD_TAILS = ("", "", "Putting two amounts together is addition.", "So we add.", "That calls for addition.",
              "The two amounts are combined.")
_SUB_TAILS = ("", "", "Taking away is subtraction.", "So we subtract.", "That calls for subtraction.")
_MUL_TAILS = ("", "", "Equal groups call for multiplication.", "So we multiply.",
              "Groups times group size gives the total.")
_DIV_TAILS = ("", "", "Sharing equally is division.", "So we divide, keeping the remainder.",
              "The quotient is each share and the remainder what is left.")


def _sentence(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _addition(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])
    noun, (name, she, her) = _noun(max(a, b), rng), _person(rng)
    when, place = rng.choice(TIMES), rng.choice(PLACES)
    story = rng.choice((
        f"{name} has {count(a, noun)}. {when} {she} {rng.choice(GAIN_VERBS)} {b} more. "
        f"How many {noun[1]} does {name} have now?",
        f"{when} the {place} counts {count(a, noun)}, and the next day {b} more. How many in all?",
        f"One {rng.choice(CONTAINERS)[0]} holds {count(a, noun)} and another holds {count(b, noun)}. "
        "How many are there together?",
        f"{name} walks {count(a, ('step', 'steps'))} to the {place}, then {count(b, ('step', 'steps'))} "
        f"more to {her} friend's house. How long is the whole walk?",
        f"{when} {name} {rng.choice(GAIN_VERBS)} {count(a, noun)}; later {she} {rng.choice(GAIN_VERBS)} "
        f"another {b}. What is {her} total?",
    ))
    return _sentence(story, rng.choice(_ADD_TAILS))


def _subtraction(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])  # a >= b
    noun, (name, she, _her) = _noun(a, rng), _person(rng)
    other = rng.choice([n for n in NAMES if n != name])
    when = rng.choice(TIMES)
    story = rng.choice((
        f"{name} has {count(a, noun)}. {when} {she} {rng.choice(LOSS_VERBS)} {b}. How many are left?",
        f"{name} has {count(a, noun)} and {other} has {count(b, noun)}. How many more does {name} have?",
        f"{when} a {rng.choice(PLACES)} has {count(a, noun)}, and {b} are used up. What remains?",
        f"{name} needs {count(a, noun)} and already has {b}. How many are still missing?",
        f"A {rng.choice(CONTAINERS)[0]} held {count(a, noun)} until {name} took out {b}. How many "
        "are still inside?",
    ))
    return _sentence(story, rng.choice(_SUB_TAILS))


def _multiplication(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])
    noun, box = _noun(a * b, rng), rng.choice(CONTAINERS)
    name, she, her = _person(rng)
    story = rng.choice((
        f"There are {count(a, box)} with {count(b, noun)} in each. How many {noun[1]} in all?",
        f"A hall has {count(a, ('row', 'rows'))} of {count(b, ('seat', 'seats'))}. How many seats?",
        f"{name} buys {count(a, noun)} at {count(b, ('coin', 'coins'))} each. What does {she} pay?",
        f"A floor is {a} tiles long and {b} tiles wide. How many tiles cover it?",
        f"{rng.choice(TIMES)} {name} packs {count(a, box)}, putting {count(b, noun)} in each one. "
        "How many are packed?",
    ))
    return _sentence(story, rng.choice(_MUL_TAILS))


def _division(p: Problem, rng: random.Random) -> str:
    n, d = int(p.data["n"]), int(p.data["d"])
    noun, group = _noun(n, rng), rng.choice(GROUPS)
    name, she, her = _person(rng)
    story = rng.choice((
        f"{name} shares {count(n, noun)} equally among {count(d, group)}. Each share, and what is left?",
        f"{count(n, noun).capitalize()} are packed {d} to a {rng.choice(CONTAINERS)[0]}. How many full, "
        "how many over?",
        f"A ribbon {n} cm long is cut into {d} cm pieces. How many pieces, and how much is left?",
        f"{name} has {count(n, noun)} and puts {d} on each {rng.choice(CONTAINERS)[0]}. How many are filled, "
        "and how many are left over?",
        f"A {rng.choice(PLACES)} has {count(n, ('seat', 'seats'))} to set out in rows of {d}. How many "
        "full rows, and how many seats are left over?",
        f"[A holiday of|A stay of|A project lasting] {n} days is how many whole [periods|blocks] of {d} days, with how many days to spare?",
        f"{rng.choice(TIMES)} {name} hands out {count(n, noun)}, {d} per person. How many people, how "
        "many left?",
    ))
    return _sentence(story, rng.choice(_DIV_TAILS))


def _gcd_lcm(p: Problem, rng: random.Random) -> str:
    a, b = int(p.data["a"]), int(p.data["b"])
    name, she, her = _person(rng)
    if p.data["ask"] == "gcd":
        return rng.choice((
            f"{name} cuts two ribbons, {a} cm and {b} cm long, into pieces of one equal length, as "
            "long as possible, with nothing left. That length is the greatest common divisor.",
            f"{a} pencils and {b} erasers go into identical packs with none left over. The largest "
            "number of packs is the greatest common divisor.",
            f"A garden {a} m by {b} m is tiled with equal squares as large as possible. Their side is "
            "the greatest common divisor.",
            f"{name} wants to split {a} red beads and {b} blue beads into identical bags, each bag the "
            f"same, using every bead. The most bags {she} can make is the greatest common divisor.",
            f"A class of {a} and a class of {b} are split into teams of one equal size with nobody left "
            "out. The largest team size that works is the greatest common divisor.",
            f"Two planks, {a} cm and {b} cm, are sawn into pieces of one length with no waste. The "
            "longest possible piece is the greatest common divisor of the two lengths.",
            f"A baker has {a} rolls and {b} muffins and fills as many identical trays as possible, "
            "each tray holding the same mix. The number of trays is the greatest common divisor.",
            f"{name} reduces the fraction {a}/{b} to lowest terms in one step by dividing top and "
            "bottom by the greatest common divisor.",
        ))
    return rng.choice((
        f"Two lights blink together now, one every {a} seconds and one every {b}. They next blink "
        "together after the least common multiple.",
        f"{name} buys buns in packs of {a} and sausages in packs of {b} and wants equal numbers. The "
        "smallest such number is the least common multiple.",
        f"Two buses leave the {rng.choice(PLACES)} together; one returns every {a} minutes and one "
        f"every {b}. They meet again after the least common multiple of {a} and {b}.",
        f"{name} stacks boxes {a} cm tall in one pile and boxes {b} cm tall in another. The first "
        "height at which the two piles are level is the least common multiple.",
        f"Two runners start a lap together; one takes {a} seconds a lap, the other {b}. They are "
        "next side by side at the start line after the least common multiple.",
        f"One gear has {a} teeth and another {b}. The same two teeth meet again after the least "
        "common multiple of the tooth counts.",
        f"{name} waters one plant every {a} days and another every {b} days, both today. The next "
        "day both get water together is the least common multiple away.",
        f"To add fractions with denominators {a} and {b}, {name} needs the smallest denominator "
        "both divide: the least common multiple.",
    ))


def _base_conversion(p: Problem, rng: random.Random) -> str:
    base = int(p.data["base"])
    name, she, her = _person(rng)
    if p.data["direction"] == "to_decimal":
        d = p.data["digits"]
        return rng.choice((
            f"A machine displays the numeral {d} in base {base}. To know what number it "
            "means in everyday notation, we convert it to base 10.",
            f"In a number system with {base} digits, {d} counts powers of {base}. Writing "
            "the same amount in base 10 lets us compare it with ordinary numbers.",
            f"{name} finds {d} written in an old notebook, with a note that it is in base {base}. "
            f"What ordinary number did the writer mean?",
            f"A puzzle box opens with a code, and the clue says the code is {d} read in base {base}. "
            "The lock wants the same number in base 10.",
            f"A shepherd who counts in {base}s records a flock as {d}. How many sheep is that in "
            "the usual base 10?",
            f"{name}'s calculator is set to base {base} and shows {d}. Switching it back to base 10 "
            "should show the same amount in ordinary digits.",
        ))
    n = p.data["n"]
    return rng.choice((
        f"A counter that works in base {base} must show the amount {n}. Which digits does it "
        "display?",
        f"To store {n} on a device that only knows {base} digits, we rewrite it in base {base}.",
        f"{name} is making a poster about number systems and wants to show how {n} looks in "
        f"base {base}.",
        f"A game keeps score with {base} kinds of token, each kind worth {base} of the kind below "
        f"it. How is a score of {n} laid out?",
        f"{name} has {n} beads and packs them in bags of {base}, bags of bags, and so on. The "
        f"counts at each size are the base {base} digits of {n}.",
        f"Before a computer can print {n} in base {base}, it works out the digits one place at a time.",
    ))


def _linear_equation(p: Problem, rng: random.Random) -> str:
    # The equation itself follows in the question, so most settings point at
    # it instead of printing it twice.
    eq = p.data["equation"]
    name, she, her = _person(rng)
    return rng.choice((
        f"Think of {eq} as a balance with an unknown weight x; both pans weigh the same.",
        "Think of the equation below as a balance with an unknown weight x on it; both pans weigh "
        "the same.",
        f"{name} thinks of a number x and describes it with an equation. Which number is it?",
        "Solving an equation means finding the x that makes it true.",
        f"{rng.choice(TIMES)} {name} wrote this puzzle on the board. What is x?",
        "A number x satisfies the equation below. We undo what was done to x, one operation at a time.",
        "A sealed envelope holds a number x, and the card outside it gives the equation below. Can we "
        "name the number without opening it?",
        f"{name} set this riddle for {her} class; only one value of x works.",
        "The equation hides one number. Each step below brings x a little closer to standing alone.",
        f"{name} tried a few guesses for x in the equation below before deciding to solve it properly.",
        "Two expressions in x are set equal. Only one value of x makes both sides give the same number.",
    ))


# Statements for logic letters: a subject and something that is true or false of it.
_SUBJECTS = {
    "vehicle": ("the bus", "the train", "the ferry", "the taxi", "the tram", "the night train",
                "the school bus", "the last bus", "the cable car", "the ferry to the island"),
    "place": ("the library", "the bakery", "the museum", "the pool", "the post office", "the cafe",
              "the market", "the gym", "the cinema", "the park gate", "the bike shop", "the pharmacy"),
    "device": ("the lamp", "the heater", "the radio", "the fan", "the printer", "the oven",
               "the kettle", "the alarm", "the porch light", "the dishwasher", "the laptop"),
}
_PREDICATES = {
    "vehicle": ("is late", "is full", "has left", "is running", "is on time", "has stopped"),
    "place": ("is open", "is busy", "is closed", "is quiet", "is crowded", "is being cleaned"),
    "device": ("is on", "is broken", "is plugged in", "is warm", "is switched off", "is working"),
}
_PERSON_PREDICATES = ("is at home", "has a ticket", "is awake", "is on holiday", "has finished",
                      "is hungry", "is in the team", "has a bike", "is reading", "is outside")


def _statement(rng: random.Random, used: set[str]) -> str:
    while True:
        if rng.random() < 0.35:
            text = f"{rng.choice(NAMES)} {rng.choice(_PERSON_PREDICATES)}"
        else:
            kind = rng.choice(tuple(_SUBJECTS))
            text = f"{rng.choice(_SUBJECTS[kind])} {rng.choice(_PREDICATES[kind])}"
        if text not in used:
            used.add(text)
            return text


def _logic(p: Problem, rng: random.Random) -> str | None:
    facts = p.data["facts"]
    letters = sorted(facts)
    used: set[str] = set()
    # How a letter's truth value is told, one way per setting.
    form = rng.choice(("{v}: {s} ({t})", "{v}: {s} ({t})", "{v} says that {s}, which is {t}",
                       "{v} stands for '{s}', and that is {t}", "{v}: {s} - {t}"))
    parts = [form.format(v=v, s=_statement(rng, used), t=str(facts[v]).lower()) for v in letters]
    said = "; ".join(parts)
    return rng.choice((f"Read {said}.", f"The letters stand for statements. {said}.",
                       f"Suppose {said}.", f"{said}."))


def _moves(terms: list[int], ops: list[str], up: str, down: str) -> str:
    """'add 3, take away 4 and add 2', with the story's own verbs for + and -."""
    moves = [f"{up if op == '+' else down} {t}" for op, t in zip(ops, terms[1:])]
    return ", ".join(moves[:-1]) + (" and " if len(moves) > 1 else "") + moves[-1] if moves else ""


def _modular(p: Problem, rng: random.Random) -> str:
    terms, ops = [int(t) for t in p.data["terms"]], list(p.data["ops"])
    name, she, her = _person(rng)
    # Each story moves in its own words: a counter counts up and down, a dial
    # turns forwards and back, a ones digit is added to and taken from.
    story = rng.choice((
        ("{name}'s counter shows only its last digit. It starts at {s}; then we {m}. "
         "Where does it stop?", "count up", "count down"),
        ("On a dial with the digits 0 to 9, start at {s}, then {m}.", "turn forward", "turn back"),
        ("Only the ones digit matters: begin with {s} and {m}.", "add", "take away"),
        ("A clock face numbered 0 to 9 has one hand, pointing at {s}. Move it: {m}. Where does "
         "it point?", "forward", "back"),
        ("{name} plays a board game on a ring of ten squares, numbered 0 to 9, starting on "
         "square {s}. The moves are: {m}. Which square is {she} on at the end?", "forward", "back"),
    ))
    text, up, down = story
    return text.format(name=name, she=she, s=terms[0], m=_moves(terms, ops, up, down))


def _counting(p: Problem, rng: random.Random) -> str:
    counts = p.data["counts"]
    name, she, her = _person(rng)
    kinds = list(counts)
    listed = ", ".join(kinds[:-1]) + (" and " if len(kinds) > 1 else "") + kinds[-1]
    return rng.choice((f"{rng.choice(TIMES)} {name} counts the legs of the {listed} at the farm.",
                       f"{name} [visits|walks round] a farm with {listed}.",
                       f"{name} wants to know how many legs the {listed} have together."))


def _word_problem(p: Problem, rng: random.Random) -> str:
    nodes, item = p.data["nodes"], p.data["item"]
    goal = nodes[int(p.data["goal"])]["name"]
    known = ", ".join(f"{n['name']} has {n['value']}" for n in nodes if n["op"] == "given")
    return rng.choice((f"Given: {known}. Wanted: {goal}'s {item}.",
                       f"We know {known}, and want the {item} of {goal}.",
                       f"Start from what is stated ({known}) and work towards {goal}."))


def _expressions(p: Problem, rng: random.Random) -> str:
    expr = p.data["expression"]
    n_ops = {"addition": expr.count("+"), "multiplication": expr.count("*"),
             "division": expr.count("/"),
             # a binary minus has spaces round it; a negative number does not
             "subtraction": sum(1 for i, ch in enumerate(expr) if ch == "-" and expr[i - 1:i] == " "
                                and expr[i + 1:i + 2] == " ")}
    listed = ", ".join(count(n, (k, k + "s")) for k, n in n_ops.items() if n)
    brackets = expr.count("(")
    pairs = f", {count(brackets, ('pair of brackets', 'pairs of brackets'))}" if brackets else ""
    return rng.choice((f"It has {listed}{pairs}: one line each.", f"Operations to do: {listed}{pairs}.",
                       f"{listed.capitalize()}{pairs}, so {count(sum(n_ops.values()), ('line', 'lines'))}."))


_CONTEXTS: dict[str, Callable[[Problem, random.Random], str | None]] = {
    "addition": _addition, "subtraction": _subtraction, "multiplication": _multiplication,
    "division": _division, "gcd_lcm": _gcd_lcm, "base_conversion": _base_conversion,
    "linear_equation": _linear_equation, "logic": _logic, "modular": _modular,
    "counting": _counting, "word_problem": _word_problem, "expressions": _expressions,
}


def context(problem: Problem, rng: random.Random) -> str | None:
    """A setting for ``problem``; for families whose questions are already
    stories (counting, word problems) or plain calculations (expressions), a
    recap of what the question gives. None for a family with neither."""
    make = _CONTEXTS.get(problem.family)
    text = make(problem, rng) if make else None
    return vary(text, rng) if text else None
