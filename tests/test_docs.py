"""The README stays a page, and every relative link of README.md, docs/ and config/README.md
resolves: the file exists and, for ``file.md#anchor``, the anchor is a heading of that file
(GitHub's slug: lower case, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", REPO / "config" / "README.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_readme_is_a_page_with_docs_beside_it() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 150, f"README.md has {lines} lines; move detail into docs/"
    linked = {t.split("#")[0] for t in links(REPO / "README.md")}
    missing = [p.name for p in (REPO / "docs").glob("*.md") if f"docs/{p.name}" not in linked]
    assert not missing, f"docs not linked from README.md: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in links(doc):
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading '{anchor}' in {dest.name})")
    assert not broken, f"{doc.relative_to(REPO)}: broken links: {broken}"


def test_slug_follows_github() -> None:
    assert slug("Missing values") == "missing-values"
    assert slug("`ferroscope inspect`: look before you configure") == \
        "ferroscope-inspect-look-before-you-configure"
