"""Plain text and Markdown loaders."""

from __future__ import annotations

from markdown_it import MarkdownIt

from rag.loaders.base import Section, decode_text, heading_path, push_heading, require_text

_MD = MarkdownIt("commonmark")


def load_text(data: bytes, filename: str) -> list[Section]:
    """A plain text file as one section.

    Raises:
        BinaryContentError, NotUtf8Error, EmptyDocumentError.
    """
    return require_text([Section(decode_text(data, filename))], filename)


def load_markdown(data: bytes, filename: str) -> list[Section]:
    """A Markdown file split at its headings; each section carries its heading path.

    The section text keeps the heading line itself. Text before the first
    heading has heading None. Headings inside code fences are not headings
    (markdown-it parses the document).

    Raises:
        BinaryContentError, NotUtf8Error, EmptyDocumentError.
    """
    text = decode_text(data, filename)
    lines = text.splitlines(keepends=True)
    tokens = _MD.parse(text)
    starts: list[tuple[int, int, str]] = []  # (line, level, title)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map:
            title = tokens[i + 1].content if i + 1 < len(tokens) else ""
            starts.append((tok.map[0], int(tok.tag[1]), title))
    sections: list[Section] = []
    if not starts or starts[0][0] > 0:
        end = starts[0][0] if starts else len(lines)
        sections.append(Section("".join(lines[:end])))
    stack: list[str] = []
    for n, (line, level, title) in enumerate(starts):
        stack = push_heading(stack, level, title)
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        sections.append(Section("".join(lines[line:end]), heading=heading_path(stack)))
    return require_text(sections, filename)
