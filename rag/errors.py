"""Typed errors for documents that cannot be indexed.

Every message names the file, says what is wrong and what to do. The service
turns them into ``IndexReport(status="failed", error=str(exc))``; it never
raises them from ``index_files``.
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error raised by the rag package."""


class DocumentError(RagError):
    """A document that cannot be indexed. ``filename`` is its display name."""

    def __init__(self, filename: str, message: str) -> None:
        super().__init__(f"{filename}: {message}")
        self.filename = filename


class UnsupportedTypeError(DocumentError):
    """The file extension has no loader."""


class EmptyDocumentError(DocumentError):
    """The file is 0 bytes or contains no extractable text."""


class EncryptedDocumentError(DocumentError):
    """The PDF is password-protected."""


class UnreadableDocumentError(DocumentError):
    """The file is corrupt or not in the format its extension claims."""


class NotUtf8Error(DocumentError):
    """A text file that is not valid UTF-8."""


class BinaryContentError(DocumentError):
    """Binary data in a file with a text extension."""


class FileTooLargeError(DocumentError):
    """The file is larger than ``RagSettings.max_file_mb``."""


class StoreError(RagError):
    """The vector store or keyword index failed (not the document's fault)."""
