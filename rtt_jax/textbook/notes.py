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
        "A sum of two numbers with the same number of digits has at most one extra digit, because the final carry can only be 0 or 1.",
        "Column addition and place-value addition do the same additions; column addition just passes each ten along as soon as it appears, while place value waits until the end.",
        "Adding the ones first matters only for carrying: a carry from the ones can change the tens digit, but nothing the tens do can change the ones.",
    ),
    "subtraction": (
        "Borrowing does not change the number: taking one ten away and adding ten ones keeps the same value, just written so each column can be subtracted.",
        "Counting up works because subtraction asks for a distance. The distance from the smaller number to the larger is the same whether we walk down or up.",
        "Every subtraction can be checked with addition, since the difference plus the number taken away [gives back the start|returns the starting number].",
        "A borrow is only ever one, because the top digit plus ten is always at least as large as any single bottom digit.",
        "Subtraction undoes addition, so any difference can be found by asking what must be added to the smaller number to reach the larger one.",
        "The digits to the left of a borrow are not changed by it except for the one place that lends the ten, which is why the borrow is noted next to that column.",
    ),
    "multiplication": (
        "Long multiplication is the distributive law in disguise: multiplying by each digit separately and adding the shifted rows is the same as multiplying by the whole number.",
        "A digit in the tens place stands for that many tens, so its row is ten times larger and moves one place to the left.",
        "Multiplication counts equal groups, so swapping the two factors counts the same objects arranged the other way round.",
        "Every partial product is easy because it multiplies by a single digit; the place value only adds zeros at the end.",
        "Splitting one factor into parts and multiplying each part is exactly what the area of a rectangle shows: the pieces of the rectangle add up to the whole.",
        "A product can be estimated by rounding each factor, because small changes in the factors make small changes in the product.",
    ),
    "division": (
        "Long division handles one digit at a time because each digit of the dividend is worth ten times the next; a remainder carried on becomes ten times larger when the next digit is brought down.",
        "Chunking works because taking away many copies of the divisor at once gives the same result as taking them one by one, only faster.",
        "The remainder is always smaller than the divisor; if it were not, one more copy of the divisor would still fit.",
        "Multiplying the quotient by the divisor and adding the remainder rebuilds the dividend, which is what makes division with a remainder checkable.",
        "A quotient digit of zero still has to be written, because it holds the place of a value that the divisor did not reach.",
        "Sharing out and grouping are the same division seen from two sides: the size of each share, or the number of groups of a given size.",
    ),
    "gcd_lcm": (
        "Euclid's algorithm works because any number dividing both a and b also divides the remainder of a divided by b, so the common divisors never change as the numbers shrink.",
        "Prime factorizations show every divisor at once: a common divisor can only use primes both numbers have, and no more copies than either has.",
        "The product of the gcd and the lcm [equals|is the same as] the product of the two numbers, because every prime power is counted once in each.",
        "Every common divisor of the two numbers divides the gcd, and every common multiple of them is a multiple of the lcm.",
        "Euclid's algorithm always ends, because the remainders get strictly smaller and cannot go below zero.",
        "Two numbers with no prime in common have gcd 1, and then their lcm is simply their product.",
    ),
    "base_conversion": (
        "Repeated division by the base works because each division peels off the lowest place: the remainder is the ones digit, and the quotient is what the higher places still hold.",
        "A numeral is a sum of digits times powers of the base, so converting to base 10 is just computing that sum in ordinary arithmetic.",
        "Every base uses the same idea as base 10; only the size of each step between places changes.",
        "A digit in base b is always less than b, because b of one place make one of the next place.",
        "The same amount can be written in any base; only the symbols and the size of the places change, never the amount itself.",
        "Multiplying by the base and adding the next digit (Horner's method) works because each step shifts everything read so far one place to the left.",
    ),
    "expressions": (
        "Precedence rules exist so that an expression has exactly one value; without them 2 + 3 * 4 could mean 20 or 14.",
        "Working from the innermost brackets outward is safe because each bracket is a small expression whose value does not depend on anything outside it.",
        "Subtraction and division are not commutative, which is why operations of equal rank are carried out from left to right.",
        "Replacing a part of an expression by its value never changes the value of the whole, which is why the expression can be rewritten line by line.",
        "Brackets are needed only where the usual order would give a different meaning; extra brackets around a product change nothing.",
        "A minus sign before a negative number turns into a plus: taking away a debt is the same as adding.",
    ),
    "linear_equation": (
        "Doing the same thing to both sides keeps an equation true, just as adding equal weights to both pans keeps a balance level.",
        "Each inverse operation removes one layer of what was done to x, so undoing the layers in reverse order isolates x.",
        "Once x is found, putting it back into the original equation is a complete check: both sides must give the same number.",
        "A linear equation has exactly one solution when the x terms do not cancel out, because x then appears only once after collecting terms.",
        "Expanding brackets first puts every x term in plain view, so they can be gathered on one side.",
        "Dividing both sides by the coefficient comes last because before that the x term still has other terms next to it.",
    ),
    "word_problem": (
        "Writing each sentence as one calculation turns a story into a chain of small, checkable steps.",
        "An amount can only be [computed|worked out] once everything it depends on is known, which is why the order of the steps matters.",
        "Naming each quantity before computing it makes it easy to see which numbers the question [actually needs|really uses].",
        "Word problems describe the same arithmetic as number problems; the words only say which operation joins which amounts.",
        "A question may mention amounts that are never needed, so knowing what the answer depends on saves work.",
        "Comparisons such as 'more than' and 'fewer than' always describe an addition or a subtraction from the amount being compared with.",
    ),
    "logic": (
        "An 'and' is false as soon as one side is false, and an 'or' is true as soon as one side is true; that is what makes short-circuit evaluation safe.",
        "Simplifying one operator at a time keeps every intermediate formula equivalent to the original one.",
        "'not' binds most tightly, then 'and', then 'or', just as multiplication binds more tightly than addition.",
        "Replacing a part of a formula by its truth value never changes the value of the whole, just as in arithmetic.",
        "There are only two truth values, so every operator can be described completely by a tiny table.",
        "Brackets in a formula play the same role as in arithmetic: they say which operator is applied first.",
    ),
    "counting": (
        "Counting legs kind by kind works because the total is a sum of equal groups, and each group is a multiplication.",
        "A running total gives the same answer as adding the products at the end; it only changes when the additions happen.",
        "Multiplying before adding follows the usual order of operations, so the per-kind products must be found first.",
        "Animals of one kind all have the same number of legs, which is what makes a multiplication possible for each kind.",
        "The order in which the kinds are counted does not matter, because addition gives the same total in any order.",
        "A kind with many animals and few legs can give fewer legs than a kind with few animals and many legs, so every product has to be worked out.",
    ),
    "modular": (
        "Only the last digit matters mod 10 because every number is some multiple of 10 plus its last digit, and multiples of 10 leave no remainder.",
        "Reducing in the middle of a calculation is safe: replacing a number by its remainder changes it by a multiple of 10, which changes nothing mod 10.",
        "A negative number mod 10 is found by adding 10 until it lies between 0 and 9, since adding 10 keeps the same remainder.",
        "Adding 10 or taking 10 away moves once round a ten-hour clock and lands on the same digit, which is why multiples of 10 can be dropped at any point.",
        "The remainder mod 10 of a sum depends only on the remainders of its terms, so large intermediate totals are never needed.",
        "Subtraction mod 10 can always be turned into addition: taking away 3 is the same as adding 7 mod 10.",
    ),
}

TIPS: dict[str, tuple[str, ...]] = {
    "addition": ("Line up the digits by place value before adding.", "Write each carry down at once so it is not forgotten.",
                 "Check that the sum is at least as large as each addend.", "Estimate the sum by rounding before working it out.", "Write the final carry as a new leading digit."),
    "subtraction": ("Start from the ones column and move left.", "Mark each borrow so it is taken away from the next column.",
                    "The difference can never be larger than the first number.", "Check the answer by adding it to the number taken away.", "When a column needs a borrow, note it before moving on."),
    "multiplication": ("Shift each new row one place further to the left.", "Add the rows carefully; most slips happen there.",
                       "A product of two numbers ending in 0 ends in at least two zeros.", "Estimate the product by rounding both numbers first.", "Count the rows: one for every digit of the second number."),
    "division": ("Bring down one digit at a time.", "Make sure each remainder is smaller than the divisor.",
                 "Multiply back at the end: quotient times divisor plus remainder.", "Write a 0 in the quotient when the divisor does not fit.", "Estimate how many digits the quotient should have."),
    "gcd_lcm": ("The gcd can never be larger than the smaller number.", "The lcm can never be smaller than the larger number.",
                "If one number divides the other, the smaller is the gcd and the larger the lcm.", "Check that the gcd divides both numbers exactly.", "Check that both numbers divide the lcm exactly."),
    "base_conversion": ("Read the remainders from the last one to the first.", "No digit may be as large as the base.",
                        "Write out the powers of the base before starting.", "Check the answer by converting it back.", "In bases above ten, use letters for digits of ten or more."),
    "expressions": ("Rewrite the whole expression after each step.", "Keep track of minus signs in front of brackets.",
                    "Do one operation per line.", "Find the innermost brackets before anything else.", "Work left to right among operations of equal rank."),
    "linear_equation": ("Change the sign of a term when it moves across the equals sign.", "Divide by the coefficient only at the end.",
                        "Substitute the answer back to check it.", "Expand brackets before moving terms.", "Keep the equals signs lined up, one equation per line."),
    "word_problem": ("Underline what the question asks for.", "Name every intermediate amount.",
                     "Check that the answer is a sensible size for the story.", "Decide whether each new amount should be bigger or smaller.", "Write the unit with every amount."),
    "logic": ("Substitute all the truth values first.", "Evaluate 'not' before 'and', and 'and' before 'or'.",
              "Simplify one operator per line.", "Write True and False in full to avoid misreading.", "Mark which side of an 'and' or 'or' decides the result."),
    "counting": ("List each kind with its count and its legs.", "Multiply first, then add.",
                 "Check that every kind has been included.", "Match each kind to its own number of legs.", "Keep a running total if the list is long."),
    "modular": ("Keep only the last digit when carrying a result on.", "Add 10 to a negative result.",
                "The answer always lies between 0 and 9.", "Say which number each line starts from before adding the next term.", "Check the last digit once more at the end."),
}


def terms(family: str, rng: random.Random, k: int) -> list[tuple[str, str]]:
    """``k`` key terms of ``family`` with one definition each (fewer if it has fewer)."""
    pool = TERMS.get(family, ())
    chosen = rng.sample(pool, min(k, len(pool)))
    return [(term, rng.choice(defs)) for term, defs in chosen]
