"""rag: offline indexing into Chroma and hybrid retrieval with citations.

Public API (the contract is in each module's docstring): RagService, RagSettings, Scope, SearchResult,
IndexReport, IndexProgress, DocumentInfo, TextDocument and the errors in
rag.errors. Heavy modules (chromadb, onnxruntime) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import (
    BinaryContentError,
    DocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    NotUtf8Error,
    RagError,
    UnreadableDocumentError,
    UnsupportedTypeError,
)
from rag.models import (
    DocumentInfo,
    IndexProgress,
    IndexReport,
    Scope,
    SearchResult,
    TextDocument,
)

if TYPE_CHECKING:
    from rag.config import RagSettings
    from rag.service import RagService

__all__ = [
    "BinaryContentError", "DocumentError", "DocumentInfo", "EmptyDocumentError",
    "EncryptedDocumentError", "FileTooLargeError", "IndexProgress", "IndexReport",
    "NotUtf8Error", "RagError", "RagService", "RagSettings", "Scope", "SearchResult",
    "TextDocument", "UnreadableDocumentError", "UnsupportedTypeError",
]


def __getattr__(name: str) -> Any:
    if name == "RagService":
        from rag.service import RagService

        return RagService
    if name == "RagSettings":
        from rag.config import RagSettings

        return RagSettings
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
