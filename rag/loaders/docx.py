"""DOCX loader (python-docx): paragraphs and tables, split at Heading styles."""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from rag.errors import UnreadableDocumentError
from rag.loaders.base import Section, heading_path, push_heading, require_text

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _heading_level(paragraph: Paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def _table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells = [c.text.strip() for c in row.cells]
        rows.append(" | ".join(c for c in cells if c))
    return "\n".join(r for r in rows if r)


def load_docx(data: bytes, filename: str) -> list[Section]:
    """Body paragraphs and tables in order; Heading N / Title styles cut sections.

    Raises:
        UnreadableDocumentError: not a DOCX (zip) file or corrupt.
        EmptyDocumentError: no text.
    """
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableDocumentError(
            filename,
            f"cannot be read as a Word .docx file ({type(exc).__name__}). Save it as .docx "
            "from your word processor (an old .doc or a password-protected file is not "
            "supported) and upload it again.",
        ) from None
    sections: list[Section] = []
    stack: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        if parts:
            sections.append(Section("\n\n".join(parts), heading=heading_path(stack)))
            parts.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = _table_text(block)
            if text:
                parts.append(text)
            continue
        text = block.text.strip()
        level = _heading_level(block)
        if level is not None and text:
            flush()
            stack = push_heading(stack, level, text)
            parts.append(text)
        elif text:
            parts.append(text)
    flush()
    return require_text(sections, filename)
