"""Reading JSON Lines files that users hand us: every failure names ``file:line``.

Four readers take JSONL from outside (GSM8K files, imported trace records,
textbook corpora, data sources). With ``open(path, encoding="utf-8")`` and
``json.loads``:

* a Latin-1, UTF-16 or binary file raises a bare ``UnicodeDecodeError`` that
  names neither the file nor the line, and stops the whole read;
* a line of 100,000 ``[`` makes ``json.loads`` recurse once per level and
  raise ``RecursionError``.

Here each line is decoded on its own (a bad line can be skipped and counted,
like any other bad record) and its nesting depth is measured by a linear
scan before ``json`` sees it. ``iter_json_lines`` yields ``(line number,
value)`` for every non-blank line; a line that cannot be used raises
``JsonLineError`` (a ``ValueError``) with a message such as
``data.jsonl:7: not UTF-8 (byte 0xe9 at column 12)``,
``data.jsonl:3: JSON nested deeper than 100 levels`` or
``data.jsonl:2: not valid JSON (Expecting value at column 1)``, or, with
``on_error``, is handed to it and skipped. Opening the file raises the usual
``OSError`` (it carries the path).
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterator

# Far deeper than any record the project reads (trace records nest 4 levels)
# and far below the interpreter's recursion limit.
MAX_DEPTH = 100

# A JSON string (escapes included; an unterminated one runs to the end of the
# line) or one bracket. The string pattern is an unrolled loop: each character
# is matched one way only, so the scan is linear.
_DEPTH_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


class JsonLineError(ValueError):
    """A line that cannot be used; the message starts with ``file:line:``."""


def decode_line(raw: bytes, where: str, first: bool = False) -> str:
    """``raw`` as UTF-8 (a byte-order mark is allowed on the first line)."""
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as e:
        raise JsonLineError(f"{where}: not UTF-8 (byte 0x{raw[e.start]:02x} at column "
                            f"{e.start + 1})") from None


def check_depth(text: str, where: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonLineError if brackets outside strings nest deeper than ``max_depth``."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot nest deeper than it has brackets: skip the scan
    depth = 0
    for m in _DEPTH_TOKEN_RE.finditer(text):
        ch = text[m.start()]
        if ch == "[" or ch == "{":
            depth += 1
            if depth > max_depth:
                raise JsonLineError(f"{where}: JSON nested deeper than {max_depth} levels")
        elif ch == "]" or ch == "}":
            depth -= 1


def parse_line(text: str, where: str) -> Any:
    """One JSON value; JsonLineError if it nests too deep or is not JSON."""
    check_depth(text, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonLineError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # e.g. an integer of 5,000 digits
        raise JsonLineError(f"{where}: not valid JSON ({' '.join(str(e).split())[:120]})") from None


def iter_json_lines(path: str, on_error: Callable[[JsonLineError], None] | None = None
                    ) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of the JSONL file ``path``.

    A line that is not UTF-8, nests too deep or is not JSON raises
    JsonLineError, or, when ``on_error`` is given, is passed to it and skipped.
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                value = parse_line(decode_line(raw, where, first=lineno == 1), where)
            except JsonLineError as e:
                if on_error is None:
                    raise
                on_error(e)
                continue
            yield lineno, value
