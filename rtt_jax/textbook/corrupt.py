"""Known-bad text, for training and testing the quality classifier.

Each generator takes a good text (a textbook section) and a seeded
``random.Random`` and returns text of one bad kind, modelled on what web-data
filters remove (phi-1 / FineWeb-Edu label such text "not educational"):

* ``shuffled``: the section's words in random order (fluent words, no sense);
* ``char_noise``: a fifth of the letters replaced at random (OCR/encoding junk);
* ``repetitive``: one sentence of the section repeated (Gopher's repetition);
* ``spam``: keyword stuffing with prices and links;
* ``boilerplate``: navigation bars, cookie banners, footers;
* ``symbol_soup``: words drowned in symbols;
* ``word_salad``: the section's vocabulary drawn at random, no punctuation;
* ``number_dump``: bare numbers and operators with no explanation.

``BAD_KINDS`` names them; ``make_bad(kind, good_text, rng)`` dispatches.

``SUBTLE_KINDS`` are damage the classifier is never trained on, for
held-out evaluation (``filter_eval``): ``line_shuffle`` (every line intact,
order lost), ``paragraph_repeat`` (each paragraph three times),
``boilerplate_wrap`` (a cookie banner before and lorem ipsum after) and
``symbol_noise`` (stray symbols after 15% of the characters);
``make_subtle(kind, good_text, rng)`` dispatches.
"""
from __future__ import annotations

import random
import re
import string

_SPAM = ("buy", "cheap", "best", "price", "free", "offer", "click", "now", "discount", "deal",
         "casino", "win", "bonus", "limited", "sale", "online", "pills", "cash", "fast",
         "guaranteed", "top", "rated", "shop", "order", "today", "exclusive", "promo")
_NAV = ("Home", "About", "Contact", "Blog", "Shop", "Login", "Sign up", "FAQ", "Careers",
        "Press", "Help", "Sitemap", "Search", "Cart", "Menu", "Account")
_BANNERS = (
    "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "Copyright {y} {c} Inc. All rights reserved.",
    "Subscribe to our newsletter for the latest updates and offers.",
    "Terms of Use | Privacy Policy | Accessibility",
    "Follow us on Facebook, Twitter and Instagram.",
    "This site requires JavaScript to be enabled.",
    "Skip to main content",
    "Share this page: Email | Print | Tweet",
)
_SYMBOLS = "@#$%^&*~|<>{}[]\\`¤§¶©®™±×÷"


def _sentences(text: str) -> list[str]:
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4]
    return parts or [text.strip()]


def shuffled(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def char_noise(text: str, rng: random.Random) -> str:
    letters = string.ascii_letters + string.digits + string.punctuation
    return "".join(rng.choice(letters) if ch.isalpha() and rng.random() < 0.2 else ch for ch in text)


def repetitive(text: str, rng: random.Random) -> str:
    s = rng.choice(_sentences(text))
    return "\n".join([s] * rng.randint(8, 30))


def spam(text: str, rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(6, 20)):
        words = [rng.choice(_SPAM) for _ in range(rng.randint(5, 14))]
        if rng.random() < 0.5:
            words.append(f"${rng.randint(1, 999)}.{rng.randint(0, 99):02d}")
        if rng.random() < 0.4:
            words.append(f"www.{rng.choice(_SPAM)}{rng.randint(1, 99)}.com")
        lines.append(" ".join(words) + rng.choice(("!!!", "!", "", " >>>")))
    return "\n".join(lines)


def boilerplate(text: str, rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(5, 15)):
        if rng.random() < 0.4:
            lines.append(" | ".join(rng.sample(_NAV, rng.randint(4, 8))))
        else:
            lines.append(rng.choice(_BANNERS).format(y=rng.randint(1998, 2026),
                                                     c=rng.choice(("Acme", "Globex", "Initech"))))
    return "\n".join(lines)


def symbol_soup(text: str, rng: random.Random) -> str:
    out = []
    for w in text.split()[:300]:
        out.append(w)
        out.extend(rng.choice(_SYMBOLS) * rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
    return " ".join(out)


def word_salad(text: str, rng: random.Random) -> str:
    vocab = sorted({w.strip(".,;:!?()").lower() for w in text.split() if w.isalpha()}) or ["word"]
    lines = [" ".join(rng.choice(vocab) for _ in range(rng.randint(6, 15)))
             for _ in range(rng.randint(5, 25))]
    return "\n".join(lines)


def number_dump(text: str, rng: random.Random) -> str:
    ops = "+-*/="
    lines = [" ".join(str(rng.randint(0, 10 ** rng.randint(1, 6))) + " " + rng.choice(ops)
                      for _ in range(rng.randint(3, 10)))
             for _ in range(rng.randint(5, 25))]
    return "\n".join(lines)


_KINDS = {f.__name__: f for f in (shuffled, char_noise, repetitive, spam, boilerplate,
                                  symbol_soup, word_salad, number_dump)}
BAD_KINDS = tuple(_KINDS)


def make_bad(kind: str, good_text: str, rng: random.Random) -> str:
    if kind not in _KINDS:
        raise KeyError(f"unknown bad-text kind {kind!r}; known: {', '.join(BAD_KINDS)}")
    return _KINDS[kind](good_text, rng)


def line_shuffle(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    rng.shuffle(lines)
    return "\n".join(lines)


def paragraph_repeat(text: str, rng: random.Random) -> str:
    return "\n\n".join(p for p in text.split("\n\n") for _ in range(3))


def boilerplate_wrap(text: str, rng: random.Random) -> str:
    return ("Accept our cookie policy to continue. Subscribe to our newsletter!\n" + text
            + "\nlorem ipsum dolor sit amet")


def symbol_noise(text: str, rng: random.Random) -> str:
    return "".join(c + (rng.choice("@#$%^&*~|") if rng.random() < 0.15 else "") for c in text)


_SUBTLE = {f.__name__: f for f in (line_shuffle, paragraph_repeat, boilerplate_wrap, symbol_noise)}
SUBTLE_KINDS = tuple(_SUBTLE)


def make_subtle(kind: str, good_text: str, rng: random.Random) -> str:
    if kind not in _SUBTLE:
        raise KeyError(f"unknown subtle corruption {kind!r}; known: {', '.join(SUBTLE_KINDS)}")
    return _SUBTLE[kind](good_text, rng)
