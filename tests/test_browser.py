"""The built site in a real browser, offline: Playwright driving Debian's Chromium.

The site of this session's book build (``site_build.py``) is served from localhost;
every request to another host is refused, so a page that needs the network fails. On
every page of the book: no console error; every formula rendered by MathJax; every
figure with a caption and an alt text that is not a file path; every solution closed
until clicked; nothing wider than the window (wide equations and tables scroll inside
their own box) on a phone (390 px) and on a desktop; the menu and "Contents" buttons
open their panels on a phone and the sidebar button hides the sidebar on a desktop.
Every internal link and anchor of every page resolves, and each chapter offers its
executed notebook for download. Every chapter has an interactive figure whose sliders
move, and change the figure, with the mouse and with the keyboard, on a phone and on a
desktop. One search box and the book's title once on every page; the site's search for
"L-BFGS" returns only the pages that contain it, each quoting its sentence; on a phone
each figure spans the column and its text is legible; every box that scrolls sideways
shows a shadow at its edge. No page loads more than 6 MB with everything it fetches, nor
holds more than 400 KB of interactive figure data, and BokehJS is loaded only by the
pages that show an interactive figure.

The page checks are also run on a small book made for the test, whose page follows the
chapter pattern, and on a page that breaks it, so that each check is seen to pass and
to fail.

The tests that need a browser are skipped, with the reason, when no ``chromium`` is on
the PATH (``apt-get install chromium``; Playwright's own browser download is not used).
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import shutil
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

from site_build import (ROOT, book, book_config, build_book, chapter_runs,  # noqa: F401
                        is_notebook, record_stage)

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def toc_pages() -> list[str]:
    """The pages of ``_toc.yml`` as built paths (``intro.html``, ``chapters/04_x.html``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))

    def files(entries) -> list[str]:  # a chapter's parts (``sections:``) follow it
        return [f for e in entries or [] for f in [e["file"], *files(e.get("sections"))]]

    found = [toc["root"]]
    for part in toc.get("parts", []):
        found += files(part.get("chapters"))
    return [str(Path(f).with_suffix(".html")) for f in found]


PAGES = toc_pages()
# the chapter pages that are notebooks (a parent page in plain Markdown has no notebook)
CHAPTER_PAGES = [p for p in PAGES if p.startswith("chapters/")
                 and is_notebook((ROOT / p).with_suffix(".md"))]

pytestmark = pytest.mark.slow
NO_CHROMIUM = "no chromium on the PATH (apt-get install chromium)"


# --- serving the site and driving the browser ----------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def serve():
    """``serve(folder) -> base URL``: a folder served on 127.0.0.1 for this session."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def site(book, serve) -> str:  # noqa: F811
    if book.returncode != 0:
        pytest.fail("the book did not build (see test_book.py)", pytrace=False)
    return serve(book.html)


@pytest.fixture(scope="module", autouse=True)
def _time_browser_tests():
    start = time.perf_counter()
    yield
    record_stage("browser tests (with the test's own small book)", time.perf_counter() - start)


class Visit:
    """One page in one window size, with what it logged and what it tried to fetch."""

    def __init__(self, browser, url: str, viewport: dict, empty: tuple[str, ...] = ()):
        """``empty``: the files whose URL ends so are served empty (a broken site)."""
        self.context = browser.new_context(viewport=viewport)
        self.errors: list[str] = []
        self.refused: list[str] = []
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))

        def route(r):
            if r.request.url.split("?")[0].endswith(empty) and empty:
                r.fulfill(status=200, body="", content_type="text/plain")
            elif r.request.url.startswith(origin):
                r.continue_()
            else:
                self.refused.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(url, wait_until="load")
        # MathJax typesets after load; wait until it is done (or absent)
        self.page.wait_for_function(
            "() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)", timeout=20000)
        self.page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    opened = []

    def open_page(url, viewport=DESKTOP, empty=()) -> Visit:
        opened.append(Visit(browser, url, viewport, empty))
        return opened[-1]

    yield open_page
    for v in opened:
        v.close()


# --- the checks, each a function of a loaded page that returns what is wrong ----------------

def console_problems(v: Visit) -> list[str]:
    return [f"console error: {e}" for e in v.errors] + [f"refused request: {u}" for u in v.refused]


MATH_PROBLEMS_JS = """() => {
  const out = [];
  const maths = document.querySelectorAll('.bd-article .math');
  if (maths.length && !window.MathJax) out.push('formulas but no MathJax');
  maths.forEach((m, i) => {
    if (!m.querySelector('mjx-container')) out.push('not rendered: ' + m.textContent.slice(0, 60));
    else if (m.querySelector('mjx-merror')) out.push('TeX error: ' + m.textContent.slice(0, 60));
  });
  return out;
}"""


def math_problems(v: Visit) -> list[str]:
    return v.page.evaluate(MATH_PROBLEMS_JS)


FIGURE_PROBLEMS_JS = r"""() => {
  const out = [];
  // a file name or path: one word with a slash or an image extension ("1/k" inside a
  // sentence is not a path)
  const isPath = (alt) => !/\s/.test(alt.trim()) &&
    /[\/\\]|\.(png|svg|jpe?g|gif|webp)$/i.test(alt.trim());
  document.querySelectorAll('.bd-article img').forEach((img) => {
    const name = (img.getAttribute('src') || '').split('/').pop();
    const alt = (img.getAttribute('alt') || '').trim();
    if (!alt) out.push('no alt text: ' + name);
    else if (isPath(alt)) out.push('alt text is a path: ' + name);
    const fig = img.closest('figure');
    const caption = fig && fig.querySelector('figcaption');
    if (!caption || !caption.textContent.trim()) out.push('no caption: ' + name);
  });
  return out;
}"""


def figure_problems(v: Visit) -> list[str]:
    return v.page.evaluate(FIGURE_PROBLEMS_JS)


WIDTH_PROBLEMS_JS = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    out.push(`the page scrolls sideways: ${doc.scrollWidth} px in a ${window.innerWidth} px window`);
  const boxes = '.bd-article div.math, .bd-article mjx-container[display="true"], ' +
                '.bd-article .pst-scrollable-table-container, .bd-article table, ' +
                '.bd-article pre, .bd-article .cell_output, .bd-article dl.py dt';
  const article = document.querySelector('.bd-article');
  const right = article ? article.getBoundingClientRect().right : window.innerWidth;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  document.querySelectorAll(boxes).forEach((el) => {
    const what = el.tagName.toLowerCase() + '.' + el.className + ': ' +
                 el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
    // the box that shows el: el itself or the nearest ancestor in the article that scrolls
    let box = el;
    while (box && box !== article && !scrolls(box)) box = box.parentElement;
    if (!box || box === article) box = el;
    if (box.getBoundingClientRect().right > right + 1) out.push('wider than the column: ' + what);
    else if (box === el && el.scrollWidth > el.clientWidth + 1 && !scrolls(el)) {
      // content that overflows a box visibly (a figure across a phone's screen) is not
      // clipped, but it must stay within the article
      if (getComputedStyle(el).overflowX !== 'visible') out.push('clipped: ' + what);
      else if (el.getBoundingClientRect().left + el.scrollWidth > right + 1)
        out.push('wider than the column: ' + what);
    }
  });
  return out;
}"""


def width_problems(v: Visit) -> list[str]:
    return v.page.evaluate(WIDTH_PROBLEMS_JS)


SOLUTIONS_JS = """() => Array.from(document.querySelectorAll('.bd-article .solution')).map((s) => {
  const body = s.querySelector('section') || s.lastElementChild;
  return {id: s.id, open: !!body && body.offsetHeight > 0 && !s.classList.contains('toggle-hidden')
                                   && !body.classList.contains('toggle-hidden')};
})"""


def solution_problems(v: Visit) -> list[str]:
    out = []
    for s in v.page.evaluate(SOLUTIONS_JS):
        if s["open"]:
            out.append(f"solution open before a click: {s['id']}")
            continue
        sel = f'[id="{s["id"]}"]'
        v.page.locator(f"{sel} button.toggle-button").first.click()
        v.page.wait_for_timeout(400)
        opened = next((t for t in v.page.evaluate(SOLUTIONS_JS) if t["id"] == s["id"]), None)
        if not (opened and opened["open"]):
            out.append(f"solution does not open on click: {s['id']}")
    return out


def phone_menu_problems(v: Visit) -> list[str]:
    """At phone width the visible menu button opens the navigation, "Contents" the page's
    table of contents (where the page has one)."""
    out = []
    for kind, dialog, what in [("primary", "#pst-primary-sidebar-modal", "menu"),
                               ("secondary", "#pst-secondary-sidebar-modal", "Contents")]:
        buttons = v.page.locator(f".{kind}-toggle:visible")
        if buttons.count() == 0:
            if kind == "primary":
                out.append("no visible menu button")
            continue
        buttons.first.click()
        try:
            v.page.wait_for_selector(f"{dialog}[open]", timeout=3000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            out.append(f"the {what} button does not open its panel")
            continue
        links = v.page.locator(f"{dialog} a:visible").count()
        if links == 0:
            out.append(f"the {what} panel opens with no link in it")
        v.page.keyboard.press("Escape")
        v.page.wait_for_timeout(300)
    return out


def desktop_sidebar_problems(v: Visit) -> list[str]:
    sidebar = v.page.locator("#pst-primary-sidebar")
    buttons = v.page.locator(".primary-toggle:visible")
    if buttons.count() == 0 or not sidebar.is_visible():
        return ["no sidebar or no visible sidebar button on a desktop"]
    buttons.first.click()
    v.page.wait_for_timeout(500)
    if sidebar.is_visible() and sidebar.bounding_box()["width"] > 1:
        return ["the sidebar button does not hide the sidebar"]
    buttons.first.click()
    v.page.wait_for_timeout(500)
    return [] if sidebar.is_visible() else ["the sidebar button does not bring the sidebar back"]


def interactive_problems(v: Visit) -> list[str]:
    """Each interactive figure (``optnotes.interactive``) renders and changes when its
    sliders are moved, with the mouse (a click on the track, then a drag of the handle)
    and with the keyboard (arrow keys on the focused handle); a chapter has at least one."""
    figures = v.page.locator(".bd-article .optnotes-interactive")
    if figures.count() == 0:
        chapter = any(urlsplit(v.page.url).path.endswith("/" + p) for p in CHAPTER_PAGES)
        return ["no interactive figure"] if chapter else []
    out = []
    for i in range(figures.count()):
        fig = figures.nth(i)
        fig.scroll_into_view_if_needed()
        try:  # playwright's locators see into Bokeh's shadow roots
            fig.locator("canvas").first.wait_for(timeout=15000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            out.append(f"interactive figure {i + 1} is not drawn")
            continue
        v.page.wait_for_timeout(300)
        for j in range(fig.locator(".noUi-target").count()):
            what = f"interactive figure {i + 1}, slider {j + 1}"
            track, handle = fig.locator(".noUi-target").nth(j), fig.locator(".noUi-handle").nth(j)
            box = track.bounding_box()
            y = box["y"] + box["height"] / 2
            moves = [
                ("a click on the track", lambda: v.page.mouse.click(
                    box["x"] + 0.97 * box["width"], y)),
                ("the arrow keys", lambda: (handle.focus(), v.page.keyboard.press("ArrowLeft"),
                                            v.page.keyboard.press("ArrowLeft"))),
                ("a drag of the handle", lambda: _drag(v.page, handle, box["x"] + (
                    box["width"] - 2 if handle.get_attribute("aria-valuenow")
                    == handle.get_attribute("aria-valuemin") else 2))),
            ]
            for how, move in moves:
                # the plot's pixels only (the slider's own label changes anyway)
                plot = fig.locator("canvas").first
                before, value = plot.screenshot(), handle.get_attribute("aria-valuenow")
                move()
                v.page.wait_for_timeout(400)
                if handle.get_attribute("aria-valuenow") == value:
                    out.append(f"{what}: {how} does not move it")
                elif not _pixels_changed(before, plot.screenshot()):
                    out.append(f"{what}: the figure does not change after {how}")
    return out


# What a page may weigh, decoded, with everything it loads (the shared scripts, cached
# across pages, included), and what its interactive figures' data may add.
PAGE_BUDGET = 6_000_000
FIGURE_DATA_BUDGET = 400_000

WEIGHT_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const loaded = [[location.pathname, nav ? nav.decodedBodySize : 0]];
  for (const r of performance.getEntriesByType('resource'))
    loaded.push([r.name, r.decodedBodySize || 0]);
  const data = Array.from(document.querySelectorAll('.optnotes-interactive'))
    .reduce((n, el) => n + el.outerHTML.length, 0);
  return {loaded, data};
}"""


def page_weight(v: Visit) -> dict:
    """``{"total": bytes, "data": bytes, "loaded": [(url, bytes), ...]}``: what the page
    loaded (itself and every resource, decoded, heaviest first) and the size of its
    interactive figures' HTML (their data)."""
    w = v.page.evaluate(WEIGHT_JS)
    loaded = sorted(((u.split("?")[0], n) for u, n in w["loaded"]), key=lambda t: -t[1])
    return {"total": sum(n for _, n in loaded), "data": w["data"], "loaded": loaded}


def weight_problems(v: Visit, budget: int = PAGE_BUDGET,
                    data_budget: int = FIGURE_DATA_BUDGET) -> list[str]:
    w = page_weight(v)
    out = []
    if w["total"] > budget:
        heaviest = ", ".join(f"{u.rsplit('/', 1)[-1]} {n / 1e3:.0f} KB" for u, n in w["loaded"][:5])
        out.append(f"the page loads {w['total'] / 1e6:.2f} MB (budget {budget / 1e6:g} MB); "
                   f"heaviest: {heaviest}")
    if w["data"] > data_budget:
        out.append(f"its interactive figures hold {w['data'] / 1e3:.0f} KB "
                   f"(budget {data_budget / 1e3:g} KB)")
    return out


def loads_bokehjs(v: Visit) -> bool:
    return any(u.rsplit("/", 1)[-1].startswith("bokeh") for u, _ in page_weight(v)["loaded"])


def _pixels_changed(before: bytes, after: bytes, share: float = 0.002) -> bool:
    """Whether more than ``share`` of the pixels of two PNG screenshots differ visibly (a
    redraw of the same data changes a few pixels at the edge by a shade or two)."""
    import io

    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(io.BytesIO(x)).convert("RGB"), dtype=int)
            for x in (before, after))
    if a.shape != b.shape:
        return True
    return (np.abs(a - b).sum(axis=2) > 24).mean() > share


def _drag(page, handle, to_x: float) -> None:
    hb = handle.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(to_x, hb["y"] + hb["height"] / 2, steps=6)
    page.mouse.up()


# --- search, the sidebar, figures on a phone, scroll cues ----------------------------------

BOOK_TITLE = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))["title"]


def search_results(base: str, visit, query: str, empty=()) -> list[dict]:
    """The results of the site's own search for ``query``: page and quoted snippet."""
    from urllib.parse import quote

    v = visit(base + "search.html?q=" + quote(query), DESKTOP, empty)
    v.page.wait_for_function(
        "() => /Search finished|did not match/.test("
        "(document.querySelector('#search-results') || {}).textContent || '')", timeout=30000)
    v.page.wait_for_timeout(500)  # the snippets are filled in as each page arrives
    return v.page.evaluate("""() => Array.from(
        document.querySelectorAll('#search-results ul.search > li')).map((li) => ({
          page: li.querySelector('a').getAttribute('href').split(/[?#]/)[0],
          snippet: (li.querySelector('p.context') || {textContent: ''}).textContent}))""")


def search_problems(results: list[dict], query: str, pages_with_it: set[str]) -> list[str]:
    """The search returns the pages that contain ``query`` and no other, each with a
    snippet that quotes the query (the sentence that contains it, not the contents)."""
    out = [] if results else [f"no result for {query!r}"]
    for r in results:
        if r["page"] not in pages_with_it:
            out.append(f"{r['page']} does not contain {query!r} but is a result")
        elif query.lower() not in r["snippet"].lower():
            out.append(f"the snippet of {r['page']} does not quote {query!r}: "
                       f"{r['snippet'][:120]!r}")
    missing = pages_with_it - {r["page"] for r in results}
    return out + [f"{p} contains {query!r} but is not a result" for p in sorted(missing)]


def pages_containing(html_root: Path, text: str) -> set[str]:
    """The built pages whose article (the text a reader sees, less scripts and styles)
    contains ``text``."""
    import re

    found = set()
    for page in html_root.rglob("*.html"):
        if "_static" in page.parts or page.name in {"search.html", "genindex.html"}:
            continue
        source = page.read_text(encoding="utf8", errors="replace")
        article = re.search(r'<article class="bd-article".*?</article>', source, re.S)
        # the article's text, less scripts and styles (as Sphinx indexes it)
        words = re.sub(r"<(script|style)\b.*?</\1>", " ", article.group(0) if article else "",
                       flags=re.S | re.I)
        words = re.sub(r"<[^>]+>", " ", words)
        if text.lower() in html.unescape(words).lower():
            found.add(page.relative_to(html_root).as_posix())
    return found


SIDEBAR_JS = """(title) => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
                          && getComputedStyle(el).visibility !== 'hidden';
  const boxes = Array.from(document.querySelectorAll(
    '.search-button-field, form.bd-search input:not([type=hidden])')).filter(visible)
    .filter((el) => !el.closest('.search-button__wrapper'));  // the Ctrl+K dialog, closed
  const titles = Array.from(document.querySelectorAll(
    '#pst-primary-sidebar a, #pst-primary-sidebar p, .bd-header a, .bd-header p'))
    .filter(visible)
    .filter((el) => el.textContent.replace(/\\s+/g, ' ').trim() === title
                    && !(el.tagName === 'P' && el.closest('a')));
  return {boxes: boxes.length, titles: titles.length};
}"""


def sidebar_problems(v: Visit) -> list[str]:
    """One search box on the page (the search page's own, or the sidebar's), and the
    book's title once at the top of the sidebar (or of the top bar)."""
    found = v.page.evaluate(SIDEBAR_JS, BOOK_TITLE)
    out = [] if found["boxes"] <= 1 else [f"{found['boxes']} search boxes"]
    if v.page.viewport_size["width"] >= 992:  # where the sidebar is shown
        out += [] if found["boxes"] == 1 else ["no search box"] if not found["boxes"] else []
        out += [] if found["titles"] == 1 else [f"the book's title {found['titles']} times"]
    return out


#: The smallest text of a figure in the course style, in CSS px (1 pt = 4/3 px).
def _smallest_figure_text_px() -> float:
    from optnotes.plot import STYLE

    sizes = [v for k, v in STYLE.items()
             if k.endswith("size") and isinstance(v, (int, float))]
    return min(sizes) * 4 / 3


FIGURE_SIZES_JS = """() => {
  const article = document.querySelector('.bd-article');
  const style = getComputedStyle(article);
  const column = article.clientWidth - parseFloat(style.paddingLeft) -
                 parseFloat(style.paddingRight);
  const images = '.bd-article figure img, .bd-article .cell_output img';
  return Array.from(document.querySelectorAll(images))
    .filter((img) => img.naturalWidth > 0)
    .map((img) => ({name: (img.getAttribute('src') || '').split('/').pop(), column: column,
                    width: img.getBoundingClientRect().width, natural: img.naturalWidth}));
}"""


def figure_size_problems(v: Visit, least_px: float = 8.5) -> list[str]:
    """Each figure is shown at 90% of the column's width or more, and its smallest text
    (the course style's, scaled as the image is) is ``least_px`` px high or more."""
    text_px = _smallest_figure_text_px()
    out = []
    for f in v.page.evaluate(FIGURE_SIZES_JS):
        shown = f["width"] / f["natural"] * text_px
        if f["width"] < 0.9 * f["column"]:
            out.append(f"figure {f['name']} is {f['width']:.0f} px wide in a "
                       f"{f['column']:.0f} px column")
        elif shown < least_px:
            out.append(f"figure {f['name']}: its {text_px:.1f} px text is shown "
                       f"{shown:.1f} px high (at {f['width'] / f['natural']:.2f} of its size)")
    return out


SCROLL_CUE_JS = """() => {
  const out = [];
  const boxes = '.bd-article div.math, .bd-article mjx-container[display="true"], ' +
                '.bd-article .pst-scrollable-table-container, .bd-article .cell_output .output';
  document.querySelectorAll(boxes).forEach((el) => {
    const style = getComputedStyle(el);
    if (!['auto', 'scroll'].includes(style.overflowX) || el.scrollWidth <= el.clientWidth + 1)
      return;  // nothing to scroll
    const what = el.tagName.toLowerCase() + ': ' +
                 el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
    const shadows = (style.backgroundImage.match(/radial-gradient/g) || []).length;
    if (shadows < 2 || !/local/.test(style.backgroundAttachment))
      out.push('scrolls sideways with no shadow at its edge: ' + what);
  });
  return out;
}"""


def scroll_cue_problems(v: Visit) -> list[str]:
    """Each box that scrolls sideways (a wide equation, table or output) shows a shadow
    at the edge where more content hides."""
    return v.page.evaluate(SCROLL_CUE_JS)


def wide_boxes(v: Visit) -> int:
    """How many equations, tables and outputs of the page scroll sideways."""
    return v.page.evaluate("""() => Array.from(document.querySelectorAll(
      '.bd-article div.math, .bd-article mjx-container[display="true"], ' +
      '.bd-article .pst-scrollable-table-container, .bd-article .cell_output .output'))
      .filter((el) => el.scrollWidth > el.clientWidth + 1).length""")


def page_problems(v: Visit, solutions: bool = True) -> list[str]:
    out = console_problems(v) + math_problems(v) + figure_problems(v) + width_problems(v)
    return out + (solution_problems(v) if solutions else [])


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(p) for page, p in problems.items() if p)


# --- the book's pages ----------------------------------------------------------------------

def problems_by_page(browser, site, viewport, checks: dict) -> dict[str, dict[str, list[str]]]:
    """``checks`` (name → check of a visit) run on each page at ``viewport``, one visit a page."""
    found = {}
    for page in PAGES:
        v = Visit(browser, site + page, viewport)
        found[page] = {name: check(v) for name, check in checks.items()}
        v.close()
    return found


@pytest.fixture(scope="module")
def desktop(browser, site, book) -> dict[str, dict[str, list[str]]]:  # noqa: F811
    """What is wrong with each page at desktop width, check by check."""
    return problems_by_page(browser, site, DESKTOP, {
        "downloads": lambda v: download_problems(v, book.html),
        "weight": weight_problems, "console": console_problems, "math": math_problems,
        "figures": figure_problems, "widths": width_problems, "solutions": solution_problems,
        "interactive": interactive_problems, "sidebar": sidebar_problems,
        "scroll cues": scroll_cue_problems})


@pytest.fixture(scope="module")
def phone(browser, site) -> dict[str, dict[str, list[str]]]:
    """What is wrong with each page at 390 px, check by check."""
    return problems_by_page(browser, site, PHONE, {
        "console": console_problems, "widths": width_problems, "menu": phone_menu_problems,
        "interactive": interactive_problems, "sidebar": sidebar_problems,
        "figure sizes": figure_size_problems, "scroll cues": scroll_cue_problems})


def check(found: dict, kind: str) -> str:
    return report({page: problems[kind] for page, problems in found.items()})


def test_every_page_loads_offline_with_no_console_error(desktop, phone):
    assert not (r := check(desktop, "console") + check(phone, "console")), r


def test_every_formula_is_rendered_by_mathjax(desktop):
    assert not (r := check(desktop, "math")), r


def test_every_figure_has_a_caption_and_an_alt_text_that_is_not_a_path(desktop):
    assert not (r := check(desktop, "figures")), r


def test_every_solution_starts_closed_and_opens_on_click(desktop):
    assert not (r := check(desktop, "solutions")), r


def test_nothing_is_wider_than_the_window_on_a_desktop_or_a_phone(desktop, phone):
    assert not (r := check(desktop, "widths") + check(phone, "widths")), r


def test_the_phone_menu_and_contents_buttons_open_their_panels(phone):
    assert not (r := check(phone, "menu")), r


def test_one_search_box_and_the_books_title_once_on_every_page(desktop, phone, visit, site):
    assert not (r := check(desktop, "sidebar") + check(phone, "sidebar")), r
    for viewport in (DESKTOP, PHONE):
        v = visit(site + "search.html", viewport)
        assert not (p := sidebar_problems(v)), ("search.html", viewport, p)


def test_chapter_figures_fill_the_column_and_their_text_is_legible_on_a_phone(phone):
    assert not (r := check(phone, "figure sizes")), r


def test_wide_equations_tables_and_outputs_show_that_they_scroll(desktop, phone):
    assert not (r := check(desktop, "scroll cues") + check(phone, "scroll cues")), r


def test_searching_a_hyphenated_name_finds_only_the_pages_that_contain_it(site, visit,
                                                                          book):  # noqa: F811
    query = "L-BFGS"
    results = search_results(site, visit, query)
    assert not (p := search_problems(results, query, pages_containing(book.html, query))), p


def test_desktop_sidebar_button_hides_and_shows_the_sidebar(visit, site):
    v = visit(site + (CHAPTER_PAGES or PAGES)[0])
    assert not (p := desktop_sidebar_problems(v)), p


def download_problems(v: Visit, html: Path) -> list[str]:
    """A chapter page offers its executed notebook, its source and a PDF, and the notebook
    it offers has outputs."""
    page = urlsplit(v.page.url).path.lstrip("/")
    if page not in CHAPTER_PAGES:
        return []
    labels = v.page.locator(".dropdown-download-buttons .dropdown-item").all_text_contents()
    labels = {t.strip() for t in labels}
    wrong = [f"no {s} download" for s in (".ipynb", ".md", ".pdf") if s not in labels]
    notebook = html / "_sources" / Path(page).with_suffix(".ipynb")
    outputs = notebook.is_file() and any(
        cell.get("outputs") for cell in nbformat.read(notebook, as_version=4).cells)
    if not outputs:
        wrong.append(f"{notebook.name} is missing or has no outputs")
    return wrong


def test_each_chapter_offers_its_executed_notebook_source_and_pdf(desktop, site):
    assert not (r := check(desktop, "downloads")), r
    # the check knows a chapter page by its URL, so it ran on every chapter
    assert all(urlsplit(site + page).path.lstrip("/") == page for page in CHAPTER_PAGES)
    assert set(CHAPTER_PAGES) <= set(desktop)


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def broken_links(html_root: Path) -> list[str]:
    """Every relative link of every built page leads to a file, and its #anchor to an id."""
    pages = [p for p in html_root.rglob("*.html") if "_static" not in p.parts]
    parsed = {}
    for page in pages:
        parser = _Anchors()
        parser.feed(page.read_text(encoding="utf8", errors="replace"))
        parsed[page.resolve()] = parser
    broken = []
    for page, parser in parsed.items():
        for href in parser.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            name = f"{page.relative_to(html_root.resolve())}: {href}"
            if not target.exists():
                broken.append(f"{name} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else set()
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{name} (no such anchor)")
    return broken


def test_every_internal_link_and_anchor_resolves(book):  # noqa: F811
    assert book.returncode == 0, "the book did not build (see test_book.py)"
    assert not (broken := broken_links(book.html)), "\n".join(broken)


# --- the checks themselves, on a small book made for the test ------------------------------

NOTEBOOK_HEADER = '''\
---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
'''

GOOD_PAGE = NOTEBOOK_HEADER + '''\
# A page of the chapter pattern

The loss falls like $1/k$, see {numref}`fig-test-decay`. A quasi-Newton method such as
L-BFGS keeps a few pairs of vectors. Another sentence follows it.

$$
\\sum_{k=1}^{K} \\frac{1}{k} \\approx \\ln K + \\gamma
\\qquad\\text{a long display equation that is wider than a phone's column, }
\\qquad \\epsilon_k = \\frac{\\epsilon_0}{1 + k/\\tau}, \\qquad \\theta \\leftarrow \\theta - \\epsilon g
$$

```{code-cell} ipython3
---
tags: [hide-input]
mystnb:
  figure:
    caption: |
      The loss 1/k against the step k.
    name: fig-test-decay
  image:
    alt: A curve falling like 1/k from 1 and flattening towards 0 over ten steps.
---
import matplotlib.pyplot as plt
from optnotes.plot import figure, use_course_style
use_course_style()
fig, ax = figure(height=2.4)
ax.plot(range(1, 11), [1 / k for k in range(1, 11)], label="loss 1/k")
ax.set_xlabel("step k")
ax.set_ylabel("loss")
ax.legend()
plt.show()
```

```{code-cell} ipython3
:tags: [hide-input]
from optnotes.interactive import Slider, slider_figure
slider_figure(Slider("slope a", [1, 2, 3]),
              [{"a x": ([0, 1, 2], [0, a, 2 * a])} for a in (1, 2, 3)],
              x_label="x", y_label="y")
```

| a wide table | with | many | columns | whose | headers | are | long enough | to overflow |
|---|---|---|---|---|---|---|---|---|
| 0.000001 | 0.000002 | 0.000003 | 0.000004 | 0.000005 | 0.000006 | 0.000007 | 0.000008 | 0.000009 |

## Exercises

```{exercise} A question
:label: ex-test-one
What is $1 + 1$?
```

```{solution} ex-test-one
:class: dropdown
It is $2$:

    print(1 + 1)
```
'''

BAD_PAGE = NOTEBOOK_HEADER + '''\
# A page that breaks the pattern

```{code-cell} ipython3
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2])
plt.show()
```

```{code-cell} ipython3
from optnotes.interactive import Slider, slider_figure
slider_figure(Slider("nothing", [1, 2, 3]), [{"same": ([0, 1], [0, 1])}] * 3,
              x_label="x", y_label="y")
```

<div style="width: 2000px">a block wider than any window</div>

A length l of one letter: a search that splits a hyphenated name finds this page.
'''


@pytest.fixture(scope="module")
def small_site(browser, tmp_path_factory, serve) -> str:
    """A two-page book with the repository's configuration, built with -W -n."""
    src = tmp_path_factory.mktemp("small-book")
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "_static", src / "_static")
    (src / "intro.md").write_text("# Small book\n\nTwo pages.\n", encoding="utf8")
    (src / "good.md").write_text(GOOD_PAGE, encoding="utf8")
    (src / "bad.md").write_text(BAD_PAGE, encoding="utf8")
    (src / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: intro.md
        parts:
          - caption: Pages
            numbered: true
            chapters:
              - file: good.md
              - file: bad.md
        """), encoding="utf8")
    out = tmp_path_factory.mktemp("small-book-out")
    config = book_config(out / "jupyter-cache", out / "_config.yml", root=ROOT)
    build = build_book(src, config, out / "out")
    assert build.returncode == 0, f"the small book did not build:\n{build.log[-6000:]}"
    return serve(build.html)


def test_every_page_stays_within_its_weight_budget(desktop):
    assert not (r := check(desktop, "weight")), r


def test_the_weight_check_fails_over_budget_and_bokehjs_loads_only_where_needed(small_site,
                                                                                 visit):
    good = visit(small_site + "good.html")
    assert not (p := weight_problems(good)), p
    assert weight_problems(good, budget=500_000)[0].startswith("the page loads")
    assert "interactive figures hold" in weight_problems(good, data_budget=100)[0]
    assert loads_bokehjs(good), "the page with an interactive figure did not load BokehJS"
    assert not loads_bokehjs(visit(small_site + "intro.html")), \
        "a page without an interactive figure loads BokehJS"


def test_every_chapter_has_an_interactive_figure_that_moves_on_desktop_and_phone(desktop,
                                                                                  phone):
    assert not (r := check(desktop, "interactive") + check(phone, "interactive")), r


def test_page_checks_pass_on_a_page_of_the_chapter_pattern(small_site, visit):
    v = visit(small_site + "good.html")
    assert not (p := page_problems(v) + interactive_problems(v)), p
    assert v.page.locator(".bd-article .optnotes-interactive").count() == 1
    assert v.page.locator(".bd-article figure figcaption").count() == 1
    assert v.page.locator(".bd-article .solution").count() == 1
    phone = visit(small_site + "good.html", PHONE)
    assert not (p := width_problems(phone) + phone_menu_problems(phone)), p
    assert not (p := sidebar_problems(v) + sidebar_problems(phone)), p
    assert not (p := figure_size_problems(phone)), p
    assert not (p := scroll_cue_problems(v) + scroll_cue_problems(phone)), p
    assert wide_boxes(phone) >= 2, "the page's wide equation and table do not scroll"


def test_the_search_finds_a_hyphenated_name_and_quotes_its_sentence(small_site, visit):
    results = search_results(small_site, visit, "L-BFGS")
    assert not (p := search_problems(results, "L-BFGS", {"good.html"})), p
    assert results[0]["snippet"].strip().startswith("A quasi-Newton method"), results
    # without the site's search script, Sphinx splits the name and quotes the contents
    broken = search_results(small_site, visit, "L-BFGS", empty=("site-search.js",))
    problems = search_problems(broken, "L-BFGS", {"good.html"})
    assert any("does not contain" in p for p in problems), (broken, problems)


def test_the_sidebar_figure_and_scroll_checks_fail_on_a_broken_page(small_site, visit):
    v = visit(small_site + "good.html")
    v.page.evaluate("""() => {  // a second search box and a second title in the sidebar
      const side = document.querySelector('#pst-primary-sidebar');
      side.append(side.querySelector('.search-button-field').cloneNode(true));
      side.append(side.querySelector('a.navbar-brand').cloneNode(true));
    }""")
    assert set(sidebar_problems(v)) == {"2 search boxes", "the book's title 2 times"}
    phone = visit(small_site + "good.html", PHONE)
    phone.page.add_style_tag(content=".bd-article img { width: 50% !important; "
                             "max-width: 50% !important; margin-left: 0 !important; }")
    assert any("px column" in p for p in figure_size_problems(phone)), \
        figure_size_problems(phone)
    fresh = visit(small_site + "good.html", PHONE)  # text of 20 px asked: too small
    assert any("high" in p for p in figure_size_problems(fresh, least_px=20)), \
        figure_size_problems(fresh, least_px=20)
    phone.page.add_style_tag(content=".bd-article * { background: none !important; }")
    assert any("no shadow" in p for p in scroll_cue_problems(phone)), scroll_cue_problems(phone)


def test_page_checks_fail_on_a_page_that_breaks_the_pattern(small_site, visit):
    v = visit(small_site + "bad.html")
    figures = figure_problems(v)
    assert any(p.startswith("no caption") for p in figures), figures
    assert any(p.startswith("alt text is a path") for p in figures), figures
    assert any("scrolls sideways" in p for p in width_problems(v)), width_problems(v)
    moves = interactive_problems(v)
    assert any("the figure does not change" in p for p in moves), moves
