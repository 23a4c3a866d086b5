"""Storage: Chroma vectors + SQLite keyword index + document registry, kept consistent.

``DocumentStore`` is the one place that writes: a document is registered only
after all its chunks are in Chroma and the keyword index; on any failure its
chunks are removed again. Synchronous: call every method in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.chunking import Chunk
from rag.models import DocumentInfo
from rag.store.chroma import ChromaStore, DenseHit, scope_where
from rag.store.keyword import Fts5KeywordIndex, KeywordHit
from rag.store.registry import DocumentRegistry
from rag.store.sqlite import SqliteDB

__all__ = ["DenseHit", "DocumentStore", "KeywordHit"]


class DocumentStore:
    """Writes and reads documents across the vector store and the keyword index."""

    def __init__(self, chroma: ChromaStore, db: SqliteDB) -> None:
        self.chroma = chroma
        self.db = db
        self.keyword = Fts5KeywordIndex(db)
        self.registry = DocumentRegistry(db)
        self._write_lock = threading.Lock()

    def is_indexed(self, owner: str, thread_id: str | None, doc_id: str) -> bool:
        """True if the document is already in exactly this scope."""
        return self.registry.exists(owner, thread_id, doc_id)

    def reusable_vectors(self, owner: str, doc_id: str, texts: Sequence[str]
                         ) -> np.ndarray | None:
        """Vectors of the same document already embedded for this owner (another thread),
        if its chunks have exactly these texts; else None. Never reads another owner's
        chunks."""
        for thread_id in self.registry.threads_with(owner, doc_id):
            stored = self.chroma.vectors(owner, scope_where(owner, thread_id, doc_id))
            if len(stored) == len(texts) and all(
                    stored.get(i, ("", None))[0] == t for i, t in enumerate(texts)):
                return np.vstack([stored[i][1] for i in range(len(texts))])
        return None

    def write_document(self, owner: str, thread_id: str | None, doc_id: str, filename: str,
                       chunks: Sequence[Chunk], embeddings: np.ndarray) -> str:
        """Store all chunks of a document, all or nothing.

        Returns:
            "indexed", or "duplicate" if it was registered meanwhile.

        Raises:
            Whatever the stores raise, after removing this document's chunks.
        """
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        ids = [c.chunk_id for c in chunks]
        with self._write_lock:
            if self.registry.exists(owner, thread_id, doc_id):
                return "duplicate"
            try:
                self.chroma.add(owner, ids, embeddings, [c.text for c in chunks],
                                [c.metadata for c in chunks])
                with self.db.transaction() as conn:
                    self.keyword.add(conn, chunks)
                    self.registry.add(conn, owner, thread_id, doc_id, filename, len(chunks))
            except BaseException:
                self._cleanup(owner, ids)
                raise
        return "indexed"

    def _cleanup(self, owner: str, ids: list[str]) -> None:
        try:
            self.chroma.delete_ids(owner, ids)
        finally:
            with self.db.transaction() as conn:
                self.keyword.delete_ids(conn, ids)

    def delete_document(self, owner: str, thread_id: str | None, doc_id: str) -> int:
        """Remove a document from a scope (thread None: from every thread of the owner).

        Returns:
            The number of chunks removed (0 if it was not there).
        """
        with self._write_lock:
            self.chroma.delete_where(owner, scope_where(owner, thread_id, doc_id))
            with self.db.transaction() as conn:
                removed = self.keyword.delete(conn, owner, thread_id, doc_id)
                self.registry.delete(conn, owner, thread_id, doc_id)
        return len(removed)

    def dense_search(self, embedding: np.ndarray, owner: str, thread_id: str | None,
                     k: int) -> list[DenseHit]:
        """Nearest chunks in the scope, best first."""
        return self.chroma.query(owner, embedding, thread_id, k)

    def keyword_search(self, query: str, owner: str, thread_id: str | None,
                       k: int) -> list[KeywordHit]:
        """BM25 matches in the scope, best first."""
        return self.keyword.search(query, owner, thread_id, k)

    def list_documents(self, owner: str, thread_id: str | None) -> list[DocumentInfo]:
        """Registered documents of the scope."""
        return self.registry.list(owner, thread_id)

    def count_chunks(self, owner: str, thread_id: str | None) -> int:
        """Distinct chunks visible in the scope (a document in two threads counts once
        owner-wide)."""
        if thread_id is not None:
            return self.keyword.count(owner, thread_id)
        rows = self.db.query(
            "SELECT count(*) FROM (SELECT DISTINCT doc_id, chunk_index FROM chunks"
            " WHERE owner = ?)", (owner,))
        return int(rows[0][0])

    def health(self) -> dict[str, Any]:
        """Heartbeat of Chroma and a trivial SQLite query; raises on failure."""
        self.chroma.heartbeat()
        self.db.query("SELECT count(*) FROM documents")
        return {"chroma": "ok", "keyword_index": "ok"}

    def close(self) -> None:
        """Close SQLite and release the Chroma client (reference-counted by Chroma)."""
        try:
            self.chroma.close()
        finally:
            self.db.close()
