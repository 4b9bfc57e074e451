"""Citations read the same in the book, in Jupyter and in Colab.

Chapters (notebooks, opened in Jupyter and Colab where MyST roles show raw) cite in plain Markdown: the
author-year text linked to the paper, "[Haim et al. (2022)](url)" in running text or
"([Haim et al., 2022](url))" in parentheses. The text is the bibliography's own label
(book/_ext/reconleak_book.py, which also labels the References page), so text and bibliography agree.
Pages that exist only in the built book (book/*.md) may use the ``{cite:t}``/``{cite:p}`` roles.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("reconleak_book", ROOT / "book" / "_ext" / "reconleak_book.py")
reconleak_book = sys.modules.setdefault("reconleak_book", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(reconleak_book)
BIB = parse_file(str(ROOT / "book" / "references.bib")).entries
BY_URL = {entry.fields["url"]: entry for entry in BIB.values() if "url" in entry.fields}


def _markdown(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def test_every_bibliography_entry_has_a_link_and_an_author_year_label():
    assert BIB and all("url" in entry.fields for entry in BIB.values())
    assert reconleak_book.author_year_label(BIB["haim2022reconstructing"]) == "Haim et al., 2022"
    assert reconleak_book.author_year_label(BIB["lyu2020gradient"]) == "Lyu and Li, 2020"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_cites_in_plain_author_year_links_matching_the_bibliography(path):
    text = _markdown(path)
    assert "{cite" not in text, "a {cite} role shows raw in Jupyter and Colab: write [Author (year)](url)"
    for label, url in re.findall(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", text):
        entry = BY_URL.get(url)
        if entry is None:
            continue
        authors, year = reconleak_book.author_year_label(entry).rsplit(", ", 1)
        assert label in (f"{authors} ({year})", f"{authors}, {year}"), (
            f"{label!r} links to {entry.key}; write {authors} ({year}) or {authors}, {year}")
