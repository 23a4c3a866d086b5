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

from rag.chunking import Chunker
from rag.config import RagSettings
from rag.embeddings.base import Embedder
from rag.models import IndexProgress
from rag.store import DocumentStore

log = logging.getLogger(__name__)

ProgressCallback = Callable[[IndexProgress], "Awaitable[None] | None"]


@dataclass
class Source:
    """One document to index: a file (path) or an in-memory text."""

    filename: str
    path: Path | None = None
    text: str | None = None
    metadata: dict = field(default_factory=dict)

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

    async def emit(self, filename: str, stage: str, done: int, total: int,
                   message: str = "") -> None:
        """Send a progress event; a failing callback is logged, never fatal."""
        if self.on_progress is None:
            return
        event = IndexProgress(filename, stage, done, total, message)  # type: ignore[arg-type]
        try:
            result = self.on_progress(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # the UI must not break indexing
            log.exception("on_progress callback failed for %s", filename)
