"""The docs point at things that exist (docs/design.md, "Keep it true").

Read as text, nothing imported: every relative link in README.md and
docs/*.md names an existing file (and, with ``#anchor``, one of its
headings); every repository path and every ``rtt_jax.`` module named in
backticks exists; README.md stays a five-minute read (at most 250 lines).
"""
from __future__ import annotations

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 250

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
TOP_DIRS = ("rtt_jax", "configs", "bench", "launch", "tests", "docs", "notebooks")
REPO_PATH = re.compile(r"^(?:%s)/[\w./-]*$" % "|".join(TOP_DIRS))
MODULE = re.compile(r"^rtt_jax(?:\.[A-Za-z_]\w*)+$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*]", "", heading.strip().lower())  # GitHub keeps underscores
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: pathlib.Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links(page: pathlib.Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(FENCE.sub("", page.read_text()))]


def broken_links(page: pathlib.Path) -> list[str]:
    out = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            out.append(f"{page.name}: ({target}): no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{page.name}: ({target}): no heading #{anchor} in {dest.name}")
    return out


def module_exists(dotted: str) -> bool:
    """``rtt_jax.a.b`` is a module, or a name defined or imported in one
    (``rtt_jax.tasks.get``, ``rtt_jax.experiments.Step``)."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:n])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            rest = parts[n:]
            return not rest or (len(rest) == 1 and re.search(rf"\b{rest[0]}\b", source.read_text())
                                is not None)
    return False


def missing_names(page: pathlib.Path) -> list[str]:
    out = []
    for m in CODE.finditer(page.read_text()):
        token = m.group(1).strip()
        path = token.split(":")[0].rstrip(".,")
        if REPO_PATH.match(path) and not re.search(r"[A-Z]{3,}|<|\*|\.\.\.", path):
            if not (REPO / path).exists():
                out.append(f"{page.name}: `{token}`: no such path")
        name = re.sub(r"\(.*$", "", token)
        if MODULE.match(name) and not module_exists(name):
            out.append(f"{page.name}: `{token}`: no such module or name")
    return out


def test_readme_is_a_five_minute_read():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_named_path_and_module_exists(page):
    assert missing_names(page) == []


def test_the_checks_catch_a_broken_link_a_missing_path_and_module(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title here\n[ok](#title-here) [gone](nowhere.md) [bad](#no-such)\n"
                    "[web](https://example.com) `rtt_jax/no_such.py` `rtt_jax.no_such_module` "
                    "`rtt_jax.tasks.get` `configs/experiments/NAME.py`\n")
    assert broken_links(page) == ["page.md: (nowhere.md): no such file",
                                  "page.md: (#no-such): no heading #no-such in page.md"]
    assert missing_names(page) == ["page.md: `rtt_jax/no_such.py`: no such path",
                                   "page.md: `rtt_jax.no_such_module`: no such module or name"]
    assert slug("5. Experiments") == "5-experiments"
    assert slug("Before you pay: does the config fit?") == "before-you-pay-does-the-config-fit"
