"""What the indexing flow needs besides the document: passed in ``shared["ctx"]``.

The flow objects are shared by every run and hold no state; a run's
dependencies and progress sink travel in ``shared``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.chunking import Chunker
from rag.config import RagSettings
from rag.embeddings.base import Embedder
from rag.models import IndexProgress
from rag.store.document_store import DocumentStore

log = logging.getLogger(__name__)

ProgressCallback = Callable[[IndexProgress], "Awaitable[None] | None"]


@dataclass
class Source:
    """One document to index: a file (path) or an in-memory text."""

    filename: str
    path: Path | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else self.filename


@dataclass
class IndexContext:
    """Dependencies of one indexing call (shared by its documents)."""

    settings: RagSettings
    embedder: Embedder
    chunker: Chunker
    store: DocumentStore
    embed_slots: asyncio.Semaphore
    on_progress: ProgressCallback | None = None
    #: a ``rag.loaders.sandbox.ParserPool``: files are parsed in a limited child process
    parser: Any = None

    async def emit(self, filename: str, stage: str, done: int, total: int,
                   message: str = "") -> None:
        """Send a progress event; a failing callback is logged, never fatal."""
        if self.on_progress is not None:
            await emit_progress(self.on_progress, IndexProgress(
                filename, stage, done, total, message))  # type: ignore[arg-type]


async def emit_progress(on_progress: ProgressCallback | None, event: IndexProgress) -> None:
    """Hand ``event`` to ``on_progress`` (sync or async); a failing callback is logged,
    never fatal (the UI must not break indexing, in process or through the queue)."""
    if on_progress is None:
        return
    try:
        result = on_progress(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("on_progress callback failed for %s", event.filename)
