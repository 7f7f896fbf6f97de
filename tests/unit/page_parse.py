"""A page of clix-collect as a browser reads it: its tags, attributes and text (tests of the pages)."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import re

# Everything the templates use; a tag or attribute outside these came from a value, not a template.
TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b", "i", "small", "br", "table",
        "thead", "tbody", "tr", "th", "td", "div", "span", "sup", "a", "ol", "ul", "li", "svg", "rect", "line", "text"}
ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "name", "class", "id", "href", "start", "colspan", "xmlns",
              "width", "height", "role", "aria-label", "x", "y", "x1", "y1", "x2", "y2", "text-anchor"}


class Page(html.parser.HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set = set()
        self.attributes: list = []
        self.chunks: list = []
        self.style = ""
        self.metas: list = []
        self._in: list = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += [(tag, k, v) for k, v in attrs]
        if tag == "meta":
            self.metas.append(dict(attrs))
        if tag not in ("br", "meta", "line", "rect"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if tag in self._in:
            while self._in.pop() != tag:
                pass

    def handle_data(self, data):
        if self._in and self._in[-1] == "style":
            self.style += data
        else:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def csp(self) -> str:
        return next(m["content"] for m in self.metas if m.get("http-equiv") == "Content-Security-Policy")


def checked(source: str) -> Page:
    """The page, once checked to be self-contained: no tag or attribute but the templates', no script, no
    link out of the page, and a Content-Security-Policy that allows only its own style sheet (by hash)."""
    page = Page(source)
    assert page.tags <= TAGS, page.tags - TAGS
    assert {k for _, k, _ in page.attributes} <= ATTRIBUTES, {k for _, k, _ in page.attributes} - ATTRIBUTES
    assert all(v.startswith("#") for t, k, v in page.attributes if k == "href"), "a link out of the page"
    assert source.index('http-equiv="Content-Security-Policy"') < source.index("<style>")
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert page.csp() == ("default-src 'none'; style-src 'sha256-%s'; img-src data:; base-uri 'none'; "
                          "form-action 'none'" % digest)
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", source)
    return page
