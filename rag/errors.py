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
    """The file is larger than the upload limit (``upload_max_mb``, DOCCHAT_UPLOAD_MAX_MB)."""


class UnsafeArchiveError(DocumentError):
    """A zip-based file (.docx) that would expand past the limits (a zip bomb)."""


class ParseLimitError(DocumentError):
    """Parsing was stopped by a limit: CPU time, memory or wall-clock time."""


class QuotaExceededError(DocumentError):
    """The owner already has as many files (or bytes) waiting to be indexed as allowed."""


class StoreUnavailableError(RagError):
    """The database of the keyword index and registry cannot be reached or migrated
    (PostgreSQL at ``DATABASE_URL``); the message names it and says what to do."""
