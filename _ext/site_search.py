"""The site's search finds a hyphenated name as one word.

Sphinx indexes words as ``\\w+``, so "L-BFGS" is indexed, and searched for, as "l" and
"bfgs"; a term of one or two letters is optional in Sphinx's search, so the query
"L-BFGS" returns every page with an "l" in it. Here the English indexer also records
each hyphenated compound ("l-bfgs", "mini-batch") next to its parts, and
``_static/site-search.js`` keeps such a compound together in the query, so the search
for "L-BFGS" returns the pages that contain "L-BFGS" and a search for "BFGS" still finds
them too. The same script quotes the matching sentence of the article in each result
(Sphinx quotes the page's main block, which in this theme begins with the page's table
of contents).
"""

from __future__ import annotations

import re

import sphinx.search
from sphinx.search.en import SearchEnglish

COMPOUND = re.compile(r"\w+(?:-\w+)+")


class SearchEnglishCompounds(SearchEnglish):
    """English search words, and every hyphenated compound as one more word."""

    def split(self, input: str) -> list[str]:  # noqa: A002 - Sphinx's signature
        return super().split(input) + COMPOUND.findall(input)


def setup(app):
    sphinx.search.languages["en"] = SearchEnglishCompounds
    return {"parallel_read_safe": True, "parallel_write_safe": True}
