"""Sphinx extension of the reconleak book (loaded by _config.yml's ``sphinx.local_extensions``).

- ``bibtex_default_style: authoryear``: the bibliography labels its entries the way the text cites them,
  "[Haim et al., 2022]", "[Lyu and Li, 2020]", instead of pybtex's alpha labels ("[HVY+22]"), sorted by
  author, year and title. ``bibtex_reference_style: author_year_round``: the roles of book/*.md pages
  write "Haim et al. (2022)" and "(Haim et al., 2022)", round brackets like the chapters' plain text.
  :func:`author_year_label` is the one definition of that text (tests/test_citations.py uses it).
- sphinx-thebe's configuration ``<script>`` (``const THEBE_JS_URL = ...``) ends up twice in every page
  (Jupyter Book 1.0.4, Sphinx 7.4: once with ``filename=None``, once with ``""``, which Sphinx does not
  see as equal), and the second ``const`` is a JavaScript error ("Identifier 'THEBE_JS_URL' has already
  been declared"). Duplicate scripts are dropped from every page.
- The top bar's search field (pydata-sphinx-theme's ``navbar_persistent``, a 64 px box) duplicates the
  sidebar's and the article header's search button: the theme option is emptied (Jupyter Book 1 writes
  ``html_theme_options`` itself, so it is set here, when the configuration is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sphinxcontrib.bibtex.plugin
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle


def author_year_label(entry) -> str:
    """'Haim et al., 2022' / 'Lyu and Li, 2020' / 'Wang, 2004': the author-year text of a pybtex entry."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(person.last_names) for person in persons]
    if not names:
        raise ValueError(f"bibliography entry {entry.key!r} has no author or editor")
    authors = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
    return f"{authors}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels 'Haim et al., 2022'; a letter is appended when two entries share a label (2022a, 2022b)."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(entry) for entry in entries]
        for k, label in enumerate(labels):
            same = [j for j, other in enumerate(labels) if other == label]
            yield label + "abcdefghijklmnopqrstuvwxyz"[same.index(k)] if len(same) > 1 else label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author-year citations with round brackets: "Haim et al. (2022)"."""

    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


sphinxcontrib.bibtex.plugin.register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_round",
                                            RoundAuthorYearReferenceStyle)


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Keep one of each script (same file and attributes, e.g. the same inline body), the earliest by priority.

    Sphinx's own de-duplication compares the file names as given, and the two thebe scripts differ only there
    (``None`` and ``""`` for an inline script)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    kept = {}
    for script in sorted(scripts, key=lambda js: getattr(js, "priority", 500)):
        attributes = getattr(script, "attributes", {})
        filename = getattr(script, "filename", script) or ""  # an inline script's is None or ""
        kept.setdefault((str(filename), tuple(sorted(attributes.items()))), script)
    context["script_files"] = list(kept.values())


def _one_search_field(app, config) -> None:
    """No search field in the top bar: the sidebar has one, and the article header a search button."""
    config.html_theme_options = {**(config.html_theme_options or {}), "navbar_persistent": []}


def setup(app):
    app.connect("config-inited", _one_search_field)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)  # after every script is added
    return {"parallel_read_safe": True, "parallel_write_safe": True}
