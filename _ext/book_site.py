"""Three small additions to the book's Sphinx build, loaded by ``_config.yml``.

* **Short names resolve.** Docstrings and pages write ``optnotes.SGD`` (how a reader
  imports it) while autodoc documents ``optnotes.first_order.SGD`` (where it is
  defined). A reference to a name that ``optnotes`` re-exports is resolved to the
  documented object, so ``-n`` reports only references that are really broken.
* **The executed notebook is offered for download.** Each notebook page's download
  menu lists the notebook as executed by the build (``.ipynb``, with outputs) beside
  its source (``.md``) and a PDF. sphinx-book-theme does this only when launch
  buttons are configured; here it is done on its own.
* **Author–year labels in the bibliography.** Citations read "Goodfellow et al.
  (2016)"; the reference lists label their entries the same way ("Goodfellow et al.,
  2016") instead of pybtex's alpha labels ("GBC16"). The style is ``authoryear``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitle

PACKAGE = "optnotes"


# --- short names ---------------------------------------------------------------------------

def documented_name(target: str) -> str | None:
    """``optnotes.SGD.step`` → ``optnotes.first_order.SGD.step`` for a re-exported name."""
    parts = target.split(".")
    if len(parts) < 2 or parts[0] != PACKAGE:
        return None
    try:
        obj = getattr(importlib.import_module(PACKAGE), parts[1])
    except (ImportError, AttributeError):
        return None
    module = getattr(obj, "__module__", None)
    if not module or module == PACKAGE or not module.startswith(PACKAGE + "."):
        return None
    return ".".join([module, parts[1], *parts[2:]])


def resolve_reexported_name(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = documented_name(node.get("reftarget", ""))
    if target is None:
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode)


# --- the executed notebook -----------------------------------------------------------------

def executed_notebook(app, pagename: str):
    """The page's notebook with its outputs, or None.

    myst-nb writes ``jupyter_execute/<page>.ipynb``; after executing the page itself it
    holds the outputs, but when the outputs came from the jupyter-cache
    (``execute_notebooks: cache``) it is written without them, so they are merged in
    from the cache here.
    """
    import nbformat

    path = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not path.is_file():
        return None
    nb = nbformat.read(path, as_version=4)
    if any(cell.get("outputs") for cell in nb.cells):
        return nb
    if app.config.nb_execution_mode != "cache":
        return nb  # a notebook whose cells print nothing
    from jupyter_cache import get_cache

    cache = get_cache(app.config.nb_execution_cache_path or ".jupyter_cache")
    try:
        return cache.merge_match_into_notebook(nb)[1]
    except KeyError:  # not in the cache: the page was not executed
        return nb


def offer_executed_notebook(app, pagename, templatename, context, doctree):
    """Write the executed notebook to ``_sources`` and tell the theme about it."""
    if app.builder.format != "html" or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    nb = executed_notebook(app, pagename)
    if nb is None:
        return
    import nbformat

    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


# --- author-year labels --------------------------------------------------------------------

def _plain(name: str) -> str:
    """A BibTeX name part as plain text: braces and backslash commands are dropped."""
    return re.sub(r"\\[a-zA-Z]+\s*|\\.|[{}]", "", name)


class AuthorYearLabelStyle(BaseLabelStyle):
    """``Author, 2016``, ``Author and Other, 2016``, ``Author et al., 2016``; a, b, ... when
    two entries would get the same label."""

    def format_labels(self, sorted_entries):
        labels = [self.format_label(entry) for entry in sorted_entries]
        counts = {label: labels.count(label) for label in labels}
        seen: dict[str, int] = {}
        for label in labels:
            if counts[label] > 1:
                seen[label] = seen.get(label, 0) + 1
                label = f"{label}{'abcdefghijklmnopqrstuvwxyz'[seen[label] - 1]}"
            yield label

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
        if not names:
            who = _plain(entry.fields.get("organization", entry.fields.get("title", entry.key)))
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entries, sorted by author and year, with author–year labels."""

    default_label_style = AuthorYearLabelStyle
    default_sorting_style = AuthorYearTitle


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    app.connect("missing-reference", resolve_reexported_name)
    # before sphinx-book-theme builds its download menu (priority 501)
    app.connect("html-page-context", offer_executed_notebook, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
