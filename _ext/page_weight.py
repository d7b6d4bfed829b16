"""Sphinx extension: the theme's Font Awesome script is not shipped.

pydata-sphinx-theme links ``_static/scripts/fontawesome.js`` from every page: Font
Awesome's SVG framework with every icon, 1.5 MB decoded, loaded "so that users can add
custom icons". This site adds none. The theme's own icons are drawn without it, by the
Font Awesome webfonts that the theme's CSS declares (a browser fetches the one font a page
uses). After the build the script is replaced by a stub of one comment, which keeps every
page within its weight budget (``tests/test_browser.py``: 6 MB with all it loads).
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = Path("_static") / "scripts" / "fontawesome.js"
STUB = ("/* Font Awesome's SVG framework is not shipped: the theme's icons are drawn by the "
        "Font Awesome webfonts of its CSS (_ext/page_weight.py). */\n")


def setup(app):
    def replace_script(app, exception):
        script = Path(app.outdir) / SCRIPT
        if exception is None and app.builder.format == "html" and script.is_file():
            script.write_text(STUB, encoding="utf8")

    app.connect("build-finished", replace_script)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
