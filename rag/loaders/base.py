"""Shared types and byte-level checks for the loaders.

A loader turns a file's bytes into ``Section``s: runs of text that share one
citation location (a PDF page, a heading path). Checks here run before any
parser sees the bytes: size limit, empty file, binary data, UTF-8.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from rag.errors import BinaryContentError, EmptyDocumentError, NotUtf8Error

#: Bytes inspected to decide whether a "text" file is really binary.
SNIFF_BYTES = 8192
#: Control characters tolerated in text (tab, newline, carriage return, form feed).
_TEXT_CONTROLS = {9, 10, 12, 13}


@dataclass
class Section:
    """A run of text with one citation location.

    page: 1-based PDF page or None. heading: heading path "A > B" or None.
    """

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass
class LoadedDocument:
    """The text of one document, ready for chunking.

    doc_id: SHA-256 hex of the file's bytes (or of the UTF-8 text for texts).
    kind: "pdf", "markdown", "text", "html" or "docx"; decides the splitter.
    units: pages for PDFs, sections otherwise (the load stage's progress unit).
    """

    filename: str
    doc_id: str
    kind: str
    sections: list[Section]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self) -> int:
        return len(self.sections)


def content_id(data: bytes) -> str:
    """SHA-256 hex digest of ``data``: the document id."""
    return hashlib.sha256(data).hexdigest()


def looks_binary(data: bytes) -> bool:
    """True if the first bytes hold a NUL or more than 10% control characters."""
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in _TEXT_CONTROLS)
    return controls > len(head) * 0.10


def decode_text(data: bytes, filename: str) -> str:
    """Decode a text file's bytes as UTF-8 (a BOM is dropped).

    Raises:
        BinaryContentError: the bytes look binary.
        NotUtf8Error: the bytes are not valid UTF-8.
        EmptyDocumentError: only whitespace.
    """
    if looks_binary(data):
        raise BinaryContentError(
            filename,
            "contains binary data, not text. Check that the file extension matches its "
            "content (e.g. rename a PDF to .pdf) and upload it again.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotUtf8Error(
            filename,
            f"is not valid UTF-8 text (invalid byte at offset {exc.start}). Save it as "
            "UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`) and upload it again.",
        ) from None
    if not text.strip():
        raise EmptyDocumentError(filename, "contains no text. Upload a file with content.")
    return text


def require_text(sections: list[Section], filename: str, hint: str = "") -> list[Section]:
    """Drop empty sections; raise EmptyDocumentError if nothing is left."""
    kept = [s for s in sections if s.text.strip()]
    if not kept:
        raise EmptyDocumentError(
            filename, "contains no extractable text." + (f" {hint}" if hint else "")
        )
    return kept


def heading_path(stack: list[str]) -> str | None:
    """Join a heading stack into "A > B", or None if empty."""
    parts = [h for h in stack if h]
    return " > ".join(parts) if parts else None


def push_heading(stack: list[str], level: int, title: str) -> list[str]:
    """Return the heading stack after a heading of ``level`` (1-based)."""
    new = stack[: level - 1]
    new += [""] * (level - 1 - len(new))
    return new + [title.strip()]
