"""Side notes a section can carry: key terms, why a method works, tips.

* ``TERMS[family]``: (term, definitions) pairs; a section defines a few.
* ``WHY[family]``: short explanations of why the family's methods work.
* ``TIPS[family]``: practical advice for doing the steps without slips.

Words only, no numbers from a problem: everything here is a general
statement about the operation, true for every problem of the family.
"""
from __future__ import annotations

import random

TERMS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "addition": (
        ("sum", ("the result of adding numbers together", "what we get when two amounts are combined")),
        ("addend", ("each of the numbers being added", "one of the amounts that go into a sum")),
        ("carry", ("the ten passed to the next column when a column adds up to ten or more",
                   "an extra one written above the next place value")),
        ("place value", ("the worth of a digit given by its position: ones, tens, hundreds",
                         "what a digit counts, depending on where it stands in the number")),
    ),
    "subtraction": (
        ("difference", ("the result of subtracting one number from another",
                        "how far apart two numbers are")),
        ("minuend", ("the number we subtract from", "the starting amount in a subtraction")),
        ("subtrahend", ("the number being taken away", "the amount removed in a subtraction")),
        ("borrow", ("taking one from the next place value and turning it into ten in this one",
                    "regrouping a ten so that a column can be subtracted")),
    ),
    "multiplication": (
        ("product", ("the result of multiplying", "the total of several equal groups")),
        ("factor", ("each number being multiplied", "one of the numbers whose product we want")),
        ("partial product", ("the product of one number with a single digit or part of the other",
                             "one row of a long multiplication before the rows are added")),
    ),
    "division": (
        ("dividend", ("the number being divided", "the amount that is shared out")),
        ("divisor", ("the number we divide by", "the size of each group, or the number of groups")),
        ("quotient", ("how many times the divisor fits into the dividend",
                      "the whole-number result of a division")),
        ("remainder", ("what is left over after taking out as many divisors as fit",
                       "the part too small to make another whole group")),
    ),
    "gcd_lcm": (
        ("divisor", ("a number that divides another with no remainder", "a factor of a number")),
        ("greatest common divisor", ("the largest number that divides both numbers exactly",
                                     "the biggest factor two numbers share")),
        ("least common multiple", ("the smallest positive number that both numbers divide",
                                   "the first number that appears in both times tables")),
        ("prime", ("a number greater than 1 whose only divisors are 1 and itself",
                   "a building block that cannot be split into smaller factors")),
    ),
    "base_conversion": (
        ("base", ("how many different digits a number system uses",
                  "the number each place is worth compared with the place to its right")),
        ("digit", ("a single symbol of a numeral, from 0 up to one less than the base",
                   "one position of a written number")),
        ("place value", ("the power of the base that a position stands for",
                         "what a digit is worth because of where it is written")),
    ),
    "expressions": (
        ("operator", ("a sign for an operation, such as +, -, * or /", "the symbol that says what to do")),
        ("operand", ("a number an operator acts on", "one of the inputs of an operation")),
        ("precedence", ("the rule saying which operations are done first",
                        "the ranking of operators: multiplication and division before addition and subtraction")),
        ("brackets", ("marks that group part of an expression to be worked out first",
                      "parentheses that override the usual order")),
    ),
    "linear_equation": (
        ("equation", ("a statement that two expressions are equal", "a balance between a left and a right side")),
        ("variable", ("a letter standing for an unknown number", "the quantity we are solving for")),
        ("coefficient", ("the number multiplying the variable", "the factor in front of x")),
        ("inverse operation", ("an operation that undoes another, as subtraction undoes addition",
                               "the step that reverses what was done to x")),
    ),
    "word_problem": (
        ("unknown", ("the quantity the question asks for", "an amount we have to work out")),
        ("given", ("a quantity stated directly in the problem", "a number we are told")),
        ("relation", ("a sentence linking two quantities, such as 'three more than'",
                      "a fact that turns into one calculation")),
    ),
    "logic": (
        ("proposition", ("a statement that is either true or false", "a sentence with a truth value")),
        ("conjunction", ("an 'and' of two statements, true only when both are true",
                         "the combination that needs every part to hold")),
        ("disjunction", ("an 'or' of two statements, true when at least one is true",
                         "the combination that needs only one part to hold")),
        ("negation", ("a 'not', which turns true into false and false into true",
                      "the opposite truth value of a statement")),
    ),
    "counting": (
        ("total", ("the number of everything counted together", "the sum over all the kinds")),
        ("equal groups", ("groups of the same size, counted by multiplying",
                          "several copies of the same amount")),
        ("running total", ("a sum that is kept up to date as each new amount is added",
                           "the total so far")),
    ),
    "modular": (
        ("modulus", ("the number we wrap around at, here 10", "the size of the clock we count on")),
        ("remainder", ("what is left after taking out as many multiples of the modulus as fit",
                       "the value between 0 and 9 that a number leaves on division by 10")),
        ("congruent", ("having the same remainder, as 17 and 7 do mod 10",
                       "equal once we look only at the remainder")),
    ),
}

WHY: dict[str, tuple[str, ...]] = {
    "addition": (
        "Why does carrying work? Ten ones make one ten, and ten tens make one hundred, so a column total of ten or more is really a ten for the next column plus some ones for this one.",
        "Splitting numbers by place value works because addition can be regrouped freely: adding all the tens and all the ones separately gives the same total as adding the numbers whole.",
        "The order of the addends never changes a sum, so we may add in whatever order makes the work easiest.",
    ),
    "subtraction": (
        "Borrowing does not change the number: taking one ten away and adding ten ones keeps the same value, just written so each column can be subtracted.",
        "Counting up works because subtraction asks for a distance. The distance from the smaller number to the larger is the same whether we walk down or up.",
        "Every subtraction can be checked with addition, since the difference plus the number taken away [gives back the start|returns the starting number].",
    ),
    "multiplication": (
        "Long multiplication is the distributive law in disguise: multiplying by each digit separately and adding the shifted rows is the same as multiplying by the whole number.",
        "A digit in the tens place stands for that many tens, so its row is ten times larger and moves one place to the left.",
        "Multiplication counts equal groups, so swapping the two factors counts the same objects arranged the other way round.",
    ),
    "division": (
        "Long division handles one digit at a time because each digit of the dividend is worth ten times the next; a remainder carried on becomes ten times larger when the next digit is brought down.",
        "Chunking works because taking away many copies of the divisor at once gives the same result as taking them one by one, only faster.",
        "The remainder is always smaller than the divisor; if it were not, one more copy of the divisor would still fit.",
    ),
    "gcd_lcm": (
        "Euclid's algorithm works because any number dividing both a and b also divides the remainder of a divided by b, so the common divisors never change as the numbers shrink.",
        "Prime factorizations show every divisor at once: a common divisor can only use primes both numbers have, and no more copies than either has.",
        "The product of the gcd and the lcm [equals|is the same as] the product of the two numbers, because every prime power is counted once in each.",
    ),
    "base_conversion": (
        "Repeated division by the base works because each division peels off the lowest place: the remainder is the ones digit, and the quotient is what the higher places still hold.",
        "A numeral is a sum of digits times powers of the base, so converting to base 10 is just computing that sum in ordinary arithmetic.",
        "Every base uses the same idea as base 10; only the size of each step between places changes.",
    ),
    "expressions": (
        "Precedence rules exist so that an expression has exactly one value; without them 2 + 3 * 4 could mean 20 or 14.",
        "Working from the innermost brackets outward is safe because each bracket is a small expression whose value does not depend on anything outside it.",
        "Subtraction and division are not commutative, which is why operations of equal rank are carried out from left to right.",
    ),
    "linear_equation": (
        "Doing the same thing to both sides keeps an equation true, just as adding equal weights to both pans keeps a balance level.",
        "Each inverse operation removes one layer of what was done to x, so undoing the layers in reverse order isolates x.",
        "Once x is found, putting it back into the original equation is a complete check: both sides must give the same number.",
    ),
    "word_problem": (
        "Writing each sentence as one calculation turns a story into a chain of small, checkable steps.",
        "An amount can only be [computed|worked out] once everything it depends on is known, which is why the order of the steps matters.",
        "Naming each quantity before computing it makes it easy to see which numbers the question [actually needs|really uses].",
    ),
    "logic": (
        "An 'and' is false as soon as one side is false, and an 'or' is true as soon as one side is true; that is what makes short-circuit evaluation safe.",
        "Simplifying one operator at a time keeps every intermediate formula equivalent to the original one.",
        "'not' binds most tightly, then 'and', then 'or', just as multiplication binds more tightly than addition.",
    ),
    "counting": (
        "Counting legs kind by kind works because the total is a sum of equal groups, and each group is a multiplication.",
        "A running total gives the same answer as adding the products at the end; it only changes when the additions happen.",
        "Multiplying before adding follows the usual order of operations, so the per-kind products must be found first.",
    ),
    "modular": (
        "Only the last digit matters mod 10 because every number is some multiple of 10 plus its last digit, and multiples of 10 leave no remainder.",
        "Reducing in the middle of a calculation is safe: replacing a number by its remainder changes it by a multiple of 10, which changes nothing mod 10.",
        "A negative number mod 10 is found by adding 10 until it lies between 0 and 9, since adding 10 keeps the same remainder.",
    ),
}

TIPS: dict[str, tuple[str, ...]] = {
    "addition": ("Line up the digits by place value before adding.", "Write each carry down at once so it is not forgotten.",
                 "Check that the sum is at least as large as each addend."),
    "subtraction": ("Start from the ones column and move left.", "Mark each borrow so it is taken away from the next column.",
                    "The difference can never be larger than the first number."),
    "multiplication": ("Shift each new row one place further to the left.", "Add the rows carefully; most slips happen there.",
                       "A product of two numbers ending in 0 ends in at least two zeros."),
    "division": ("Bring down one digit at a time.", "Make sure each remainder is smaller than the divisor.",
                 "Multiply back at the end: quotient times divisor plus remainder."),
    "gcd_lcm": ("The gcd can never be larger than the smaller number.", "The lcm can never be smaller than the larger number.",
                "If one number divides the other, the smaller is the gcd and the larger the lcm."),
    "base_conversion": ("Read the remainders from the last one to the first.", "No digit may be as large as the base.",
                        "Write out the powers of the base before starting."),
    "expressions": ("Rewrite the whole expression after each step.", "Keep track of minus signs in front of brackets.",
                    "Do one operation per line."),
    "linear_equation": ("Change the sign of a term when it moves across the equals sign.", "Divide by the coefficient only at the end.",
                        "Substitute the answer back to check it."),
    "word_problem": ("Underline what the question asks for.", "Name every intermediate amount.",
                     "Check that the answer is a sensible size for the story."),
    "logic": ("Substitute all the truth values first.", "Evaluate 'not' before 'and', and 'and' before 'or'.",
              "Simplify one operator per line."),
    "counting": ("List each kind with its count and its legs.", "Multiply first, then add.",
                 "Check that every kind has been included."),
    "modular": ("Keep only the last digit when carrying a result on.", "Add 10 to a negative result.",
                "The answer always lies between 0 and 9."),
}


def terms(family: str, rng: random.Random, k: int) -> list[tuple[str, str]]:
    """``k`` key terms of ``family`` with one definition each (fewer if it has fewer)."""
    pool = TERMS.get(family, ())
    chosen = rng.sample(pool, min(k, len(pool)))
    return [(term, rng.choice(defs)) for term, defs in chosen]
