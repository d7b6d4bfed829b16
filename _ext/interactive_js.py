"""Sphinx extension: the site serves BokehJS itself, for the interactive figures.

``optnotes.interactive`` draws a chapter's interactive figures with Bokeh; their pages
need BokehJS (the core library and its widgets, about 1.7 MB together). It is copied from
the installed ``bokeh`` package into the build's ``_static/`` and linked from the pages
that show an interactive figure (and only from those), so a browser loads it once, caches
it for the other chapters, and no page reaches another host. The file names carry
Bokeh's version, which must equal the version that wrote the figures (it does: both come
from the same installation).
"""

from __future__ import annotations

import shutil
from pathlib import Path

FILES = ("bokeh", "bokeh-widgets")

#: the class of the element that holds an interactive figure (``optnotes.interactive``)
MARKER = "optnotes-interactive"


def setup(app):
    import bokeh

    version = bokeh.__version__
    source = Path(bokeh.__file__).parent / "server" / "static" / "js"

    def copy_bokehjs(app):
        target = Path(app.outdir).parent / "bokehjs"
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(source / f"{name}.min.js", target / f"{name}-{version}.min.js")
        app.config.html_static_path.append(str(target))

    def link_where_needed(app, pagename, templatename, context, doctree):
        if MARKER in context.get("body", ""):
            for name in FILES:
                app.add_js_file(f"{name}-{version}.min.js")

    app.connect("builder-inited", copy_bokehjs)
    app.connect("html-page-context", link_where_needed)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
