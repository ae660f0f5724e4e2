"""Multi-digit addition: the four formats of Lee et al. 2023, column addition
and place-value addition.

Level ``L``: the longer operand has exactly ``L`` digits; the other has ``L``
digits half of the time and 1..L otherwise (Lee's 3-digit data, which mixes
lengths, is level 3). The problem text is ``What is 128 + 367?``.

Styles (the four ``lee_*`` ones are character for character those of "Teaching
Arithmetic to Small Transformers", Lee et al. 2023, as their data generator
writes them; for these ``format_example`` returns the published prompt and a
completion whose concatenation is the published example, and the answer is
carried by the format itself instead of a ``####`` marker):

``lee_plain``: ``128+367=495`` (prompt ``128+367=``).

``lee_reversed``: ``$128+367=594$``, the sum's digits reversed (prompt ``$128+367=``).

``lee_simplified`` (simplified scratchpad; one ``A->digit , C->carry`` line per
column from the right, the last ending in ``.``, then the sum)::

    Input:
    128+367
    Target:
    A->5 , C->1
    A->9 , C->0
    A->4 , C->0.
    495

``lee_detailed`` (detailed scratchpad; a final carry is prepended to the digits,
so 999+1 ends ``[] + [] , A=[0,0,0] C=1 , END`` then ``1 0 0 0``)::

    Input:
    128+367
    Target:
    <scratch>
    [1,2,8] has 3 digits.
    [3,6,7] has 3 digits.
    [1,2,8] + [3,6,7] , A=[] , C=0 , 8+7+0=15 , A->5 , C->1
    [1,2] + [3,6] , A=[5] , C=1 , 2+6+1=9 , A->9 , C->0
    [1] + [3] , A=[9,5] , C=0 , 1+3+0=4 , A->4 , C->0
    [] + [] , A=[4,9,5] C=0 , END
    </scratch>
    4 9 5

``column`` (natural language, answer after ``####``)::

    Column 1: 8 + 7 + carry 0 = 15, write 5, carry 1.
    Column 2: 2 + 6 + carry 1 = 9, write 9, carry 0.
    Column 3: 1 + 3 + carry 0 = 4, write 4, carry 0.
    Reading the written digits from left to right: 495.
    #### 495

With a final carry the last line reads ``Reading the final carry and the written
digits from left to right: 1000.``

``place_value`` (left to right, no carrying: split both numbers into place
values, add each place, then add the place sums; a place a number lacks is 0)::

    Split by place value: 128 = 100 + 20 + 8 and 367 = 300 + 60 + 7.
    Place 100: 100 + 300 = 400.
    Place 10: 20 + 60 = 80.
    Place 1: 8 + 7 = 15.
    Add: 400 + 80 = 480.
    Add: 480 + 15 = 495.
    #### 495
"""
from __future__ import annotations

import re
from pathlib import Path

from rtt_jax.json_lines import decode_line
from rtt_jax.tasks.answers import extract_final_answer
from rtt_jax.tasks.base import Problem, Step
from rtt_jax.tasks.digits import MAX_DIGITS, column_digit, random_with_digits
from rtt_jax.tasks.family import Family
from rtt_jax.tasks.stepwise import (LineChecker, RunningSum,
                                    solution_lines)

LEE_STYLES = ("lee_plain", "lee_reversed", "lee_simplified", "lee_detailed")
# Lee's plain and reversed formats write the answer and nothing else: a model
# trained on them writes no intermediate steps, so step validity and
# consistency do not apply to it (``standalone.trained_with_traces``).
ANSWER_LINE_STYLES = ("lee_plain", "lee_reversed")

_N = r"([0-9]{1,%d})" % MAX_DIGITS
# A Lee digit list: single digits, comma-separated, no spaces.
_LIST = r"\[((?:[0-9](?:,[0-9]){0,%d})?)\]" % MAX_DIGITS
_PLAIN_RE = re.compile(rf"{_N}\+{_N}={_N}", re.ASCII)
_REV_RE = re.compile(rf"\${_N}\+{_N}={_N}\$", re.ASCII)
_SIMPLE_RE = re.compile(r"A->([0-9]) , C->([0-9])\.?", re.ASCII)
_HEADER_RE = re.compile(rf"{_LIST} has ([0-9]{{1,3}}) digits\.", re.ASCII)
_DCOL_RE = re.compile(
    rf"{_LIST} \+ {_LIST} , A={_LIST} , C=([0-9]) , ([0-9])\+([0-9])\+([0-9])=([0-9]{{1,2}})"
    r" , A->([0-9]) , C->([0-9])", re.ASCII)
_DEND_RE = re.compile(rf"{_LIST} \+ {_LIST} , A={_LIST} C=([0-9]) , END", re.ASCII)
_SPACED_RE = re.compile(r"[0-9]( [0-9]){0,%d}" % MAX_DIGITS, re.ASCII)
_DIGITS_RE = re.compile(_N, re.ASCII)
_COL_RE = re.compile(
    r"Column ([0-9]{1,3}): ([0-9]) \+ ([0-9]) \+ carry ([0-9]) = ([0-9]{1,2}), "
    r"write ([0-9]), carry ([0-9])\.", re.ASCII)
_READ_RE = re.compile(
    rf"Reading (the final carry and )?the written digits from left to right: {_N}\.", re.ASCII)
_TERMS = r"([0-9]{1,%d}(?: \+ [0-9]{1,%d}){0,%d})" % (MAX_DIGITS, MAX_DIGITS, MAX_DIGITS)
_SPLIT_RE = re.compile(rf"Split by place value: {_N} = {_TERMS} and {_N} = {_TERMS}\.", re.ASCII)
_PLACE_RE = re.compile(rf"Place (1(?:0{{0,{MAX_DIGITS}}})): {_N} \+ {_N} = {_N}\.", re.ASCII)
_ADD_RE = re.compile(rf"Add: {_N} \+ {_N} = {_N}\.", re.ASCII)
_LEE_SKIP = frozenset({"Input:", "Target:", "<scratch>", "</scratch>"})


def _lst(digits) -> str:
    """Lee's ``list_to_string``: ``str(list)`` without spaces."""
    return "[" + ",".join(map(str, digits)) + "]"


def lee_prompt(a: int, b: int, style: str) -> str:
    if style == "lee_plain":
        return f"{a}+{b}="
    if style == "lee_reversed":
        return f"${a}+{b}="
    return f"Input:\n{a}+{b}\nTarget:\n"


class Addition(Family):
    name = "addition"
    styles = LEE_STYLES + ("column", "place_value")
    levels = range(1, 13)
    train_levels = range(1, 7)

    def make_problem(self, rng, seed, index, level):
        other = level if rng.random() < 0.5 else rng.randint(1, level)
        a, b = random_with_digits(rng, level), random_with_digits(rng, other)
        if rng.random() < 0.5:
            a, b = b, a
        return make_problem(a, b, seed=seed, index=index, level=level)

    # --- solving -----------------------------------------------------------
    def solve_steps(self, problem, style):
        a, b = problem.data["a"], problem.data["b"]
        sa, sb = str(a), str(b)
        total = a + b
        if style == "lee_plain":
            return [Step("add", (a, b), total, f"{a}+{b}={total}")]
        if style == "lee_reversed":
            return [Step("add", (a, b), total, f"${a}+{b}={str(total)[::-1]}$")]
        if style == "place_value":
            return self._place_value_steps(a, b)
        steps = []
        xs, ys = [int(c) for c in sa], [int(c) for c in sb]
        acc: list[int] = []
        carry = 0
        ncols = max(len(sa), len(sb))
        if style == "lee_detailed":
            steps.append(Step("count_digits", (a,), len(xs), f"{_lst(xs)} has {len(xs)} digits."))
            steps.append(Step("count_digits", (b,), len(ys), f"{_lst(ys)} has {len(ys)} digits."))
        for k in range(ncols):
            x, y = column_digit(sa, k), column_digit(sb, k)
            s = x + y + carry
            if style == "lee_detailed":
                text = (f"{_lst(xs)} + {_lst(ys)} , A={_lst(acc)} , C={carry} , "
                        f"{x}+{y}+{carry}={s} , A->{s % 10} , C->{s // 10}")
            elif style == "lee_simplified":
                text = f"A->{s % 10} , C->{s // 10}" + ("." if k == ncols - 1 else "")
            else:
                text = (f"Column {k + 1}: {x} + {y} + carry {carry} = {s}, "
                        f"write {s % 10}, carry {s // 10}.")
            steps.append(Step("add_column", (x, y, carry), s, text))
            acc.insert(0, s % 10)
            carry = s // 10
            xs, ys = xs[:-1], ys[:-1]
        if style == "lee_detailed":
            steps.append(Step("end", (tuple(acc), carry), total,
                              f"[] + [] , A={_lst(acc)} C={carry} , END"))
        elif style == "column":
            lead = "the final carry and " if carry else ""
            steps.append(Step("read_digits", tuple(acc), total,
                              f"Reading {lead}the written digits from left to right: {total}."))
        return steps

    @staticmethod
    def _place_value_steps(a, b):
        n = max(len(str(a)), len(str(b)))
        pa, pb = place_parts(a, n), place_parts(b, n)
        join = " + ".join
        steps = [Step("split", (a, b), (tuple(pa), tuple(pb)),
                      f"Split by place value: {a} = {join(map(str, pa))} and "
                      f"{b} = {join(map(str, pb))}.")]
        sums = []
        for k, (x, y) in enumerate(zip(pa, pb)):
            steps.append(Step("add", (x, y), x + y,
                              f"Place {10 ** (n - 1 - k)}: {x} + {y} = {x + y}."))
            sums.append(x + y)
        total = sums[0]
        for t in sums[1:]:
            steps.append(Step("add", (total, t), total + t, f"Add: {total} + {t} = {total + t}."))
            total += t
        return steps

    def render(self, problem, style, steps):
        total = problem.data["a"] + problem.data["b"]
        lines = [s.text for s in steps]
        if style == "lee_plain":
            return str(total)
        if style == "lee_reversed":
            return str(total)[::-1] + "$"
        if style == "lee_simplified":
            return "\n".join(lines + [str(total)])
        if style == "lee_detailed":
            return "\n".join(["<scratch>"] + lines + ["</scratch>", " ".join(str(total))])
        return None

    def format_example(self, problem, style):
        if style in LEE_STYLES:
            a, b = problem.data["a"], problem.data["b"]
            return lee_prompt(a, b, style), self.solve(problem, style).text
        return super().format_example(problem, style)

    # --- reading answers ---------------------------------------------------
    def read_answer(self, problem, text, style):
        if style not in LEE_STYLES or extract_final_answer(text) is not None:
            # A "#### N" line wins in any style: an answer-only model trained
            # on Lee prompts answers that way.
            return super().read_answer(problem, text, style)
        lines = solution_lines(text)
        if not lines:
            return None
        if style in ("lee_plain", "lee_reversed"):
            # Lee's evaluation reads the first line of the completion; a full
            # line ``128+367=495`` is accepted too.
            line = lines[0].rsplit("=", 1)[-1]
            if style == "lee_reversed":
                if not line.endswith("$"):
                    return None
                line = line[:-1][::-1]
            return line if _DIGITS_RE.fullmatch(line) else None
        last = lines[-1]
        if style == "lee_detailed":
            return last.replace(" ", "") if _SPACED_RE.fullmatch(last) else None
        return last if _DIGITS_RE.fullmatch(last) else None

    # --- checking steps ----------------------------------------------------
    def check_lines(self, problem, text, style, out: LineChecker):
        a, b = problem.data["a"], problem.data["b"]
        lines = solution_lines(text)
        if style in ("lee_plain", "lee_reversed"):
            return self._check_one_line(a, b, lines, style, out)
        if style == "column":
            return self._check_column(a, b, lines, out)
        if style == "place_value":
            return self._check_place_value(a, b, lines, out)
        echo = f"{a}+{b}"
        lines = [ln for ln in lines if ln not in _LEE_SKIP and ln != echo]
        if style == "lee_simplified":
            return self._check_simplified(a, b, lines, out)
        return self._check_detailed(a, b, lines, out)

    def _check_one_line(self, a, b, lines, style, out):
        computed = None
        prompt = lee_prompt(a, b, style)
        for i, line in enumerate(lines):
            if i == 0 and "=" not in line:
                line = prompt + line  # a bare completion: the inputs are the prompt's
            m = (_PLAIN_RE if style == "lee_plain" else _REV_RE).fullmatch(line)
            if m is None:
                out.unparseable(line)
                continue
            x, y, z = int(m[1]), int(m[2]), m[3]
            if style == "lee_reversed":
                z = z[::-1]
            out.claim(line, x + y == int(z), (x, y) == (a, b))
            computed = z
        return computed

    def _check_simplified(self, a, b, lines, out):
        sa, sb = str(a), str(b)
        writes: list[int] = []
        carry = 0
        for k, line in enumerate(lines):
            m = _SIMPLE_RE.fullmatch(line)
            if m is None:
                if k == len(lines) - 1 and _DIGITS_RE.fullmatch(line):
                    continue  # the answer line
                out.unparseable(line)
                continue
            # The inputs are implicit: column k of the operands and the carry
            # this text claimed on the previous line.
            col = len(writes)
            s = column_digit(sa, col) + column_digit(sb, col) + carry
            w, c = int(m[1]), int(m[2])
            out.claim(line, (w, c) == (s % 10, s // 10), col < max(len(sa), len(sb)))
            writes.append(w)
            carry = c
        if not writes:
            return None
        return _digits_to_answer(writes, carry)

    def _check_detailed(self, a, b, lines, out):
        # Digit lists stay in their written form ("1,2,8"): comparing and
        # slicing strings is what keeps 1,000-problem checks fast.
        state = (",".join(str(a)), ",".join(str(b)), "", 0)
        headers = 0
        ran = False
        # The sum is read off the END line, and only when that line closes the
        # columns this text built: without it, a trace missing its END line
        # (or any column line, which breaks the END line's match) would still
        # yield the right digits.
        computed = None
        for k, line in enumerate(lines):
            m = _DCOL_RE.fullmatch(line)
            if m is not None:
                xs, ys, acc = m[1], m[2], m[3]
                cin, x, y, c2, s, w, c = (int(m[i]) for i in range(4, 11))
                valid = (x == (int(xs[-1]) if xs else 0) and y == (int(ys[-1]) if ys else 0)
                         and c2 == cin and x + y + c2 == s and w == s % 10 and c == s // 10)
                # The lists are the ones the two header lines introduced.
                out.claim(line, valid, headers == 2 and (xs, ys, acc, cin) == state)
                state = (xs[:-2], ys[:-2], f"{w},{acc}" if acc else str(w), c)
                ran = True
                computed = None  # a column after an END line reopens the sum
                continue
            m = _HEADER_RE.fullmatch(line)
            if m is not None:
                want = ",".join(str(a if headers == 0 else b))
                out.claim(line, (len(m[1]) + 1) // 2 == int(m[2]), headers < 2 and m[1] == want)
                headers += 1
                continue
            m = _DEND_RE.fullmatch(line)
            if m is not None:
                closes = m[1] == "" and m[2] == ""
                matches = ran and (m[1], m[2], m[3], int(m[4])) == state
                out.claim(line, closes, matches)
                if closes and matches:
                    computed = ("1" if state[3] else "") + state[2].replace(",", "")
                continue
            if k == len(lines) - 1 and _SPACED_RE.fullmatch(line):
                continue  # the answer line
            out.unparseable(line)
        return computed

    def _check_column(self, a, b, lines, out):
        sa, sb = str(a), str(b)
        writes: list[int] = []
        carry = 0
        computed = None
        for line in lines:
            m = _COL_RE.fullmatch(line)
            if m is not None:
                col, x, y, cin, s, w, c = (int(g) for g in m.groups())
                valid = x + y + cin == s and w == s % 10 and c == s // 10
                grounded = (col == len(writes) + 1 and cin == carry
                            and x == column_digit(sa, col - 1) and y == column_digit(sb, col - 1))
                out.claim(line, valid, grounded)
                writes.append(w)
                carry = c
                continue
            m = _READ_RE.fullmatch(line)
            if m is not None and writes:
                computed = _digits_to_answer(writes, carry)
                valid = m[2] == computed and bool(m[1]) == (carry == 1)
                out.claim(line, valid, len(writes) >= max(len(sa), len(sb)))
                continue
            out.unparseable(line)
        return computed


    @staticmethod
    def _check_place_value(a, b, lines, out):
        n = max(len(str(a)), len(str(b)))
        parts: tuple[list[int], list[int]] | None = None
        running = RunningSum()
        for line in lines:
            m = _ADD_RE.fullmatch(line)
            if m is not None:
                out.claim(line, *running.claim(int(m[1]), int(m[2]), int(m[3])))
                continue
            m = _PLACE_RE.fullmatch(line)
            if m is not None:
                p, x, y, z = (int(g) for g in m.groups())
                k = len(running.terms)
                grounded = (parts is not None and k < len(parts[0]) and p == 10 ** (n - 1 - k)
                            and x == parts[0][k] and y == parts[1][k])
                out.claim(line, x + y == z, grounded)
                running.add_term(z)
                continue
            m = _SPLIT_RE.fullmatch(line)
            if m is not None:
                x, y = int(m[1]), int(m[3])
                tx = [int(t) for t in m[2].split(" + ")]
                ty = [int(t) for t in m[4].split(" + ")]
                # Valid: each list is its number's digits in place, largest first.
                valid = tx == place_parts(x, len(tx)) and ty == place_parts(y, len(ty))
                out.claim(line, valid and len(tx) == len(ty), (x, y) == (a, b) and len(tx) == n)
                parts = (tx, ty)
                continue
            out.unparseable(line)
        return str(running.total) if running.complete else None


def place_parts(n: int, width: int) -> list[int]:
    """``n`` as ``width`` place values, largest first: (128, 4) -> [0, 100, 20, 8]."""
    s = str(n).rjust(width, "0")
    if len(s) != width:
        return []
    return [int(c) * 10 ** (width - 1 - i) for i, c in enumerate(s)]


def _digits_to_answer(writes_lsb: list[int], carry: int) -> str:
    """The sum the written column digits (ones first) and final carry spell."""
    s = "".join(map(str, reversed(writes_lsb)))
    return (str(carry) if carry else "") + s


def make_problem(a: int, b: int, *, seed: int = 0, index: int = 0,
                 level: int | None = None, **extra) -> Problem:
    level = level if level is not None else max(len(str(a)), len(str(b)))
    return Problem("addition", seed, index, level, f"What is {a} + {b}?", str(a + b),
                   {"a": a, "b": b, **extra})


_LEE_LINE_RE = re.compile(r"([0-9]{1,%d})\+([0-9]{1,%d})=([0-9]{1,%d})" % ((MAX_DIGITS,) * 3),
                          re.ASCII)


def read_lee_file(path) -> list[Problem]:
    """Problems from a Lee et al. plain-format file (``a+b=c`` per line).

    Blank lines are skipped; a malformed line, a line that is not UTF-8 or a
    wrong sum raises ValueError naming the file and the 1-based line number. ``index`` is the line's 0-based
    position among the problems and ``level`` the longer operand's digit count.
    """
    problems = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            # Decoded line by line: a Latin-1 or binary file names its line.
            line = decode_line(raw, f"{path}:{lineno}", first=lineno == 1).strip()
            if not line:
                continue
            m = _LEE_LINE_RE.fullmatch(line)
            if m is None:
                raise ValueError(f"{path}:{lineno}: expected 'a+b=c' with decimal integers, "
                                 f"got {line[:60]!r}")
            a, b, c = int(m[1]), int(m[2]), int(m[3])
            if a + b != c:
                raise ValueError(f"{path}:{lineno}: {a}+{b} is {a + b}, the file says {c}")
            problems.append(make_problem(a, b, index=len(problems), source=str(Path(path).name)))
    return problems


FAMILY = Addition()
