"""HTML loader (beautifulsoup4): sections split at h1-h6 with heading paths."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Doctype, ProcessingInstruction

from rag.loaders.base import Section, decode_text, heading_path, push_heading, require_text

_SKIP = {"script", "style", "noscript", "template", "head", "svg", "iframe", "nav"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCKS = {
    "p", "div", "li", "ul", "ol", "pre", "blockquote", "table", "tr", "td", "th",
    "section", "article", "header", "footer", "main", "aside", "dl", "dt", "dd",
    "figure", "figcaption", "caption", "br", "hr", "form", "address",
}
_SPACES = re.compile(r"[ \t\r\f\v]+")


class _Collector:
    """Walks the tree, cutting a new section at every heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.stack: list[str] = []
        self.parts: list[str] = []

    def flush(self) -> None:
        text = _normalise("".join(self.parts))
        if text:
            self.sections.append(Section(text, heading=heading_path(self.stack)))
        self.parts = []

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.parts.append(str(child))
            elif isinstance(child, Tag):
                self.visit(child)

    def visit(self, tag: Tag) -> None:
        name = tag.name.lower()
        if name in _SKIP:
            return
        if name in _HEADINGS:
            self.flush()
            title = _normalise(tag.get_text(" "))
            self.stack = push_heading(self.stack, _HEADINGS[name], title)
            self.parts.append(title + "\n\n")
            return
        block = name in _BLOCKS
        if block:
            self.parts.append("\n\n" if name not in ("br", "td", "th") else "\n")
        self.walk(tag)
        if block:
            self.parts.append("\n\n")


def _normalise(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def load_html(data: bytes, filename: str) -> list[Section]:
    """Visible text of an HTML file, split at headings.

    Raises:
        BinaryContentError, NotUtf8Error, EmptyDocumentError.
    """
    text = decode_text(data, filename)
    soup = BeautifulSoup(text, "html.parser")
    collector = _Collector()
    collector.walk(soup.body or soup)
    collector.flush()
    return require_text(collector.sections, filename)
