"""Heuristic quality rules for text, after Gopher (Rae et al. 2021) and C4 (Raffel et al. 2020).

``check(text) -> QualityReport`` measures a document and applies every rule in
``RULES``. A rule is (name, comparison, threshold, reason); the report lists
the measured values and, for each failed rule, a reason string that says what
was measured and why the threshold exists.

Thresholds are Gopher's / C4's unless the comment says otherwise. Where we
move one, it is because our good text is arithmetic teaching text, full of
numbers and short computation lines ("8 + 2 + carry 0 = 10"), which the
web-text rules were never tuned for; each such change is named and was
calibrated so that every synthetic textbook section passes (tests check
this) while repetitive, symbol-soup and unpunctuated text still fails.

Words here are whitespace-separated tokens, as in Gopher.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any

_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
# Characters that count as ordinary in math teaching text; anything else that is
# neither alphanumeric nor whitespace is a "symbol" for the symbol-soup rule.
_ORDINARY = set(".,;:!?'\"()[]-/+*=^%<>_#")
_BULLETS = ("-", "*", "•", "‣", "·")
_TERMINAL = (".", "!", "?", ":", '"', "'", ")")
# C4 drops pages with these; one hit is enough.
_BOILERPLATE = ("lorem ipsum", "javascript", "cookie policy", "terms of use", "privacy policy",
                "all rights reserved", "click here", "subscribe now", "{", "}")


def _ngram_stats(words: list[str], n: int) -> tuple[float, float]:
    """(top n-gram char fraction, duplicated n-gram char fraction), Gopher style.

    Top: characters covered by the most frequent n-gram over all word
    characters. Duplicated: characters of words that lie in any n-gram that
    occurs more than once, each word counted once.
    """
    total = sum(len(w) for w in words)
    if total == 0 or len(words) < n:
        return 0.0, 0.0
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = collections.Counter(grams)
    top, c = counts.most_common(1)[0]
    top_frac = (sum(len(w) for w in top) * c / total) if c > 1 else 0.0
    dup = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            for j in range(i, i + n):
                dup[j] = True
    return top_frac, sum(len(w) for w, d in zip(words, dup) if d) / total


_UNDERLINE = re.compile(r"^[=\-~^*]{3,}$")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_NUMBERED = re.compile(r"\b(Example|Exercise|Step|Problem|Solution|Row|Column|Part)\s+(\d+)\b")


def structure_order(lines: list[str]) -> float:
    """Share of structural cues in order: a heading underline right under a
    line of about its length, and numbered items (Example 1, Exercise 2, ...)
    counting up or restarting at 1, and the operands of worked lines (left of
    ``=``) already seen above. Shuffled text breaks all three; text without
    such cues scores 1."""
    checks = []
    for k, ln in enumerate(lines):
        if _UNDERLINE.match(ln):
            checks.append(k > 0 and not _UNDERLINE.match(lines[k - 1])
                          and abs(len(lines[k - 1]) - len(ln)) <= 3)
    last: dict[str, int] = {}
    for ln in lines:
        for label, num in _NUMBERED.findall(ln):
            if label in last:  # a restart at 1 is a new list (each example's steps)
                checks.append(int(num) >= last[label] or int(num) == 1)
            last[label] = int(num)
    # Worked steps use numbers that were given or computed above them: an
    # operand seen nowhere earlier is a sign of scrambled order.
    seen: set[str] = set()
    for ln in lines:
        if "=" in ln:
            checks.extend(n in seen for n in _NUMBER.findall(ln.split("=", 1)[0]))
        seen.update(_NUMBER.findall(ln))
    return sum(checks) / len(checks) if checks else 1.0


def measure(text: str) -> dict[str, float]:
    """Every figure the rules use, as plain floats."""
    words = text.split()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    chars = [ch for ch in text if not ch.isspace()]
    n_words, n_lines, n_chars = len(words), max(len(lines), 1), max(len(chars), 1)
    line_counts = collections.Counter(lines)
    dup_lines = [ln for ln in lines if line_counts[ln] > 1]
    para_counts = collections.Counter(paragraphs)
    lower = text.lower()
    m: dict[str, float] = {
        "words": n_words,
        "mean_word_length": sum(len(w) for w in words) / n_words if n_words else 0.0,
        "hash_ellipsis_ratio": (text.count("#") + text.count("...") + text.count("…")) / max(n_words, 1),
        "symbol_char_ratio": sum(not ch.isalnum() and ch not in _ORDINARY for ch in chars) / n_chars,
        "digit_char_ratio": sum(ch.isdigit() for ch in chars) / n_chars,
        "alpha_word_fraction": sum(any(c.isalpha() for c in w) for w in words) / max(n_words, 1),
        "stop_words": len({w.lower().strip(".,;:!?") for w in words} & _STOP_WORDS),
        "punct_line_fraction": sum(ln.endswith(_TERMINAL) for ln in lines) / n_lines,
        "bullet_line_fraction": sum(ln.startswith(_BULLETS) for ln in lines) / n_lines,
        "ellipsis_line_fraction": sum(ln.endswith(("...", "…")) for ln in lines) / n_lines,
        "duplicate_line_fraction": len(dup_lines) / n_lines,
        "duplicate_line_char_fraction": sum(map(len, dup_lines)) / max(sum(map(len, lines)), 1),
        "duplicate_paragraph_fraction": sum(c for c in para_counts.values() if c > 1) / max(len(paragraphs), 1),
        "boilerplate_hits": sum(lower.count(b) for b in _BOILERPLATE),
        "structure_order": structure_order(lines),
    }
    for n in (2, 3, 4):
        m[f"top_{n}gram_char_fraction"] = _ngram_stats(words, n)[0]
    for n in (5, 6, 7, 8, 9, 10):
        m[f"dup_{n}gram_char_fraction"] = _ngram_stats(words, n)[1]
    return m


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str  # a key of ``measure``
    op: str  # "min" (value must be >= threshold) or "max" (value must be <= threshold)
    threshold: float
    reason: str


RULES: tuple[Rule, ...] = (
    Rule("words", "min", 50, "too short: Gopher keeps documents of 50 to 100,000 words"),
    Rule("words", "max", 100_000, "too long: Gopher keeps documents of 50 to 100,000 words"),
    # Gopher uses 3; computation lines ("= 6 - 1 * 6") are mostly 1-char tokens.
    Rule("mean_word_length", "min", 2.0, "mean word length below 2 (Gopher: 3, lowered for math): not prose"),
    Rule("mean_word_length", "max", 10.0, "mean word length above 10: Gopher's sign of non-prose (URLs, hashes)"),
    Rule("hash_ellipsis_ratio", "max", 0.1, "too many '#' or '...' per word (Gopher symbol-to-word ratio 0.1)"),
    # Not in Gopher: catches symbol soup that uses neither '#' nor '...'.
    Rule("symbol_char_ratio", "max", 0.05, "over 5% of characters are stray symbols (symbol soup)"),
    # Ours is looser than web filters because teaching arithmetic is digit-heavy;
    # sections at the top levels (16-digit products) reach about 0.63.
    Rule("digit_char_ratio", "max", 0.75, "over 75% of characters are digits: a number dump, not prose"),
    # Gopher asks 0.8 of words to contain a letter; computation lines halve that.
    Rule("alpha_word_fraction", "min", 0.15, "under 15% of words contain a letter (Gopher asks 80% of web text; lowered for math)"),
    Rule("stop_words", "min", 2, "fewer than 2 of Gopher's stop words (the, be, to, of, and, that, have, with): not English prose"),
    # C4 drops every line without terminal punctuation; we score the document
    # and ask a fifth, since equations and headings legitimately end without it.
    Rule("punct_line_fraction", "min", 0.2, "under a fifth of lines end in punctuation (C4 keeps only such lines)"),
    Rule("bullet_line_fraction", "max", 0.9, "over 90% of lines start with a bullet (Gopher)"),
    Rule("ellipsis_line_fraction", "max", 0.3, "over 30% of lines end in an ellipsis (Gopher)"),
    # Gopher: 0.3 and 0.2. A pitfall quotes its wrong line twice and short
    # trace lines ("= True") recur, so ours allow half.
    Rule("duplicate_line_fraction", "max", 0.5, "over half the lines are duplicates (Gopher repetition rule, 0.3 for web text)"),
    Rule("duplicate_line_char_fraction", "max", 0.5, "duplicate lines hold over half the characters (Gopher: 0.2)"),
    Rule("duplicate_paragraph_fraction", "max", 0.3, "over 30% of paragraphs are duplicates (Gopher)"),
    Rule("boilerplate_hits", "max", 0, "contains web boilerplate (C4 list: lorem ipsum, javascript, cookie/privacy policy, curly braces)"),
    Rule("top_2gram_char_fraction", "max", 0.20, "the most frequent word 2-gram covers over 20% of characters (Gopher)"),
    Rule("top_3gram_char_fraction", "max", 0.18, "the most frequent word 3-gram covers over 18% of characters (Gopher)"),
    Rule("top_4gram_char_fraction", "max", 0.16, "the most frequent word 4-gram covers over 16% of characters (Gopher)"),
    # Gopher's 0.15..0.10 for 5..10-grams flags every step-by-step solution,
    # whose lines share a frame ("Column k: a - b - borrow c = d, write d,
    # borrow e."): synthetic sections reach 0.84 (5-grams). Ours only catch
    # text that is nearly all repeats.
    Rule("dup_5gram_char_fraction", "max", 0.9, "words in repeated 5-grams hold over 90% of characters (Gopher: 15% for web text)"),
    Rule("dup_6gram_char_fraction", "max", 0.9, "words in repeated 6-grams hold over 90% of characters (Gopher: 14% for web text)"),
    Rule("dup_7gram_char_fraction", "max", 0.88, "words in repeated 7-grams hold over 88% of characters (Gopher: 13% for web text)"),
    Rule("dup_8gram_char_fraction", "max", 0.88, "words in repeated 8-grams hold over 88% of characters (Gopher: 12% for web text)"),
    Rule("dup_9gram_char_fraction", "max", 0.86, "words in repeated 9-grams hold over 86% of characters (Gopher: 11% for web text)"),
    Rule("dup_10gram_char_fraction", "max", 0.86, "words in repeated 10-grams hold over 86% of characters (Gopher: 10% for web text)"),
)


@dataclasses.dataclass(frozen=True)
class QualityReport:
    values: dict[str, float]
    failures: tuple[str, ...]  # one reason per failed rule, "name=value: reason"

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "failures": list(self.failures),
                "values": {k: round(v, 4) for k, v in self.values.items()}}


def score(text: str, rules: tuple[Rule, ...] = RULES) -> float:
    """A heuristic quality score in [0, 1] for ranking texts: the share of
    rules passed, with ``structure_order`` as one more, graded, term.

    Order is graded rather than a pass/fail rule because clean sections
    legitimately introduce fresh numbers (a definition's example); what
    marks scrambled text is *less* order than the same text in order.
    """
    report = check(text, rules)
    passed = len(rules) - len(report.failures)
    return (passed + report.values["structure_order"]) / (len(rules) + 1)


def check(text: str, rules: tuple[Rule, ...] = RULES) -> QualityReport:
    values = measure(text)
    failures = []
    for rule in rules:
        v = values[rule.name]
        bad = v < rule.threshold if rule.op == "min" else v > rule.threshold
        if bad:
            failures.append(f"{rule.name}={v:.3g} ({rule.op} {rule.threshold:g}): {rule.reason}")
    return QualityReport(values, tuple(failures))
