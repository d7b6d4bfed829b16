// The site's search (with _ext/site_search.py, which indexes hyphenated compounds).
//
// 1. A hyphenated word of the query ("L-BFGS") stays one term instead of being split
//    into "L" and "BFGS" (searchtools.js uses this splitQuery when one is defined
//    before it loads). A leading hyphen still excludes a word ("-newton"). A compound
//    the book never uses ("mini-batch" where it writes "minibatch") is searched for as
//    its parts of two letters or more.
// 2. Each result quotes the sentence of the article where the query occurs; Sphinx
//    quotes the theme's main block, whose text begins with the table of contents.

// Whether the search index holds a term that contains the (stemmed) compound.
const compoundInIndex = (compound) => {
  const index = typeof Search !== "undefined" && Search._index;
  if (!index || typeof Stemmer === "undefined") return true;
  const word = new Stemmer().stemWord(compound.toLowerCase());
  return [index.terms, index.titleterms].some(
    (terms) => terms && Object.keys(terms).some((term) => term.includes(word)));
};

var splitQuery = (query) => query
  .split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}-]+/gu)
  .map((term) => term.replace(/^-+/, (m) => (m ? "-" : "")).replace(/-+$/, ""))
  .filter((term) => /[\p{Letter}\p{Number}_]/u.test(term))
  .flatMap((term) => {
    const sign = term.startsWith("-") ? "-" : "";
    const word = term.slice(sign.length);
    if (!word.includes("-") || compoundInIndex(word)) return [term];
    return word.split("-").filter((part) => part.length > 1).map((part) => sign + part);
  });

// A mark put at the end of each block of the article (a heading, a paragraph, an item),
// so a quote never runs from a heading into the paragraph after it.
const BLOCK_END = "\uE000";

document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined") return;  // not the search page

  // The article's text only: no table of contents, buttons or sidebars. With
  // prose=true, without code cells and their outputs either.
  Search.htmlToText = (htmlString, anchor, prose = false) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    let drop = ".headerlink, script, style, .toctree-wrapper";
    if (prose) drop += ", .cell_input, .cell_output, div.highlight";
    doc.querySelectorAll(drop).forEach((el) => el.remove());
    const article = doc.querySelector("article.bd-article") || doc.querySelector('[role="main"]');
    if (!article) return "";
    const blocks = "h1, h2, h3, h4, h5, h6, p, li, dt, dd, figcaption, caption, th, td, pre";
    article.querySelectorAll(blocks).forEach((el) => el.append(BLOCK_END));
    const section = anchor ? article.querySelector(anchor) : null;
    return (section || article).textContent.replace(/\s+/g, " ").trim();
  };

  // The sentence with the first occurrence of the query (or else of one of its terms).
  Search.makeSearchSummary = (htmlText, keywords, anchor) => {
    const query = (new URLSearchParams(window.location.search).get("q") || "").toLowerCase();
    const candidates = [query.trim(), ...splitQuery(query), ...keywords]
      .filter((k) => k && !k.startsWith("-"));
    const find = (text) => {
      const lower = text.toLowerCase();
      for (const k of candidates) {
        const at = lower.indexOf(k.toLowerCase());
        if (at > -1) return at;
      }
      return -1;
    };
    // a sentence of the prose if the query is in the prose, else anywhere in the page
    let text = Search.htmlToText(htmlText, anchor, true);
    let at = find(text);
    if (at < 0) {
      text = Search.htmlToText(htmlText, anchor);
      at = find(text);
    }
    if (!text) return null;
    let start = 0;
    let sentence = true;  // the quote begins where a sentence does
    let end = Math.min(text.length, 240);
    if (at > -1) {
      // back to the start of the sentence, forward to its end (at most 240 characters)
      const before = text.slice(Math.max(0, at - 200), at);
      const stops = [". ", "? ", "! ", BLOCK_END].map((s) => [before.lastIndexOf(s), s.length]);
      const [stop, length] = stops.reduce((a, b) => (b[0] > a[0] ? b : a));
      sentence = stop > -1 || at <= 200;
      if (stop > -1) start = at - before.length + stop + length;
      else start = at <= 200 ? 0 : at - 120;
      end = Math.min(text.length, start + 240);
      const full = text.slice(at).search(new RegExp(`[.?!](\\s|$)|${BLOCK_END}`));
      if (full > -1 && at + full + 1 <= end) end = at + full + 1;
    }
    const whole = text.slice(start, end).trim().endsWith(BLOCK_END);  // a heading, an item
    const quote = text.slice(start, end).replaceAll(BLOCK_END, " ").replace(/\s+/g, " ").trim();
    const summary = document.createElement("p");
    summary.classList.add("context");
    summary.textContent = (start > 0 && !sentence ? "..." : "") + quote +
                          (end < text.length && !whole && !/[.?!]$/.test(quote) ? "..." : "");
    return summary;
  };
});
