"""Storage: Chroma vectors + keyword index + document registry, kept consistent.

The keyword index and the registry live in one database, SQLite (embedded default) or
PostgreSQL (``DATABASE_URL``): ``rag.store.backend.open_index`` builds the pair.

``DocumentStore`` is the one place that writes. A document's registry row moves to
``indexing`` before its first vector is written and to ``indexed`` only with its
keyword rows; on a failure its chunks are removed and the row says ``failed``. Search
returns only chunks of ``indexed`` documents, so a process killed mid-write never
shows half a document, and :meth:`DocumentStore.reconcile` (run at start-up and by
``python -m rag reconcile``) removes what such a kill left. Synchronous: call every
method in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from rag.chunking import Chunk
from rag.models import DocumentInfo
from rag.store.chroma import ChromaStore, DenseHit, scope_where
from rag.store.keyword import Fts5KeywordIndex, KeywordHit, KeywordIndex
from rag.store.registry import DocumentRegistry, Registry
from rag.store.sqlite import SqliteDB

Hit = TypeVar("Hit", DenseHit, KeywordHit)

__all__ = ["DenseHit", "DocumentStore", "KeywordHit", "ReconcileReport"]


@dataclass
class ReconcileReport:
    """What :meth:`DocumentStore.reconcile` removed.

    documents: (owner, thread_id, doc_id, state before) of rows not indexed, swept.
    vectors: Chroma chunks removed. document_vectors: whole-document vectors removed.
    keyword_rows: keyword-index rows removed.
    """

    documents: list[tuple[str, str, str, str]] = field(default_factory=list)
    vectors: int = 0
    keyword_rows: int = 0
    document_vectors: int = 0

    @property
    def empty(self) -> bool:
        return not (self.documents or self.vectors or self.keyword_rows
                    or self.document_vectors)


class DocumentStore:
    """Writes and reads documents across the vector store and the keyword index."""

    def __init__(self, chroma: ChromaStore, db: Any, keyword: KeywordIndex | None = None,
                 registry: Registry | None = None,
                 doc_vectors: ChromaStore | None = None) -> None:
        """Args:
            chroma: the vector store of chunks.
            db: the database of the keyword index and registry: a ``SqliteDB`` or a
                ``rag.store.postgres.PostgresDB`` (``transaction()``, ``close()``).
            keyword, registry: their implementations over ``db``; None builds the
                SQLite ones (``db`` must then be a ``SqliteDB``).
            doc_vectors: the vector store of whole-document vectors (one per document
                and thread, a sibling collection per owner, so chunk search never
                returns them); None keeps none (no document-vector ranking).
        """
        self.chroma = chroma
        self.doc_vectors = doc_vectors
        self.db = db
        if keyword is None or registry is None:
            assert isinstance(db, SqliteDB), "pass keyword and registry for this database"
        self.keyword: KeywordIndex = keyword or Fts5KeywordIndex(db)
        self.registry: Registry = registry or DocumentRegistry(db)
        self._write_lock = threading.Lock()

    def is_indexed(self, owner: str, thread_id: str | None, doc_id: str) -> bool:
        """True if the document is already in exactly this scope."""
        return self.registry.exists(owner, thread_id, doc_id)

    def reusable_vectors(self, owner: str, doc_id: str, texts: Sequence[str]
                         ) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Vectors of the same document already embedded for this owner (another thread),
        if its chunks have exactly these texts; else None. Never reads another owner's
        chunks.

        Returns:
            (chunk vectors (len(texts), d), its document vector (d,) or None when that
            thread has none, e.g. indexed before document vectors), or None.
        """
        for thread_id in self.registry.threads_with(owner, doc_id):
            where = scope_where(owner, thread_id, doc_id)
            stored = self.chroma.vectors(owner, where)
            if len(stored) == len(texts) and all(
                    stored.get(i, ("", None))[0] == t for i, t in enumerate(texts)):
                doc_vector = None
                if self.doc_vectors is not None:
                    found = self.doc_vectors.vectors(owner, where)
                    doc_vector = found[0][1] if found else None
                return np.vstack([stored[i][1] for i in range(len(texts))]), doc_vector
        return None

    def write_document(self, owner: str, thread_id: str | None, doc_id: str, filename: str,
                       chunks: Sequence[Chunk], embeddings: np.ndarray,
                       doc_vector: np.ndarray | None = None) -> str:
        """Store all chunks of a document, all or nothing, and its document vector
        (``doc_vector``, (d,), if given and the store keeps them; see
        :func:`document_entry`).

        Returns:
            "indexed", or "duplicate" if it was registered meanwhile.

        Raises:
            Whatever the stores raise, after removing this document's chunks.
        """
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        ids = [c.chunk_id for c in chunks]
        entry = document_entry(chunks) if chunks else None
        with self._write_lock:
            if self.registry.exists(owner, thread_id, doc_id):
                return "duplicate"
            with self.db.transaction() as conn:  # committed before the first vector
                self.registry.set_state(conn, owner, thread_id, doc_id, "indexing", filename)
            try:
                self.chroma.add(owner, ids, embeddings, [c.text for c in chunks],
                                [c.metadata for c in chunks])
                if doc_vector is not None and self.doc_vectors is not None and entry:
                    self.doc_vectors.add(owner, [entry[0]],
                                         np.asarray(doc_vector, np.float32).reshape(1, -1),
                                         [filename], [entry[1]])
                with self.db.transaction() as conn:
                    self.keyword.add(conn, chunks)
                    self.registry.add(conn, owner, thread_id, doc_id, filename, len(chunks))
            except BaseException as exc:
                self._cleanup(owner, ids, entry[0] if entry else None)
                with self.db.transaction() as conn:
                    self.registry.set_state(conn, owner, thread_id, doc_id, "failed",
                                            error=f"{type(exc).__name__}: {exc}"[:500])
                raise
        return "indexed"

    def _cleanup(self, owner: str, ids: list[str], doc_entry: str | None = None) -> None:
        try:
            self.chroma.delete_ids(owner, ids)
            if doc_entry is not None and self.doc_vectors is not None:
                self.doc_vectors.delete_ids(owner, [doc_entry])
        finally:
            with self.db.transaction() as conn:
                self.keyword.delete_ids(conn, ids)

    def delete_document(self, owner: str, thread_id: str | None, doc_id: str) -> int:
        """Remove a document from a scope (thread None: from every thread of the owner).

        Returns:
            The number of chunks removed (0 if it was not there).
        """
        with self._write_lock:
            threads = ([thread_id] if thread_id is not None
                       else self.registry.threads_with(owner, doc_id))
            with self.db.transaction() as conn:  # search stops seeing it at once
                for thread in threads:
                    self.registry.set_state(conn, owner, thread, doc_id, "deleting")
            self.chroma.delete_where(owner, scope_where(owner, thread_id, doc_id))
            if self.doc_vectors is not None:
                self.doc_vectors.delete_where(owner, scope_where(owner, thread_id, doc_id))
            with self.db.transaction() as conn:
                removed = self.keyword.delete(conn, owner, thread_id, doc_id)
                self.registry.delete(conn, owner, thread_id, doc_id)
        return len(removed)

    def delete_owner(self, owner: str) -> int:
        """Remove everything an owner indexed: every document of every thread (registry,
        keyword rows) and the owner's Chroma collection. Returns the documents removed."""
        documents = self.registry.list(owner, None)
        for doc in documents:
            self.delete_document(owner, doc.thread_id, doc.doc_id)
        with self._write_lock:
            self.chroma.drop(owner)
            if self.doc_vectors is not None:
                self.doc_vectors.drop(owner)
            with self.db.transaction() as conn:  # rows of documents never registered
                self.keyword.delete_owner(conn, owner)
                self.registry.delete_owner(conn, owner)
        return len(documents)

    def owners_with_data(self, owners: Iterable[str]) -> set[str]:
        """Those of ``owners`` that have registry rows, keyword rows or a collection."""
        wanted = set(owners)
        rows = self.registry.owners() | self.keyword.owners()
        found = (rows & wanted) | self.chroma.existing(wanted)
        if self.doc_vectors is not None:
            found |= self.doc_vectors.existing(wanted)
        return found

    def rename_owner(self, old: str, new: str, page: int = 500) -> int:
        """Move everything ``old`` owns to ``new`` (a login name to a stable id, or a
        removed user's documents to another user). Crash-safe and idempotent.

        Order: a (thread, document) both owners have keeps ``new``'s indexed copy (else
        ``old``'s); ``old``'s vectors are copied into ``new``'s collection ``page`` at a
        time with ``owner`` rewritten (upserts: a re-run rewrites the same ids); then
        registry and keyword rows are renamed in one transaction (search sees
        the documents move at once: until then ``new``'s copies are unregistered and
        filtered out); then ``old``'s collection is dropped. A run stopped anywhere is
        finished by running it again. Chunk ids keep their value (they stay unique, and
        citations stored in threads keep naming them).

        Returns:
            The registry rows moved. Raises ValueError when ``old == new``.
        """
        if old == new or not old or not new:
            raise ValueError(f"cannot move documents from {old!r} to {new!r}")
        for thread, doc_id, state in self.registry.shared_with(old, new):
            self.delete_document(old if state == "indexed" else new, str(thread), str(doc_id))
        with self._write_lock:
            for vectors in self._vector_stores():
                _copy_owner(vectors, old, new, page)
            with self.db.transaction() as conn:
                moved = self.registry.rename_owner(conn, old, new)
                self.keyword.rename_owner(conn, old, new)
            for vectors in self._vector_stores():
                vectors.drop(old)
        return moved

    def _vector_stores(self) -> list[ChromaStore]:
        """The chunk vector store, then the document-vector store if kept."""
        return [self.chroma] + ([self.doc_vectors] if self.doc_vectors is not None else [])

    def rename_owners(self, mapping: dict[str, str]) -> dict[str, int]:
        """:meth:`rename_owner` for each old -> new pair whose old owner has data.

        Returns:
            {old: registry rows moved} of the owners that had anything to move.
        """
        return {old: self.rename_owner(old, mapping[old])
                for old in sorted(self.owners_with_data(mapping))}

    def reconcile(self, stale_after_s: float = 0.0) -> ReconcileReport:
        """Remove vectors and keyword rows of every document that is not ``indexed``,
        and the rows of documents left ``pending``/``indexing``/``deleting`` by a process
        that stopped (they become ``failed``, with ``error`` saying so, or vanish when
        they were being deleted).

        Args:
            stale_after_s: only sweep rows not updated for this many seconds (0 at
                start-up, when no indexing can be running; the CLI uses more, so that a
                running app's indexing is left alone).
        Returns:
            What was removed.
        """
        cutoff = None
        if stale_after_s > 0:
            cutoff = (datetime.now(UTC) - timedelta(seconds=stale_after_s)).isoformat(
                timespec="seconds")
        report = ReconcileReport()
        with self._write_lock:
            # Chroma first, the registry after: a document whose chunks are seen has its
            # row committed already (the row is written before its first vector).
            scans = [(vectors, vectors.scan()) for vectors in self._vector_stores()]
            stale = self.registry.not_indexed(cutoff)
            keep = self.registry.all_rows() - {(o, t, d) for o, t, d, _ in stale}
            for vectors, in_chroma in scans:  # chunks, then document vectors
                for (owner, thread, doc_id), ids in in_chroma.items():
                    if (owner, thread, doc_id) not in keep and owner:
                        vectors.delete_ids(owner, ids)
                        if vectors is self.chroma:
                            report.vectors += len(ids)
                        else:
                            report.document_vectors += len(ids)
            with self.db.transaction() as conn:
                report.keyword_rows = self.keyword.delete_unindexed(conn, cutoff)
                for owner, thread, doc_id, state in stale:
                    if state == "failed":
                        continue
                    report.documents.append((owner, thread, doc_id, state))
                    if state == "deleting":
                        self.registry.delete(conn, owner, thread or "", doc_id)
                    elif state != "failed":
                        self.registry.set_state(
                            conn, owner, thread, doc_id, "failed",
                            error="interrupted: the process stopped while indexing it")
        return report

    def dense_search(self, embedding: np.ndarray, owner: str, thread_id: str | None,
                     k: int) -> list[DenseHit]:
        """Nearest chunks of indexed documents in the scope, best first."""
        return self._only_indexed(owner, self.chroma.query(owner, embedding, thread_id, k))

    def doc_search(self, embedding: np.ndarray, owner: str, thread_id: str | None,
                   k: int) -> list[DenseHit]:
        """Nearest whole-document vectors of indexed documents in the scope, best first
        (metadata: doc_id, owner, thread_id, source); [] when the store keeps none."""
        if self.doc_vectors is None:
            return []
        return self._only_indexed(owner, self.doc_vectors.query(owner, embedding,
                                                                thread_id, k,
                                                                with_text=False))

    def best_chunks(self, embedding: np.ndarray, owner: str,
                    doc_hits: Sequence[DenseHit]) -> dict[str, DenseHit]:
        """Each document's chunk nearest to ``embedding`` (cosine), for document-vector
        hits of ``owner`` (from :meth:`doc_search`): what a document that entered a
        ranking by its document vector cites. The chunks are read by id (the entry's id
        prefix and its "chunks" count, see :func:`document_entry`), not by a metadata
        filter, which costs tens of ms over 10,000 chunks. Documents without a visible
        chunk are absent."""
        ids = []
        for hit in doc_hits:
            if hit.metadata.get("owner") != owner or not hit.chunk_id.endswith(":doc"):
                continue
            prefix = hit.chunk_id[:-len(":doc")]
            ids += [f"{prefix}:{i}" for i in range(int(hit.metadata.get("chunks", 0)))]
        if not ids:
            return {}
        hits = self._only_indexed(owner, self.chroma.nearest_ids(owner, embedding, ids))
        best: dict[str, DenseHit] = {}
        for hit in hits:  # best first
            best.setdefault(str(hit.metadata.get("doc_id", "")), hit)
        return best

    def keyword_search(self, query: str, owner: str, thread_id: str | None,
                       k: int) -> list[KeywordHit]:
        """BM25 matches of indexed documents in the scope, best first."""
        return self._only_indexed(owner, self.keyword.search(query, owner, thread_id, k))

    def _only_indexed(self, owner: str, hits: list[Hit]) -> list[Hit]:
        """Drop hits whose document is not ``indexed`` in their thread (a write or a
        delete in progress, or what a killed process left before the sweep)."""
        keys = {(str(h.metadata.get("thread_id") or ""), str(h.metadata.get("doc_id", "")))
                for h in hits}
        indexed = self.registry.indexed_among(owner, keys)
        return [h for h in hits if (str(h.metadata.get("thread_id") or ""),
                                    str(h.metadata.get("doc_id", ""))) in indexed]

    def list_documents(self, owner: str, thread_id: str | None) -> list[DocumentInfo]:
        """Registered documents of the scope."""
        return self.registry.list(owner, thread_id)

    def count_chunks(self, owner: str, thread_id: str | None) -> int:
        """Distinct chunks visible in the scope (a document in two threads counts once
        owner-wide)."""
        if thread_id is not None:
            return self.keyword.count(owner, thread_id)
        return self.keyword.count_distinct(owner)

    def health(self) -> dict[str, Any]:
        """Heartbeat of Chroma and a trivial registry query; raises on failure."""
        self.chroma.heartbeat()
        self.registry.ping()
        return {"chroma": "ok", "keyword_index": "ok"}

    def close(self) -> None:
        """Close the index database and release the Chroma client (reference-counted by Chroma)."""
        try:
            self.chroma.close()
        finally:
            self.db.close()


def document_pages(store: DocumentStore, owner: str) -> dict[str, int]:
    """Distinct PDF pages with chunks, per document of ``owner`` (documents without page
    numbers are absent)."""
    return store.keyword.pages(owner)


def document_entry(chunks: Sequence[Chunk]) -> tuple[str, dict[str, Any]]:
    """(id, metadata) of a document's whole-document vector: the id is its chunks' id
    prefix (``<scope key>:<doc_id[:32]>``) + ``:doc``, unique per (owner, thread, doc);
    the metadata the scope and citation keys of its first chunk (doc_id, source, owner,
    thread_id), so the same filters select it, and "chunks", its number of chunks (their
    ids are the prefix + ``:0`` .. ``:chunks-1``)."""
    first = chunks[0]
    meta: dict[str, Any] = {k: first.metadata[k]
                            for k in ("doc_id", "source", "owner", "thread_id")
                            if k in first.metadata}
    meta["chunks"] = len(chunks)
    return first.chunk_id.rsplit(":", 1)[0] + ":doc", meta


def _copy_owner(vectors: ChromaStore, old: str, new: str, page: int) -> None:
    """Copy ``old``'s entries of one vector store into ``new``'s collection, ``page`` at a
    time, with ``owner`` rewritten (upserts: a re-run rewrites the same ids)."""
    source = vectors.collection_for(old)
    offset = 0
    while source is not None:
        got = source.get(include=["embeddings", "documents", "metadatas"],
                         limit=page, offset=offset)
        keep = [i for i, m in enumerate(got["metadatas"]) if (m or {}).get("owner") == old]
        if keep:
            vectors.add(new, [got["ids"][i] for i in keep],
                        np.asarray([got["embeddings"][i] for i in keep], np.float32),
                        [got["documents"][i] or "" for i in keep],
                        [{**got["metadatas"][i], "owner": new} for i in keep])
        if len(got["ids"]) < page:
            break
        offset += page
