"""The project's safe arithmetic evaluator for untrusted text.

Model output, teacher traces and dataset annotations (GSM8K's ``<<48/2=24>>``)
all contain arithmetic we want to check. This module is the one place that
turns such text into numbers. It is a tokenizer plus a recursive-descent parser
over number literals and arithmetic operators, evaluated exactly with
``fractions.Fraction``. It never calls ``eval``/``exec``/``ast``/``sympify``.

Grammar (whitespace is free)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '//' | '%' | implicit) unary)*   # implicit: 2(3), 3x
    unary   := ('-' | '+') unary | power
    power   := atom (('**' | '^') unary)?                 # right-associative
    atom    := NUMBER | VARIABLE | '(' expr ')'

* Numbers: ASCII digits only (``'٣'`` is rejected), ``12``, ``3.5``, ``.5``,
  and thousands commas when every group after the first has exactly three
  digits (``1,234,567``; ``1,23`` is an error, not 123).
* Operators: ``+ - * /``, floor division ``//`` and remainder ``%`` (Python's
  meaning, on exact values: ``-7 // 2`` is -4, ``7 % -2`` is -1; GSM8K's
  annotations write ``<<560//10=56>>``), and the typographic ``× · ÷ −`` and
  ``x``/``X`` as multiplication (``3 x 4``) unless ``x`` is declared a variable.
* Powers: ``**`` and ``^`` with an integer exponent of at most
  ``MAX_EXPONENT`` in size; the result size is checked *before* computing, so
  ``10**10**10`` is rejected instantly rather than computed.
* Variables: only those named in ``variables=`` (the linear-equation family
  passes ``("x",)``); evaluation then needs a value for each.
* ``-2**2`` is ``-4`` (Python's convention); ``-3``, ``(-3)`` and ``-(3)``
  all parse to the literal ``Num(-3)``. ``0x10`` is rejected rather than read
  as ``0 * 10``. Units and ``$`` are not arithmetic: callers strip them. A
  percent sign is the remainder operator here, so ``50%`` is an error, not 0.5:
  callers that read percentages convert them first.

Hard limits (each failure raises ``SafeArithError``, or makes ``evaluate``
return None): input length ``MAX_INPUT_CHARS``, nesting depth ``MAX_DEPTH``,
digits per literal ``MAX_LITERAL_DIGITS``, and bits of every intermediate
numerator and denominator ``MAX_RESULT_BITS``. Tokenizing is linear in the
input's length (the token regex never restarts inside a run of digits or
trailing spaces; see ``_tokenize``), so the length cap bounds the time.

API::

    parse(text, variables=()) -> Node           # raises SafeArithError
    evaluate(text) -> Fraction | None           # None on any error
    evaluate_node(node, env=None) -> Number     # raises SafeArithError
    divide(a, b) -> Number                      # exact division helper
    format_number(Fraction | int) -> str        # "24", "-2.5", "1/3"
    parse_number(text) -> Fraction | None       # one literal, optionally signed
    number_values(node) -> list[Number]         # literals, left to right
    count_ops(node) -> int                      # binary operations in a tree
    NUMBER_PATTERN                              # regex text of one literal

``Number`` is ``int`` when integral, else ``Fraction``: ints are several times
faster and compare and hash equal to the same Fraction. Nodes are frozen
dataclasses (``Num``, ``Var``, ``Unary``, ``Binary``) and compare structurally.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from fractions import Fraction
from typing import Mapping, Union

MAX_INPUT_CHARS = 2_000
MAX_DEPTH = 100  # counts parentheses and unary signs: about 50 nested '('
MAX_LITERAL_DIGITS = 40
MAX_RESULT_BITS = 1_024  # about 308 decimal digits
MAX_EXPONENT = 64


class SafeArithError(ValueError):
    """The text is not an arithmetic expression this module will evaluate."""


@dataclasses.dataclass(frozen=True)
class Num:
    value: "Number"  # int when integral, else Fraction


@dataclasses.dataclass(frozen=True)
class Var:
    name: str


@dataclasses.dataclass(frozen=True)
class Unary:
    op: str  # '-' (a '+' sign is dropped while parsing)
    operand: "Node"


@dataclasses.dataclass(frozen=True)
class Binary:
    op: str  # one of '+', '-', '*', '/', '//', '%', '**'
    left: "Node"
    right: "Node"


Node = Union[Num, Var, Unary, Binary]

# Literal numbers use [0-9], never \d: \d also matches '٣' and other Unicode digits.
_NUMBER = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
NUMBER_PATTERN = _NUMBER  # for families that pull numbers out of sentences
_SIGNED_NUMBER_RE = re.compile(r"[-−]?" + _NUMBER)
# The last group takes a whole run of digits, dots and commas that is not a
# number ("1111,"): with a one-character fallback, findall would restart the
# number match at every digit of the run, quadratic in its length.
_TOKEN_RE = re.compile(
    r"\s*(?:(" + _NUMBER + r")(?![0-9,.])"
    r"|(\*\*|//|[-+*/%^()×·÷−])"
    r"|([A-Za-z_]+)"
    r"|([0-9.,]+|\S))")
_HEX_RE = re.compile(r"(?<![0-9.,])0[xX][0-9]")
_OP_ALIASES = {"×": "*", "·": "*", "÷": "/", "−": "-", "^": "**"}

# Values inside this module are ints when integral and Fractions otherwise:
# Python ints are several times faster than Fractions, and they compare and
# hash equal to the same Fraction, so callers never see the difference.
Number = Union[int, Fraction]


def _normal(value: Fraction) -> Number:
    return value.numerator if value.denominator == 1 else value


@functools.lru_cache(maxsize=4096)
def _literal(text: str) -> Number:
    text = text.replace(",", "")
    if len(text) - ("." in text) > MAX_LITERAL_DIGITS:
        raise SafeArithError(f"number literal longer than {MAX_LITERAL_DIGITS} digits")
    if "." not in text:
        return int(text)
    return _normal(Fraction(text))


def _tokenize(text: str, variables: tuple[str, ...]) -> tuple[list[str], list[object]]:
    """Parallel lists: a kind per token ('num', 'var' or the operator itself)
    and its value."""
    if len(text) > MAX_INPUT_CHARS:
        raise SafeArithError(f"input longer than {MAX_INPUT_CHARS} characters")
    if "x" not in variables and _HEX_RE.search(text):
        # "0x10" must not quietly become 0 * 10.
        raise SafeArithError("hexadecimal-looking literal")
    kinds: list[str] = []
    values: list[object] = []
    # rstrip: a leading \s* that ends the text matches no token, and findall
    # would retry it from every position of a trailing run of spaces.
    for num, op, name, bad in _TOKEN_RE.findall(text.rstrip()):
        if num:
            kinds.append("num")
            values.append(_literal(num))
        elif op:
            kinds.append(_OP_ALIASES.get(op, op))
            values.append(None)
        elif name:
            # 'x' is a variable if declared, else a multiplication sign, never both.
            if name in variables:
                kinds.append("var")
                values.append(name)
            elif name in ("x", "X"):
                kinds.append("*")
                values.append(None)
            else:
                raise SafeArithError(f"unknown name {name[:20]!r}")
        else:
            raise SafeArithError(f"unexpected character {bad[:20]!r}")
    return kinds, values


_MUL_OPS = ("*", "/", "//", "%")
_ADD_OPS = ("+", "-")


class _Parser:
    # Hot path for every checker: loops are written out with local variables.

    def __init__(self, kinds: list[str], values: list[object]):
        self.kinds = kinds + ["end"]  # a sentinel saves a bounds check per token
        self.values = values
        self.i = 0
        self.depth = 0

    def expr(self) -> Node:
        # Recursion is bounded so that "((((..." can never exhaust the stack.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SafeArithError(f"nesting deeper than {MAX_DEPTH}")
        node = self.term()
        kinds = self.kinds
        while kinds[self.i] in _ADD_OPS:
            op = kinds[self.i]
            self.i += 1
            node = Binary(op, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        kinds = self.kinds
        while True:
            kind = kinds[self.i]
            if kind in _MUL_OPS:
                self.i += 1
                op = kind
            elif kind == "var" or kind == "(":
                op = "*"  # implicit multiplication: "2(3+4)", "3x", "(2)(3)"
            else:
                return node
            node = Binary(op, node, self.unary())

    def unary(self) -> Node:
        kinds, i = self.kinds, self.i
        kind = kinds[i]
        if kind == "num" and kinds[i + 1] != "**":  # the common case, no recursion
            self.i = i + 1
            return Num(self.values[i])  # type: ignore[arg-type]
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SafeArithError(f"nesting deeper than {MAX_DEPTH}")
        if kind == "-":
            self.i += 1
            operand = self.unary()
            # Fold "-3" into a literal so that "-3", "(-3)" and "-(3)" parse alike.
            node: Node = Num(-operand.value) if type(operand) is Num else Unary("-", operand)
        elif kind == "+":
            self.i += 1
            node = self.unary()
        else:
            node = self.atom()
            if kinds[self.i] == "**":
                self.i += 1
                node = Binary("**", node, self.unary())
        self.depth -= 1
        return node

    def atom(self) -> Node:
        kind = self.kinds[self.i]
        value = self.values[self.i] if kind != "end" else None
        self.i += 1
        if kind == "num":
            return Num(value)  # type: ignore[arg-type]
        if kind == "var":
            return Var(value)  # type: ignore[arg-type]
        if kind == "(":
            node = self.expr()
            if self.kinds[self.i] != ")":
                raise SafeArithError("missing ')'")
            self.i += 1
            return node
        raise SafeArithError("unexpected end of expression" if kind == "end" else f"unexpected {kind!r}")


def parse(text: str, variables: tuple[str, ...] = ()) -> Node:
    """Parse ``text`` into a Node tree; raises SafeArithError on anything else."""
    if not isinstance(text, str):
        raise SafeArithError("expected a string")
    variables = tuple(variables)
    if len(text) <= _CACHED_CHARS:
        # Checkers see the same short pieces ("x", "27 / 3") over and over;
        # trees are immutable, so sharing them is safe.
        return _parse_short(text, variables)
    return _parse(text, variables)


_CACHED_CHARS = 48


@functools.lru_cache(maxsize=16_384)
def _parse_short(text: str, variables: tuple[str, ...]) -> Node:
    return _parse(text, variables)


def _parse(text: str, variables: tuple[str, ...]) -> Node:
    kinds, values = _tokenize(text, variables)
    if not kinds:
        raise SafeArithError("empty expression")
    parser = _Parser(kinds, values)
    node = parser.expr()
    if parser.i != len(kinds):
        raise SafeArithError(f"unexpected {kinds[parser.i]!r} after expression")
    return node


def _check_size(value: Number) -> Number:
    if type(value) is int:
        if value.bit_length() > MAX_RESULT_BITS:
            raise SafeArithError(f"intermediate result larger than {MAX_RESULT_BITS} bits")
        return value
    if (value.numerator.bit_length() > MAX_RESULT_BITS
            or value.denominator.bit_length() > MAX_RESULT_BITS):
        raise SafeArithError(f"intermediate result larger than {MAX_RESULT_BITS} bits")
    return _normal(value)


def divide(a: Number, b: Number) -> Number:
    """Exact a / b (an int when it divides evenly); SafeArithError on b == 0."""
    if b == 0:
        raise SafeArithError("division by zero")
    if type(a) is int and type(b) is int:
        q, r = divmod(a, b)
        return q if r == 0 else Fraction(a, b)
    return _check_size(Fraction(a) / Fraction(b))


def _floor_div_mod(a: Number, b: Number, op: str) -> Number:
    """``a // b`` or ``a % b`` with Python's signs, exact on Fractions too.
    Both are no larger than their operands, which are already size-checked."""
    if b == 0:
        raise SafeArithError("division by zero")
    if type(a) is int and type(b) is int:
        return a // b if op == "//" else a % b
    a, b = Fraction(a), Fraction(b)
    return _check_size(Fraction(a // b) if op == "//" else a % b)


def _power(base: Number, exponent: Number) -> Number:
    if type(exponent) is not int:
        raise SafeArithError("only integer exponents are supported")
    e = exponent
    if abs(e) > MAX_EXPONENT:
        raise SafeArithError(f"exponent larger than {MAX_EXPONENT}")
    if base == 0 and e < 0:
        raise SafeArithError("zero to a negative power")
    # Bound the result's size before computing it: bits(b**e) <= bits(b) * e.
    f = Fraction(base)
    bits = max(f.numerator.bit_length(), f.denominator.bit_length())
    if bits * abs(e) > MAX_RESULT_BITS + bits:
        raise SafeArithError(f"power larger than {MAX_RESULT_BITS} bits")
    return _check_size(f ** e)


def _eval(node: Node, env: Mapping[str, Number] | None) -> Number:
    if type(node) is Num:
        return node.value
    if type(node) is Binary:
        a = _eval(node.left, env)
        b = _eval(node.right, env)
        op = node.op
        if op == "+":
            return _check_size(a + b)
        if op == "-":
            return _check_size(a - b)
        if op == "*":
            return _check_size(a * b)
        if op == "/":
            return divide(a, b)
        if op == "//" or op == "%":
            return _floor_div_mod(a, b, op)
        if op == "**":
            return _power(a, b)
        raise SafeArithError(f"unknown operator {op!r}")
    if type(node) is Unary:
        return -_eval(node.operand, env)
    if type(node) is Var:
        if env is None or node.name not in env:
            raise SafeArithError(f"no value for variable {node.name!r}")
        return _check_size(env[node.name])
    raise SafeArithError(f"not an arithmetic node: {type(node).__name__}")


def evaluate_node(node: Node, env: Mapping[str, Number] | None = None) -> Number:
    """Exact value of a parsed tree (an ``int`` when integral, else a
    ``Fraction``; both compare equal to the same Fraction). Variables are
    looked up in ``env``. Raises SafeArithError."""
    return _eval(node, env)


def evaluate(text: str) -> Fraction | None:
    """The exact value of an arithmetic expression, or None if it is not one."""
    try:
        return Fraction(_eval(parse(text), None))
    except (SafeArithError, RecursionError, ValueError, ZeroDivisionError, OverflowError):
        return None


def parse_number(text: str) -> Fraction | None:
    """One (optionally signed) number literal such as ``-1,234.5``, else None."""
    if not isinstance(text, str) or len(text) > 4 * MAX_LITERAL_DIGITS:
        return None
    return _parse_number(text)


@functools.lru_cache(maxsize=8192)  # Fractions are immutable: safe to share
def _parse_number(text: str) -> Fraction | None:
    text = text.strip()
    if not _SIGNED_NUMBER_RE.fullmatch(text):
        return None
    sign = -1 if text[:1] in "-−" else 1
    try:
        return Fraction(sign * _literal(text.lstrip("-−")))
    except SafeArithError:
        return None


_MAX_DECIMAL_PLACES = 12


def format_number(value: Fraction | int) -> str:
    """Canonical text for a number: ``24``, ``-2.5`` (terminating decimals of
    at most 12 places), or ``1/3`` (a reduced fraction otherwise)."""
    if type(value) is int:
        return str(value)
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    d = value.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1 or max(twos, fives) > _MAX_DECIMAL_PLACES:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10 ** places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def number_values(node: Node) -> list[Number]:
    """The literal numbers in a tree, left to right (for grounding checks)."""
    if isinstance(node, Num):
        return [node.value]
    if isinstance(node, Unary):
        return number_values(node.operand)
    if isinstance(node, Binary):
        return number_values(node.left) + number_values(node.right)
    return []


def count_ops(node: Node) -> int:
    """How many binary operations a tree performs."""
    if isinstance(node, Unary):
        return count_ops(node.operand)
    if isinstance(node, Binary):
        return 1 + count_ops(node.left) + count_ops(node.right)
    return 0
