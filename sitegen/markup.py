"""Owners' Markdown to safe HTML.

Markdown (Python-Markdown) turns the text into HTML; nh3 (ammonia) then keeps
only an explicit allow-list of tags, attributes and URL schemes, so raw HTML
an owner pastes (or a script someone else slipped into their text) cannot
run: ``<script>`` and ``<style>`` go with their content, ``on*`` handlers and
``style`` attributes go, and links keep only http, https, mailto and tel.

Headings shift down one level (``#`` becomes ``<h2>``): the page title is the
page's only ``<h1>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import markdown
import nh3
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

#: Largest Markdown text of one block, in characters.
MAX_TEXT = 32 * 1024

TAGS = frozenset(
    {"p", "br", "hr", "strong", "em", "b", "i", "s", "del", "sub", "sup", "small", "mark", "code", "pre",
     "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "h2", "h3", "h4", "h5", "h6", "a", "abbr",
     "table", "thead", "tbody", "tr", "th", "td"}
)
ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}, "th": {"scope"}, "td": set()}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


class _ShiftHeadings(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            if len(element.tag) == 2 and element.tag[0] == "h" and element.tag[1] in "12345":
                element.tag = f"h{int(element.tag[1]) + 1}"


class _ShiftHeadingsExtension(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - Markdown's API name
        md.treeprocessors.register(_ShiftHeadings(md), "shift_headings", 5)


def sanitise(html: str) -> str:
    """``html`` reduced to the allow-list (see module doc)."""
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render(text: str, *, line_breaks: bool = False) -> Markup:
    """Markdown ``text`` as sanitised HTML, safe to put in a template;
    with ``line_breaks`` each line end is a ``<br>``, as a mail's reader
    expects of the text they typed (webmail's formatted messages)."""
    extensions = ["sane_lists", "tables", _ShiftHeadingsExtension()] + (["nl2br"] if line_breaks else [])
    md = markdown.Markdown(extensions=extensions, output_format="html")
    return Markup(sanitise(md.convert(text)))
