"""What each task family teaches: skills, their rules, and how to explain a step.

A *skill* is one solution method of one family (one solver style), so every
worked example in a section is a real solver trace for that style and every
number in it is the solver's. This module holds the words only:

* ``SKILLS[family]``: the skills of a family, each with several phrasings of
  its rule or definition (a section picks one, so rule text varies too):
  the two or three written here (``Skill.brief_rules``, whose sentences also
  stand alone) and the further ones of ``rule_phrasings.MORE``.
* ``explain(step, variant, family, trace=None, index=None)``: one sentence
  that says in words what a trace step does. Numbers come from the ``Step``'s
  own ``inputs`` and ``result`` (never recomputed here), so an explanation
  cannot disagree with the line it explains. Given the step's trace and
  position, modular also names the earlier result an operand carries on from
  (``-7`` carried on as ``3``) and, on the last line, the answer mod 10: the
  only derived numbers, each a result reduced mod 10.

Addition's four ``lee_*`` styles are left out on purpose: they are the exact
formats of Lee et al. 2023, made for a model to imitate, not for reading.
"""
from __future__ import annotations

import dataclasses
import random
import re
from typing import Any

from rtt_jax.tasks.base import Step
from rtt_jax.textbook.rule_phrasings import MORE as _MORE_RULES
from rtt_jax.textbook.templates import vary


@dataclasses.dataclass(frozen=True)
class Skill:
    family: str
    style: str  # the solver style whose traces teach this skill
    title: str
    rules: tuple[str, ...]  # alternative phrasings of the rule or definition
    mistake: str  # short name of the classic slip this skill invites
    # The phrasings whose sentences also stand alone: the rule in brief takes
    # its lead sentence, and a sentence to add, only from these (the further
    # phrasings of ``rule_phrasings`` build one argument and are given whole).
    brief_rules: tuple[str, ...] = ()


def _s(family, style, title, mistake, *rules):
    # The phrasings written here, then the further ones of ``rule_phrasings``.
    return Skill(family, style, title, tuple(rules) + _MORE_RULES.get((family, style), ()), mistake,
                 brief_rules=tuple(rules))


SKILLS: dict[str, tuple[Skill, ...]] = {
    "addition": (
        _s("addition", "column", "Column addition with carrying", "forgetting the carry",
           "To add whole numbers in columns, [line the numbers up|write the numbers one above the other|stack the numbers] by place value and add one column at a time, [starting from|beginning with|working leftwards from] the ones. When a column [adds up to|comes to|totals] ten or more, [write its last digit|write down only its ones digit|keep just its ones digit] and carry one into [the next column|the column on its left|the next place].",
           "Column addition [works|runs|proceeds] from right to left. Each column's total is the two digits plus [whatever was carried in|the carry from the column before|any carry]; the ones digit of that total is [written down|recorded|kept in the column] and the tens digit [is carried to|moves on to|goes to] the column on the left.",
           "Adding in columns means [treating each place value separately|dealing with one place value at a time|handling ones, tens and hundreds one after another]. A column sum of 10 or more cannot [fit in|be written with] one digit, so we keep the ones digit and [pass the extra ten along as a carry|carry the extra ten to the next place|send the ten on as a carry]."),
        _s("addition", "place_value", "Adding by place value", "an arithmetic slip",
           "Every whole number is a sum of place values: 473 is 400 + 70 + 3. To add two numbers, [split|break|take apart] both into place values, add the matching places, and then [add the partial sums together|combine the partial sums|add up those partial sums].",
           "Place-value addition [avoids carrying altogether|needs no carrying at all|does without carries]. We add hundreds to hundreds, tens to tens and ones to ones, and only [combine the results|put the pieces together|add the pieces up] at the end."),
    ),
    "subtraction": (
        _s("subtraction", "column_borrow", "Column subtraction with borrowing", "forgetting the borrow",
           "To subtract in columns, [start with|begin at|work first on] the ones. If the top digit is too small, borrow ten from the next column: [the current column|this column] gains ten and the [next column|column to its left] [owes|gives up|loses] one.",
           "Column subtraction [takes|handles|works through] one place at a time from right to left. A borrow [turns|changes] a digit d into d + 10 in this column and [takes one away from|lowers by one] the column to its left.",
           "When a column would go negative, we borrow. Borrowing [is exchanging|means trading|amounts to swapping] one unit of the next place value for ten units of this one."),
        _s("subtraction", "count_up", "Subtraction by counting up", "an arithmetic slip",
           "A difference is the distance between two numbers. To find a - b, start at b and count up to a in [friendly jumps|easy jumps|convenient steps]; the [total of the jumps|sum of those jumps|jumps added up] is the difference.",
           "Counting up turns subtraction into addition: [jump|hop|count] from the smaller number to the next round number, then [by larger round steps|in bigger round jumps] until you reach the larger number, and [add up the jumps|the jumps added together give the difference|total the jumps]."),
    ),
    "multiplication": (
        _s("multiplication", "long", "Long multiplication", "a place-value slip",
           "Long multiplication multiplies the first number by each digit of the second, [one row per digit|writing one row for each digit|a row at a time]. Each row is [shifted|moved over|set over] by the digit's place value, and the rows are [added|summed|added up] at the end.",
           "In long multiplication a digit in the tens place [really stands for|is worth|counts as] tens, so its row is multiplied by 10; a digit in the hundreds place gives a row multiplied by 100, and so on."),
        _s("multiplication", "distributive", "Multiplying with the distributive law", "a place-value slip",
           "The distributive law says a * (b + c) = a * b + a * c. [Split|Break] the second number into its place values, multiply the first number by each part, and [add the products|add the products together|sum the products].",
           "To multiply by a many-digit number, [break it into round parts|split it into round pieces|cut it into round parts]. Multiplying by a round number is [easy|quick|simple], and the distributive law lets us [add the pieces back together|put the pieces back together|add the partial products]."),
    ),
    "division": (
        _s("division", "long", "Long division", "a remainder slip",
           "Long division works from the leftmost digit. Bring down one digit at a time, ask how many times the divisor [fits|goes in], write that quotient digit, and [carry the remainder into the next step|take the remainder on to the next step|pass what is left to the next step].",
           "In long division each step divides a [small|short] number: the remainder so far [with|together with|followed by] the next digit brought down. The quotient digits, [read in order|read from first to last|taken in order], [form|make up|spell out] the quotient."),
        _s("division", "chunking", "Division by chunking", "a remainder slip",
           "Chunking divides by repeated subtraction of large multiples. [Take away|Subtract|Remove] a big round multiple of the divisor, repeat with what is left, and [add up the multipliers you used|add the multipliers together|total the multipliers].",
           "Division asks how many copies of the divisor fit into a number. Chunking [removes|takes away|subtracts] many copies at once, such as 100 or 20 copies, until less than one divisor [remains|is left]."),
    ),
    "gcd_lcm": (
        _s("gcd_lcm", "euclid", "Euclid's algorithm", "a remainder slip",
           "The greatest common divisor of two numbers does not change if we replace the larger by its remainder on division by the smaller. Repeat until the remainder is 0; the last divisor is the gcd. The least common multiple is a * b / gcd(a, b).",
           "Euclid's algorithm divides, keeps the remainder, and divides again. When a remainder of zero [appears|turns up|is reached], the divisor [used in that step|of that last division] is the greatest common divisor."),
        _s("gcd_lcm", "factorize", "GCD and LCM from prime factors", "an arithmetic slip",
           "Write each number as a product of primes. The gcd takes every shared prime to the smaller of its two powers; the lcm takes every prime that [appears|occurs in either number] to the larger power.",
           "A prime factorization shows the [building blocks|basic pieces] of a number. [Common blocks|The blocks both numbers share] give the greatest common divisor, and [the union of all blocks|all the blocks together, each as often as it is needed,] give the least common multiple."),
    ),
    "base_conversion": (
        _s("base_conversion", "repeated_division", "Changing base by repeated division", "a remainder slip",
           "To write a number in base b, divide it by b [again and again|repeatedly|over and over]. The remainders are the digits, from the last place to the first, so they are read [from bottom to top|upwards|in reverse order]. Going the other way, multiply by b and add [each next digit|the next digit each time].",
           "A base-b numeral [lists|records|tells] how many ones, b's, b squared's and so on a number [holds|contains]. Each division by b [peels off|splits off|strips away] the lowest digit as its remainder."),
        _s("base_conversion", "place_values", "Changing base with place values", "a remainder slip",
           "In base b the places are worth 1, b, b^2, b^3 and so on. Find the largest power that fits, see how many times it fits, and [continue with|carry on with|go on with] the remainder; to go back, multiply each digit by its place value and [add|add the results|sum them].",
           "Place values make base conversion a matter of counting: how many of each power of the base does the number [contain|hold|have in it]?"),
    ),
    "expressions": (
        _s("expressions", "innermost_first", "Evaluating expressions from the inside out", "a sign error",
           "To evaluate an expression, [work on|start with|deal with] the innermost brackets first. Inside any bracket, multiplication and division come before addition and subtraction, and operations of equal rank [go from left to right|are done left to right|are taken in order from the left].",
           "Brackets say 'do this first'. Replace the innermost bracket by its value, [rewrite|write out again|copy out] the whole expression, and repeat until a single number [is left|remains]."),
        _s("expressions", "precedence", "Order of operations", "a sign error",
           "The order of operations is: brackets first, then multiplication and division [from left to right|in order from the left], then addition and subtraction [from left to right|in order from the left]. Each step [computes|carries out|does] one operation whose [operands|inputs|two numbers] are already known.",
           "Operator precedence tells us which operation to do next: a * or / binds more tightly than a + or -, so 2 + 3 * 4 is 2 + 12, not 5 * 4."),
    ),
    "linear_equation": (
        _s("linear_equation", "balance", "Solving equations by balancing", "a sign error",
           "An equation is a balance: doing the same thing to both sides keeps it [true|level|balanced]. Simplify each side, [gather|collect|bring together] the x terms on one side and the numbers on the other, then divide by the [coefficient of x|number in front of x].",
           "To solve for x, undo what has been done to x[| in reverse order]. Adding, subtracting, multiplying or dividing both sides by the same number keeps the two sides [equal|in balance]."),
        _s("linear_equation", "inverse", "Solving equations with inverse operations", "a sign error",
           "Every operation has an inverse: [subtraction undoes addition and division undoes multiplication|addition is undone by subtraction and multiplication by division]. Once the equation reads ax + b = c, we get ax = c - b and then x = (c - b) / a.",
           "Moving a term to the other side of an equation [changes its sign|flips its sign|turns + into - and - into +]. Moving a factor [changes|turns] multiplication into division."),
    ),
    "word_problem": (
        _s("word_problem", "forward", "Word problems: working forward", "choosing the wrong operation",
           "In a word problem, each sentence [states|gives|describes] one relationship. 'More than' means add, 'fewer than' means subtract, 'times as many' means multiply and 'as many as ... together' means add both. Work forward from the [known amounts|amounts already given|numbers you know].",
           "[Translate|Turn] each sentence into one calculation and [compute|work out] the amounts in an order where everything a calculation needs is already known."),
        _s("word_problem", "backward", "Word problems: planning backward", "choosing the wrong operation",
           "Start from the question and ask what it needs. Each unknown amount depends on others; [follow those needs back|trace those needs back|work back] to the given numbers, then compute forward.",
           "Planning backward means [listing|writing down] what you must know before you can answer, and then [filling in|working out] those amounts one by one."),
    ),
    "logic": (
        _s("logic", "innermost_first", "Evaluating Boolean formulas", "mixing up the truth values",
           "A Boolean formula is [true or false|either true or false]. 'not' [flips|reverses] a value, 'and' is true only when both sides are true, and 'or' is true when at least one side is true. [Substitute the facts|Put in the facts|Replace each letter by its value], then simplify from the innermost brackets outward; 'not' binds tightest, then 'and', then 'or'.",
           "To evaluate a formula, [replace|substitute] each letter [by|with] its truth value and simplify one operator at a time, [starting inside|working outward from] the brackets."),
        _s("logic", "short_circuit", "Short-circuit evaluation", "mixing up the truth values",
           "An 'and' with a false side is false whatever the other side is, and an 'or' with a true side is true. Short-circuit evaluation uses this to skip the part that [cannot change the answer|cannot matter|makes no difference].",
           "When the first side of 'and' is False, or the first side of 'or' is True, the result is already [decided|settled|fixed]; the rest can be written as '...'."),
    ),
    "counting": (
        _s("counting", "per_kind", "Counting by groups", "adding instead of multiplying",
           "When there are several groups of equal size, the total is the number of groups times the size of each. Count each kind [separately|on its own] with a multiplication, then add the kinds together.",
           "Repeated addition is multiplication: 7 animals with 4 legs each have 7 * 4 legs. Totals over several kinds are [sums of such products|such products added together]."),
        _s("counting", "running", "Counting with a running total", "an order-of-operations slip",
           "Keep a running total. For each new kind, multiply how many there are by the legs [each has|on each animal], and add the product to the [total so far|running total].",
           "A running total grows one group at a time; [multiplication inside each update comes before the addition|in each update the multiplication is done before the addition]."),
    ),
    "modular": (
        _s("modular", "rewrite", "Rewriting a sum mod 10 from the left", "subtracting the wrong way round",
           "Working mod 10 means only the last digit counts: 17 and 7 are the same mod 10, and so are -3 and 7. To [work out|evaluate|compute] a chain such as 7+5-9+3 mod 10 by rewriting, do the first operation exactly and write the whole expression again with its result in front: =12-9+3. The next operation starts from that front number mod 10, so 12 carries on as 2 and 2-9 gives =-7+3; a negative front number carries on plus 10, so -7 carries on as 3 and 3+3 gives =6. Each line is one operation shorter[| than the last], and the answer is the last number mod 10.",
           "A long sum mod 10 can be shortened one operation at a time. Combine the first two numbers exactly and copy the rest of the expression unchanged. Before the next operation, the number in front is replaced by its value mod 10: its last digit, or the number plus 10 if it is negative. That only adds or removes a multiple of 10, so the value of the expression mod 10 never changes from line to line.",
           "Subtracting mod 10 works like [subtracting|counting back] on a clock face with ten hours: a result below zero is the same as that result plus 10. Rewriting from the left does the first operation exactly and [writes|copies] the rest of the expression after its result; the next line starts from that result mod 10. When a single number is left, that number mod 10 is the answer."),
        _s("modular", "running", "A running total mod 10", "dropping the minus sign when carrying on",
           "Keep a running total, doing each operation exactly: 8+5=13. The next line starts from the last digit of that result, so 13 carries on as 3: 3-9=-6. A negative result carries on plus 10, so -6 carries on as 4. The answer is the last result taken mod 10 in the same way.",
           "Working mod 10 means only the last digit counts. [Add or subtract exactly|Do each addition or subtraction exactly] on each line; the number a line starts from never needs more than one digit: a result of 10 or more carries on as its last digit, and a result below zero carries on as the result plus 10.",
           "The remainder of a sum on division by 10 depends only on the remainders of its [parts|terms]. That is why each line may start from the previous result mod 10, a single digit from 0 to 9, instead of the full total, while the line itself is written with its exact result."),
        _s("modular", "exact", "Adding exactly, then reducing mod 10", "reducing a negative number as if it were positive",
           "One way to find a sum mod 10 is to [ignore|set aside] the modulus until the very end. Add and subtract the terms exactly, keeping negative totals as they are, and only then take the result mod 10: its last digit if it is not negative, or the number plus enough tens to land between 0 and 9 if it is negative.",
           "Exact-then-reduce [computes|works out] the ordinary value of the chain first. The final step finds the remainder on division by 10; for a negative total such as -13, add 20 to get 7, because the remainder mod 10 is always one of 0 to 9.",
           "Reducing once at the end gives the same answer as reducing after [every step|each step], because taking mod 10 keeps only the last digit and adding or subtracting a multiple of 10 never changes it. Negative totals need [care|attention]: -3 mod 10 is 7, not 3."),
        _s("modular", "pairwise", "Adding mod 10 in pairs", "carrying on the tens digit",
           "Instead of one long chain, a sum mod 10 can be [computed|worked out] like a tournament. Treat each number with its sign as a term and add neighbouring terms in pairs, exactly: -9 and 3 make -6. The next round pairs up those results taken mod 10, so -6 carries on as 4 and 12 as 2. When a round has an odd number of terms, the last one [moves up|goes through|passes] to the next round unchanged. The answer is the last result mod 10.",
           "The pairwise (tree) method [adds|combines] terms in rounds. In the first round each pair is two neighbouring signed terms, such as -9 and 3, whose exact sum is -6. Each later round adds pairs of the previous round's results, each carried on mod 10 (-6 counts as 4, 15 as 5), until one result [is left|remains]; that result mod 10 is the answer.",
           "Addition can be grouped in any way without changing the total, and so can addition mod 10. Grouping neighbours in pairs halves the number of terms each round, so even a long chain needs only a few rounds; each pair is added exactly, and only its value mod 10 goes on to the next round. A term with a minus sign keeps it: subtracting 0 is still written -0."),
        _s("modular", "hinted", "A running total mod 10, term by letter", "adding the term with the wrong letter",
           "In a long chain it is easy to lose your place. Label every term with a letter, as in n7+o5-p9+q3 mod 10, and keep a running total that names the term it adds: 7+o5=12, then 2-p9=-7, then 3+q3=6. Each line starts from the last result mod 10 and adds the term whose letter comes next; the answer is the last result mod 10.",
           "Letters mark the place of each term, so the next term is found by its letter, [not by counting|with no counting]. Each line does one operation exactly; the number it starts from is the previous result mod 10 (its last digit, or the result plus 10 if it is negative), and the letter after the sign [says|tells us] which term is added.",
           "Naming the term a line uses makes the order of the work checkable: the letters of the lines must follow the letters of the question one by one. A skipped term shows at once as a skipped letter."),
    ),
}


def skills(family: str) -> tuple[Skill, ...]:
    if family not in SKILLS:
        raise KeyError(f"no textbook skills for family {family!r}; known: {', '.join(SKILLS)}")
    return SKILLS[family]


def _fields(step: Step) -> dict[str, Any]:
    """Named pieces of a step (i0, i1, ..., r, r0, r1) for the templates."""
    f: dict[str, Any] = {f"i{k}": v for k, v in enumerate(step.inputs)}
    r = step.result
    if isinstance(r, tuple):
        f |= {f"r{k}": v for k, v in enumerate(r)}
        f["r"] = ", ".join(map(str, r))
    elif isinstance(r, str) and " R " in r:  # division's "380 R 185"
        q, rem = r.split(" R ", 1)
        f["r"] = f"{q} (remainder {rem})"
    elif r is not None:
        f["r"] = r
    if isinstance(r, int) and not isinstance(r, bool):
        f["rd"], f["rc"] = r % 10, r // 10  # column digit written, carry out
    return f


# op -> phrasings. A phrasing whose fields a step lacks is skipped, and the
# generic phrasing at the end always fits, so every step gets some sentence.
# "[a|b]" groups are alternatives (``templates.vary``), picked per use.
_GIVES = "[gives|makes|comes to|is|leaves us with|yields]"
_EXPLAIN: dict[str, tuple[str, ...]] = {
    "add_column": ("The digits {i0} and {i1} plus the carry {i2} make {r}, so we [write|keep] {rd} and carry {rc}.",
                   "[In this column|Here|In this place] {i0} + {i1} + {i2} = {r}; [we keep|we write|the digit written is] {rd} and [carry|pass on] {rc}.",
                   "The column [total|sum] is {r}: write {rd}, carry {rc}.",
                   "{i0} and {i1} with a carry of {i2} [come to|make|add up to] {r}.",
                   "[Adding|Summing] {i0}, {i1} and the [incoming|previous] carry {i2} " + _GIVES + " {r}, which leaves {rd} here and [sends|carries] {rc} to the left.",
                   "This [place|column] holds {i0} and {i1}, and {i2} was carried in: {r} in all, digit {rd}, carry {rc}.",
                   "[Sum of the column|Column sum]: {r}. Only the ones digit {rd} [fits|is written], so {rc} is carried.", "{i0} over {i1}, plus {i2} carried in, is {r}: {rd} stays in [the column|this place] and {rc} moves left.", "[Here|This time] the column holds {i0} and {i1}; with the carry {i2} that is {r}, so we write {rd} and carry {rc}."),
    "sub_column": ("[Here|In this column] the top digit is {i0}, the bottom digit is {i1} and the borrow owed is {i2}; the digit written is {r}.",
                   "We take {i1} and the borrow {i2} away from {i0}, borrowing ten if needed, and write {r}.",
                   "Top {i0}, bottom {i1}, borrow {i2}: the [column's|place's] digit is {r}.",
                   "[From|Out of] {i0} we remove {i1} and the {i2} owed; borrowing a ten when that goes below zero, the digit is {r}.",
                   "{i0} minus {i1} minus the borrow {i2}, with a ten borrowed if needed, leaves {r} in this [place|column].",
                   "The digits {i0} over {i1}, with {i2} still owed, [give|leave] {r} for this [place|column].", "Take {i1} and the owed {i2} from {i0}, borrowing ten if that would go negative: the digit is {r}.", "With {i0} on top and {i1} below, and {i2} owed to the right, [this place|the column] ends up with {r}.", "[This column|This place] reads {i0} over {i1} with a borrow of {i2}, and its digit is {r}."),
    "read_digits": ("Reading the digits in order " + _GIVES + " [the result|the answer], {r}.",
                    "[In order|Read in order], the digits [give|spell|form] {r}.",
                    "[Together|Side by side], the written digits [give|make] {r}.", "Written in order, the digits [make|form] the answer {r}."),
    "setup": ("We start at {i0} and will count up to {i1}.",
              "The jumps will take us from {i0} up to {i1}.",
              "Counting up [begins|starts] at {i0} and [ends|stops] at {i1}.",
              "We need the [distance|gap] from {i0} to {i1}."),
    "add": ("[Adding|Summing] {i0} and {i1} " + _GIVES + " {r}.", "{i0} plus {i1} is {r}.",
            "{i0} and {i1} [together make|add up to|come to] {r}.", "The sum of {i0} and {i1} is {r}.",
            "These [add up to|total] {r}.", "[Altogether|In all] that is {r}."),
    "add/2": ("[Adding|Summing] {i0} and {i1} " + _GIVES + " {r}.", "{i0} plus {i1} [is|equals] {r}.",
              "{i0} and {i1} [together make|add up to|come to] {r}.", "The sum of {i0} and {i1} is {r}.",
              "[Putting|Adding] {i1} onto {i0} [brings us to|gives] {r}.", "We combine {i0} with {i1} and get {r}.",
              "{i1} more than {i0} is {r}.", "[Add|Adding] {i1} to {i0}: {r}."),
    "sum": ("[Putting|Adding] {i0} and {i1} together gives {r}.", "{i0} and {i1} [add up to|total] {r}.",
            "The two amounts, {i0} and {i1}, [total|come to] {r}."),
    "mul": ("[Multiplying|The product] gives {r}.", "{i0} times {i1} is {r}.", "{i0} groups of {i1} make {r}.",
            "The product of {i0} and {i1} is {r}.", "{i1} taken {i0} times [comes to|makes] {r}.",
            "[Multiplying|Multiply] {i0} by {i1}: {r}."),
    "mul/3": ("{i0} times the digit {i1}, shifted by the place value {i2}, is {r}.",
              "This row is {i0} * {i1} * {i2} = {r}.",
              "The digit {i1} stands for {i1} times {i2}, so this row is {i0} times that: {r}.",
              "[Multiplying|We multiply] {i0} by {i1} and by the place value {i2}[, which gives|:] the row {r}.", "The digit {i1} here is worth {i1} * {i2}, so its row is {i0} times that: {r}.", "{i0} * {i1} * {i2} = {r} is the partial product for this digit and its place.", "Because the digit {i1} sits in the place worth {i2}, this row is {i0} * {i1} * {i2}, that is {r}."),
    "mul_add": ("Multiply {i0} by {i1} and add the next digit {i2} to get {r}.",
                "{i0} times the base {i1}, plus the digit {i2}, is {r}.",
                "[Shifting|Moving] {i0} up one place (times {i1}) and adding {i2} gives {r}."),
    "add_mul": ("The running total {i0} grows by {i1} * {i2}, giving {r}.",
                "To {i0} we add {i1} groups of {i2}, [reaching|giving] {r}.",
                "{i1} times {i2} is added to the {i0} so far: {r}."),
    "split": ("First we break the number into place-value parts.",
              "Splitting by place value makes each part easy."),
    "split/2": ("First we [break|split] both numbers into place-value parts, so that matching places can be added.",
                "Splitting {i0} and {i1} by place value lets us add [hundreds to hundreds, tens to tens|each place to its match].",
                "We write {i0} and {i1} as sums of their place values.", "Both numbers are written in expanded form: {i0} and {i1} by their places."),
    "split/1": ("First we break {i0} into place-value parts, so each product is easy.",
                "Splitting {i0} by place value turns one hard product into a few easy ones.",
                "We write {i0} as a sum of its place values."),
    "divmod": ("{i1} goes into {i0} {r0} times with {r1} left over.",
               "[Dividing|Division of] {i0} by {i1} gives {r0} [with|and a] remainder {r1}.",
               "{i0} holds {r0} whole copies of {i1}, and {r1} is left.",
               "{r0} times {i1} fits into {i0}; [what remains|the rest] is {r1}.",
               "Taking {r0} copies of {i1} out of {i0} leaves {r1}.", "{i0} divided by {i1} is {r0}, remainder {r1}.", "{r0} copies of {i1} make up most of {i0}, and {r1} is left over.", "Sharing {i0} into groups of {i1}: {r0} of them, and {r1} over."),
    "sub": ("Taking away leaves {r}.", "Subtracting gives {r}.", "What remains is {r}."),
    # linear_equation: a number moved to the other side. Its one input is the
    # moved number in the balance style but the right side in the inverse
    # style, so these phrasings name neither.
    "sub/1": ("Moving the constant across to the other side leaves {r} there.",
              "[Undoing|Removing] the constant on both sides gives {r} on the right.",
              "The constant [moves|goes] across with its sign changed, leaving {r}."),
    "add/1": ("Moving the constant across gives {r}.", "Undoing the subtraction gives {r}."),
    "sub/2": ("Taking {i1} from {i0} leaves {r}.", "{i0} minus {i1} is {r}.",
              "[Subtracting|Removing] {i1} from {i0} " + _GIVES + " {r}.", "After removing {i1}, {r} [remain|are left] of {i0}.",
              "The difference of {i0} and {i1} is {r}."),
    "diff": ("The difference is {r}.", "The gap between the two is {r}."),
    "div": ("Dividing gives {r}.", "Sharing out equally gives {r}.", "Each equal part is {r}."),
    # linear_equation: in the balance style this line gives x, in the inverse
    # style an inner bracket ("x - 14 = -56 / 7 = -8"), so x is not named.
    "div/1": ("Dividing both sides by the coefficient gives {r}.",
              "[Divide|Dividing] by the coefficient: {r}.", "Sharing both sides by the coefficient leaves {r}.", "What multiplies x is divided away on both sides, giving {r}."),
    "div/2": ("[Dividing|Division of] {i0} by {i1} gives {r}.", "{i0} shared into {i1} equal parts is {r} each.",
              "{i0} divided by {i1} is {r}.", "There are {r} groups of {i1} in {i0}."),
    "gcd": ("So the greatest common divisor is {r}.",),
    "lcm": ("Multiplying the larger prime powers gives the lcm, {r}.",
            "Taking every prime to its larger power gives the lcm, {r}."),
    "factor": ("{i0} splits as {i1} times {r}.", "We pull out the prime factor {i1} from {i0}.",
               "{i1} divides {i0}, leaving {r}.", "{i0} is {i1} times {r}[, so {i1} is a prime factor|].",
               "Dividing {i0} by the prime {i1} leaves {r}."),
    "is_prime": ("{i0} has no smaller divisor, so it is prime.",
                 "No prime up to the square root of {i0} divides it, so {i0} is prime.",
                 "{i0} cannot be split [any further|into smaller factors]: it is prime.", "Trying the primes up to its square root, none divides {i0}: {i0} is prime.", "{i0} is a prime, so the splitting stops here.", "Nothing smaller than {i0} except 1 divides it, so {i0} is itself a prime factor."),
    "factorization": ("Collecting the primes gives the factorization of {i0}.",
                      "Gathering the prime factors, {i0} is written as a product of primes.", "The primes found so far, multiplied together, give back {i0}.", "Putting the prime factors side by side writes {i0} as a product of primes."),
    "powers": ("We list the powers of {i0} that do not exceed {i1}.",
               "The powers of {i0} up to {i1} are the place values we need."),
    "start": ("We begin with the leading digit, {r}.", "The first digit, {r}, starts the total."),
    "+": ("{i0} + {i1} = {r} replaces that part.", "[Adding|Summing] {i0} and {i1} " + _GIVES + " {r}.",
          "The sum {i0} + {i1} becomes {r}.", "{i0} plus {i1} is {r}, written in its place."),
    "-": ("{i0} - {i1} = {r}; watch the sign.", "Subtracting {i1} from {i0} " + _GIVES + " {r}.",
          "{i0} minus {i1} is {r}.", "The part {i0} - {i1} becomes {r}."),
    "*": ("{i0} * {i1} = {r}; products come before sums.", "[Multiplying|Multiply] {i0} by {i1}: {r}.",
          "{i0} times {i1} is {r}, done before any addition.", "The product {i0} * {i1} becomes {r}."),
    "/": ("{i0} / {i1} = {r} is done before adding or subtracting.", "Dividing {i0} by {i1} " + _GIVES + " {r}.",
          "{i0} divided by {i1} is {r}.", "The quotient {i0} / {i1} becomes {r}."),
    "simplify": ("First we expand the brackets and collect like terms on each side.",
                 "Expanding the brackets and gathering like terms tidies both sides.",
                 "We multiply out the brackets and combine the x terms and the numbers on each side.", "To begin, we tidy each side: brackets out, like terms together.", "The first line writes each side in its simplest form, with every bracket expanded.", "Multiplying out and collecting terms turns each side into at most one x term and one number."),
    "sub_x": ("Next we move the x terms to one side.", "We collect every x term on the left.",
              "Subtracting the same x term from both sides gathers the unknowns together.", "Gathering the x terms on one side leaves only numbers on the other.", "The x terms are brought together so that a single x term remains."),
    "plan": ("Before computing, we note which amounts we need first.",
             "We first work out what this amount depends on.",
             "This amount depends on what {i0} has, so that comes first.", "To compute this amount we first need to know what {i0} has.", "This line of the plan names what must be known first: what {i0} has."),
    "plan/2": ("Before computing, we note which amounts we need first.",
               "This amount depends on two others: {i0} and {i1}.",
               "We must know what {i0} and {i1} have before this one.", "Planning first: this amount needs what {i0} and {i1} have.", "Here the plan notes two amounts to find before this one: what {i0} has and what {i1} has."),
    "substitute": ("We substitute the given truth values for the letters.",
                   "Each letter is replaced by its truth value.",
                   "Replacing the letters by True or False leaves a formula of constants."),
    "and": ("'and' is true only if both sides are true, so this part is {r}.",
            "Both sides must hold for 'and'; here the result is {r}.",
            "This conjunction evaluates to {r}.",
            "An 'and' needs two true sides, so we get {r}.", "For 'and', a single false side makes the whole part false; the value is {r}.", "The 'and' here works out to {r}.", "Both sides are needed for 'and', which gives {r}."),
    "and/2": ("{i0} and {i1} is {r}, since 'and' needs both sides true.",
              "With {i0} on one side and {i1} on the other, the 'and' gives {r}.",
              "'and' of {i0} and {i1}: {r}.", "This conjunction evaluates to {r}."),
    "or": ("'or' is true if either side is true, so this part is {r}.",
           "One true side is enough for 'or'; the value is {r}.",
           "This disjunction evaluates to {r}.",
           "An 'or' is false only when both sides are false, so we get {r}.", "For 'or', a single true side is enough; this part is {r}.", "The 'or' here works out to {r}.", "Either side may make an 'or' true; here it is {r}."),
    "or/2": ("{i0} or {i1} is {r}, since one true side is enough.",
             "With {i0} and {i1} on the two sides, the 'or' gives {r}.",
             "'or' of {i0} and {i1}: {r}.", "This disjunction evaluates to {r}."),
    "not": ("'not' flips the value, giving {r}.", "Negating gives {r}.",
            "The negation turns the value into {r}."),
}
_GENERIC = ("This step gives {r}.", "This line records the next step.", "The result of this line is {r}.")


# Modular steps (``rtt_jax.tasks.modular``): "add"/"sub" with inputs (x, y)
# and the exact result x ± y, where x is the value carried on from the
# previous line (already reduced mod 10, except in the exact style), and "mod"
# with inputs (t, 10); pairwise steps are "add" of two operands written as
# strings, signed terms ("-9", "3", "-0") or earlier results carried on mod 10.
# Keyed by what the step did, so no phrasing can be false: every line is exact,
# and a reduction happens only between lines (named with the next line, given
# the trace) or at the end.
_MODULAR: dict[str, tuple[str, ...]] = {
    "plain": ("{expr} = {r}.", "Exactly, {expr} = {r}.", "The line is exact: {expr} = {r}.",
              "[We get|This gives] {expr} = {r}.", "Worked out exactly, {expr} comes to {r}.",
              "The exact value of {expr} is {r}.", "Computing {expr} exactly gives {r}.",
              "This line works out {expr}, which is {r}.", "{expr} makes {r}[, exactly|]."),
    # A result reduced inside its line (valid, but no solver writes it any more).
    "wrap": ("{expr} = {e}, and keeping only the last digit leaves {r}.",
             "{expr} is {e}, which is {r} mod 10."),
    "negative": ("{expr} = {e}, which is negative, so we add {k} and get {r}.",
                 "{expr} is {e}, and {e} mod 10 is {r}, because {e} + {k} = {r}."),
    "exact": ("We keep the exact value: {expr} = {r}, with no reduction yet.",
              "{expr} = {r}; the total is kept exact and reduced only at the end.",
              "Exactly, {expr} is {r}; the mod 10 step comes last.",
              "{expr} = {r}[, kept exact for now|; no reduction yet]."),
    "exact_negative": ("{expr} = {r}; the exact total may go below zero, and we reduce only at the end.",
                       "Exactly, {expr} = {r}; a negative total is fine until the last step.",
                       "{expr} = {r}[, below zero for now|; negative is allowed until the end]."),
    "mod": ("{t} mod 10 = {r}: the last digit of {t} is {r}.",
            "Reducing at the end, {t} leaves remainder {r} on division by 10.",
            "The final reduction keeps only the last digit: {t} mod 10 is {r}.",
            "[Finally|At the end], {t} mod 10 = {r}."),
    "mod_small": ("{t} is already between 0 and 9, so {t} mod 10 = {r}.",
                  "The total {t} is a single digit, so reducing it mod 10 leaves {r}."),
    "mod_negative": ("{t} is negative, so we add {k} to land between 0 and 9: {t} mod 10 = {r}.",
                     "To reduce the negative total {t}, add {k}; the remainder mod 10 is {r}.",
                     "{t} + {k} = {r}, so {t} mod 10 is {r}."),
    # An operand carried on from the earlier result z as v = z mod 10.
    "carry_negative": ("{z} carries on as {v}, since {z} + {k} = {v}",
                       "the earlier result {z} is negative, so it counts as {z} + {k} = {v}",
                       "{z} mod 10 is {v}, so {v} is what we use",
                       "[from|after] {z}, {z} carries on as {v}",
                       "{z} is raised by {k} to {v}",
                       "{z} is below zero, and {z} + {k} = {v} is the digit it carries on as"),
    "carry_big": ("{z} carries on as its last digit, {v}",
                  "only the last digit of the earlier result {z} counts, which is {v}",
                  "{z} mod 10 is {v}, so {v} is what we use",
                  "[we keep|what matters is] the last digit of {z}: {z} carries on as {v}",
                  "of the earlier {z}, only the ones digit {v} goes forward",
                  "{z} has ones digit {v}, and that digit is all that carries on"),
    # The last line of a style that reduces at the very end (not exact's).
    "answer": (" That is a single digit, so it is the answer.",
               " It lies between 0 and 9, so it is already the answer.",
               " [A single digit|Between 0 and 9]: that is the answer."),
    "answer_reduced": (" The answer is {r} mod 10 = {a}.",
                       " So the answer is {a}, since {r} mod 10 = {a}."),
}
_REWRITE_LEADS = ("Doing the first operation: ", "The front of the expression: ",
                  "We combine the first two numbers. ", "", "The leading pair: ",
                  "First operation on this line: ", "")
_PAIR_LEADS = ("The neighbours {x} and {y}: ", "Pairing {x} with {y}: ", "This pair adds {x} and {y}. ",
               "{x} meets {y}: ", "Next pair, {x} and {y}: ", "Terms {x} and {y} together: ")


def _int_or_none(x) -> int | None:
    try:
        return int(str(x))
    except ValueError:
        return None


def modular_sources(trace) -> list[tuple[int | None, int | None]]:
    """For each step of a modular trace, which earlier step's result each of its
    two operands carries on from (None: a term of the question, or the second
    operand of a chain). Follows ``modular.solve_steps``: a chain's line starts
    from the line before; pairwise rounds pair neighbours, the odd one out
    moving up."""
    n = len(trace.steps)
    if trace.style != "pairwise":
        return [(k - 1 if k else None, None) for k in range(n)]
    out: list[tuple[int | None, int | None]] = []
    cur: list[int | None] = [None] * (n + 1)  # n additions join n + 1 terms
    while len(cur) > 1:
        nxt = []
        for i in range(0, len(cur) - 1, 2):
            out.append((cur[i], cur[i + 1]))
            nxt.append(len(out) - 1)
        cur = nxt + ([cur[-1]] if len(cur) % 2 else [])
    return out


def _carry_clauses(step: Step, nums: list[int], trace, index: int, variant: int) -> list[str]:
    """Why an operand is what it is: the earlier result it carries on from, mod 10."""
    out = []
    for pos, src in enumerate(modular_sources(trace)[index]):
        if src is None:
            continue
        z, v = trace.steps[src].result, nums[pos]
        if isinstance(z, bool) or not isinstance(z, int) or z == v or z % 10 != v:
            continue  # carried on as is (the exact style), or not a carry this describes
        options = _MODULAR["carry_negative" if z < 0 else "carry_big"]
        out.append(vary(options[variant % len(options)], random.Random(variant)).format(z=z, v=v, k=v - z))
    return out


def _explain_modular(step: Step, variant: int, trace=None, index: int | None = None) -> str | None:
    r = step.result
    nums = [_int_or_none(v) for v in step.inputs]
    if isinstance(r, bool) or not isinstance(r, int) or len(nums) != 2 or None in nums:
        return None
    if step.op == "mod":
        t = nums[0]
        kind = "mod_negative" if t < 0 else "mod_small" if 0 <= t < 10 else "mod"
        options = _MODULAR[kind]
        return vary(options[variant % len(options)], random.Random(variant)).format(t=t, r=r, k=r - t)
    x, y = nums
    pair = step.op == "add" and isinstance(step.inputs[1], str)  # pairwise: signed terms
    if pair:
        minus = str(step.inputs[1]).startswith("-")
        e = x + y  # x as written: a signed term keeps its sign, "-0" too
        expr = f"{step.inputs[0]} {'-' if minus else '+'} {abs(y)}"
    elif step.op in ("add", "sub"):
        e = x + y if step.op == "add" else x - y
        expr = f"{x} {'+' if step.op == 'add' else '-'} {y}"
    else:
        return None
    if r != e and r != e % 10:
        return None  # not a modular step this table describes
    # The step in its trace, if given: the style, the carries into it, the end.
    placed = (trace is not None and index is not None and 0 <= index < len(trace.steps)
              and trace.steps[index] == step)
    style = trace.style if placed else None
    if r != e:
        kind = "negative" if e < 0 else "wrap"
    elif style == "exact":
        kind = "plain" if 0 <= e < 10 else "exact_negative" if e < 0 else "exact"
    else:
        kind = "plain"
    options = _MODULAR[kind]
    body = vary(options[variant % len(options)], random.Random(variant)).format(expr=expr, e=e, r=r, k=r - e)
    if placed and style != "exact" and index == len(trace.steps) - 1 and str(r % 10) == trace.answer:
        ending = _MODULAR["answer" if 0 <= r < 10 else "answer_reduced"]
        body += vary(ending[variant % len(ending)], random.Random(variant)).format(r=r, a=r % 10)
    if pair:
        lead = _PAIR_LEADS[variant % len(_PAIR_LEADS)].format(x=step.inputs[0], y=step.inputs[1])
    elif step.text.startswith("="):
        lead = _REWRITE_LEADS[variant % len(_REWRITE_LEADS)]
    else:
        lead = ""
    text = lead + (body[0].lower() + body[1:] if lead.endswith(": ") else body)
    carries = _carry_clauses(step, nums, trace, index, variant) if placed else []
    if carries:
        said = "; ".join(carries)
        text = said[0].upper() + said[1:] + ". " + text
    return text


def explain(step: Step, variant: int, family: str | None = None,
            trace=None, index: int | None = None) -> str:
    """A sentence describing ``step``; ``variant`` picks among phrasings.
    ``family`` selects a family's own phrasings where its steps need them
    (modular: each line is exact, and results carry on mod 10 between lines);
    ``trace`` and ``index`` (the step's trace and position in it) let those
    phrasings name the earlier result an operand carries on from."""
    if family == "modular":
        special = _explain_modular(step, variant, trace, index)
        if special is not None:
            return special
    fields = _fields(step)
    # An arity-specific entry wins: "mul" with three inputs is a shifted row.
    options = _EXPLAIN.get(f"{step.op}/{len(step.inputs)}", _EXPLAIN.get(step.op, ()))
    if family == "modular":  # a step the table above cannot describe: generic words only
        options = ()
    # Only phrasings whose fields this step has; the generic ones are a last resort.
    fitting = []
    n_inputs = len(step.inputs)
    for template in options:
        used = {int(k) for k in re.findall(r"\{i(\d)\}", template)}
        # A phrasing that names some operands must name all of them: "adding 4
        # and 16 gives 28" would be false for the three-term sum 4 + 16 + 8.
        if used and used != set(range(n_inputs)):
            continue
        try:
            template.format(**fields)
        except (KeyError, IndexError):
            continue
        fitting.append(template)
    if not fitting:
        fitting = [t for t in _GENERIC if "{r}" not in t or "r" in fields]
    # ``variant`` picks the phrasing and, through a generator seeded by it,
    # each "[a|b]" choice inside it (``templates.vary``).
    template = vary(fitting[variant % len(fitting)], random.Random(variant))
    return template.format(**fields)
