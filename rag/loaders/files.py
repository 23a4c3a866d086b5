"""Loaders: file bytes -> ``LoadedDocument`` (sections with page / heading path).

``load_file`` is synchronous and CPU/disk bound: call it in a worker thread.
Supported: .pdf, .md/.markdown, .txt/.text/.rst, .html/.htm, .docx.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.errors import (
    EmptyDocumentError,
    FileTooLargeError,
    UnreadableDocumentError,
    UnsupportedTypeError,
)
from rag.loaders.archive import ArchiveLimits, check_zip
from rag.loaders.base import LoadedDocument, Section, content_id
from rag.loaders.docx import load_docx
from rag.loaders.html import load_html
from rag.loaders.pdf import load_pdf
from rag.loaders.text import load_markdown, load_text

Loader = Callable[[bytes, str], list[Section]]

#: extension -> (kind, loader)
LOADERS: dict[str, tuple[str, Loader]] = {
    ".pdf": ("pdf", load_pdf),
    ".md": ("markdown", load_markdown),
    ".markdown": ("markdown", load_markdown),
    ".txt": ("text", load_text),
    ".text": ("text", load_text),
    ".rst": ("text", load_text),
    ".html": ("html", load_html),
    ".htm": ("html", load_html),
    ".docx": ("docx", load_docx),
}

__all__ = [
    "LOADERS", "LoadedDocument", "Section", "content_id", "load_file", "load_text_document",
    "supported_extensions",
]


def supported_extensions() -> list[str]:
    """The file extensions a loader exists for, e.g. [".docx", ".htm", ...]."""
    return sorted(LOADERS)


def _loader_for(filename: str) -> tuple[str, Loader]:
    ext = Path(filename).suffix.lower()
    if ext not in LOADERS:
        raise UnsupportedTypeError(
            filename,
            f"has an unsupported type ({ext or 'no extension'}). Supported: "
            f"{', '.join(supported_extensions())}. Convert it to one of these and upload "
            "it again.",
        )
    return LOADERS[ext]


def load_file(path: str | Path, filename: str | None = None, max_bytes: int | None = None,
              archive_limits: ArchiveLimits | None = None) -> LoadedDocument:
    """Read and parse one file (in this process: for untrusted files use
    ``rag.loaders.sandbox.ParserPool``, which runs this under CPU, memory and time limits).

    Args:
        path: the file on disk.
        filename: display name (decides the type by its extension); default the path's name.
        max_bytes: size limit; None for no limit.
        archive_limits: zip-bomb limits of a .docx (default ``ArchiveLimits()``).

    Returns:
        LoadedDocument with doc_id = SHA-256 of the bytes.

    Raises:
        UnsupportedTypeError, FileTooLargeError, EmptyDocumentError, UnreadableDocumentError,
        EncryptedDocumentError, NotUtf8Error, BinaryContentError, UnsafeArchiveError.
    """
    path = Path(path)
    name = filename or path.name
    kind, loader = _loader_for(name)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableDocumentError(name, f"cannot be opened ({exc.strerror}).") from None
    if max_bytes is not None and size > max_bytes:
        raise FileTooLargeError(
            name,
            f"is {size / 1048576:.1f} MB, over the {max_bytes / 1048576:.1f} MB limit "
            "(DOCCHAT_UPLOAD_MAX_MB). Split it into smaller files or raise the limit.",
        )
    if size == 0:
        raise EmptyDocumentError(name, "is empty (0 bytes). Upload a file with content.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableDocumentError(name, f"cannot be read ({exc.strerror}).") from None
    if kind == "docx":
        check_zip(data, name, archive_limits or ArchiveLimits())
    sections = loader(data, name)
    return LoadedDocument(filename=name, doc_id=content_id(data), kind=kind, sections=sections)


def load_text_document(name: str, text: str, metadata: dict[str, Any] | None = None,
                       max_bytes: int | None = None) -> LoadedDocument:
    """An in-memory text as a one-section document; doc_id = SHA-256 of its UTF-8 bytes.

    Raises:
        EmptyDocumentError: blank text. FileTooLargeError: over ``max_bytes``.
    """
    data = text.encode("utf-8")
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLargeError(name, "is over the size limit (DOCCHAT_UPLOAD_MAX_MB).")
    if not text.strip():
        raise EmptyDocumentError(name, "contains no text.")
    return LoadedDocument(
        filename=name, doc_id=content_id(data), kind="text", sections=[Section(text)],
        metadata=dict(metadata or {}),
    )
