"""Chapter N of the course is "N." on the built site, wherever a number is shown.

A chapter file is ``chapters/NN_name.md`` (a long chapter may be a short parent page
``NN_name.md`` with parts ``NNa_...``, ``NNb_...`` under it, numbered N.1, N.2). On the
built HTML the functions below collect, for each chapter file, what contradicts its
number NN: the number of the page's title and of its figures and exercises (their
captions; a {numref} reference on a chapter page is checked against the chapter it
points to), the name of the notebook it offers for download, the links whose text
says "chapter N", and the chapter column of the Assignments page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

TITLE = re.compile(r'<h1>\s*<span class="section-number">([0-9.]+)\s*</span>')
# figure and exercise captions; a {numref} reference, which prints the number of a
# figure or exercise on its own page or on another chapter's
CAPTION = re.compile(r'<span class="caption-number">\s*(Fig\.|Exercise)\s+([0-9.]+)')
NUMREF = re.compile(r'<a\b[^>]*\bhref="([^"#]*)(?:#[^"]*)?"[^>]*>\s*'
                    r'<span class="std std-numref">\s*(Fig\.|Exercise)\s+([0-9.]+)')
LINK = re.compile(r'<a\b[^>]*\bhref="([^"#]*)(?:#[^"]*)?"[^>]*>(.*?)</a>', re.S)
SAYS_CHAPTER = re.compile(r"\b[Cc]hapter\s+(\d+)\b")
DOWNLOAD = re.compile(r'href="[^"]*_sources/chapters/([^"/]+)\.ipynb"')


def file_number(chapter: Path) -> int:
    """``06b_conjugate_gradients.md`` → 6."""
    return int(chapter.name[:2])


def site_number(page: Path) -> str | None:
    """The number before the title of a built page ("6.1."), or None."""
    found = TITLE.search(page.read_text(encoding="utf8"))
    return found.group(1).rstrip(".") if found else None


def chapter_of(number: str | None) -> int | None:
    """"6.1" → 6."""
    return int(number.split(".")[0]) if number else None


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def page_problems(html_root: Path, chapter: Path, is_notebook: bool) -> list[str]:
    """What on the built page of ``chapter`` disagrees with the number in its name."""
    page = html_root / "chapters" / f"{chapter.stem}.html"
    if not page.is_file():
        return [f"{chapter.name}: not built (not in _toc.yml)"]
    n, text, out = file_number(chapter), page.read_text(encoding="utf8"), []
    title = site_number(page)
    if chapter_of(title) != n:
        out.append(f"{chapter.name}: the title is numbered {title!r}, not {n}.")
    for kind, number in CAPTION.findall(text):
        if chapter_of(number.rstrip(".")) != n:
            out.append(f"{chapter.name}: {kind} {number} in chapter {n}")
    for href, kind, number in NUMREF.findall(text):
        target = (page.parent / unquote(href)).resolve() if href else page
        if target.parent.name == "chapters" and target.name[:2].isdigit():
            if chapter_of(number.rstrip(".")) != int(target.name[:2]):
                out.append(f"{chapter.name}: a reference to {kind} {number} "
                           f"of {target.name}")
    if is_notebook:
        offered = DOWNLOAD.findall(text)
        if offered != [chapter.stem]:
            out.append(f"{chapter.name}: offers {offered} for download, not {chapter.stem}.ipynb")
    return out


def link_problems(html_root: Path) -> list[str]:
    """Links whose text says "chapter N" (or the Assignments page's chapter column) and
    that lead to a chapter page whose number is not N."""
    out = []
    for page in sorted(html_root.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        text = page.read_text(encoding="utf8")
        for href, inner in LINK.findall(text):
            path = urlsplit(href).path
            target = (page.parent / unquote(path)).resolve() if path else page
            if target.parent.name != "chapters" or not target.is_file():
                continue
            label = _text(inner)
            said = SAYS_CHAPTER.fullmatch(label) or SAYS_CHAPTER.match(label)
            if said is None and page.name == "assignments.html" and label.isdigit():
                said = re.match(r"(\d+)", label)  # the table's chapter column: "6"
            if said and int(said.group(1)) != chapter_of(site_number(target)):
                out.append(f"{page.relative_to(html_root)}: '{label}' leads to "
                           f"{target.name}, numbered {site_number(target)!r}")
    return out


def assignment_problems(html_root: Path, masters: list[Path]) -> list[str]:
    """Each assignment ``NN_name`` is listed with chapter NN on the Assignments page."""
    text = (html_root / "assignments.html").read_text(encoding="utf8")
    out = []
    for master in masters:
        row = re.search(r"<tr[^>]*>((?:(?!</tr>).)*?" + re.escape(f"{master.stem}.ipynb")
                        + r".*?)</tr>", text, flags=re.S)
        if row is None:
            out.append(f"{master.stem}: no row on the Assignments page")
            continue
        links = [(h, _text(i)) for h, i in LINK.findall(row.group(1)) if "chapters/" in h]
        numbers = [chapter_of(site_number((html_root / unquote(h)).resolve())) for h, _ in links]
        labels = [label for _, label in links]
        if numbers != [file_number(master)] or labels != [str(file_number(master))]:
            out.append(f"{master.stem}: the chapter column reads {labels}, "
                       f"leading to pages numbered {numbers}")
    return out
