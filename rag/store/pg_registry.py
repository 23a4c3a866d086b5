"""The document registry in PostgreSQL (``rag_documents``): the same contract as
``rag.store.registry.DocumentRegistry`` (see that module for the states), shared by every
process pointed at the database. Rows are those of ``db.collection``. Synchronous: call
in a worker thread."""

from __future__ import annotations

import builtins

from datetime import UTC, datetime
from typing import Any

from rag.models import DocumentInfo
from rag.store.postgres import PostgresDB
from rag.store.registry import STATES


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


class PgDocumentRegistry:
    """``rag.store.registry.Registry`` over ``rag_documents`` of one collection."""

    def __init__(self, db: PostgresDB) -> None:
        self.db = db
        self.c = db.collection

    def exists(self, owner: str, thread_id: str | None, doc_id: str) -> bool:
        """True if the document is indexed (state ``indexed``) in exactly this scope."""
        return bool(self.db.query(
            "SELECT 1 FROM rag_documents WHERE collection = %s AND owner = %s"
            " AND thread_id = %s AND doc_id = %s AND state = 'indexed'",
            (self.c, owner, thread_id or "", doc_id)))

    def threads_with(self, owner: str, doc_id: str) -> list[str | None]:
        """Threads of ``owner`` where ``doc_id`` is indexed (None = no thread)."""
        rows = self.db.query(
            "SELECT thread_id FROM rag_documents WHERE collection = %s AND owner = %s"
            " AND doc_id = %s AND state = 'indexed' ORDER BY indexed_at",
            (self.c, owner, doc_id))
        return [r[0] or None for r in rows]

    def indexed_among(self, owner: str, docs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (thread_id ('' = none), doc_id) pairs of ``docs`` that are indexed."""
        if not docs:
            return set()
        rows = self.db.query(
            "SELECT thread_id, doc_id FROM rag_documents WHERE collection = %s"
            " AND owner = %s AND state = 'indexed' AND doc_id = ANY(%s)",
            (self.c, owner, sorted({d for _, d in docs})))
        return {(str(r[0]), str(r[1])) for r in rows} & docs

    def set_state(self, conn: Any, owner: str, thread_id: str | None, doc_id: str,
                  state: str, filename: str = "", chunks: int = 0,
                  error: str | None = None) -> None:
        """Create or move a document's row to ``state`` inside the caller's transaction.

        Raises:
            ValueError: ``state`` is not one of ``STATES``.
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO rag_documents AS d (collection, owner, thread_id, doc_id, filename,"
            " chunks, indexed_at, state, updated_at, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (collection, owner, thread_id, doc_id) DO UPDATE SET"
            " state = excluded.state, updated_at = excluded.updated_at,"
            " error = excluded.error,"
            " filename = CASE WHEN excluded.filename = '' THEN d.filename"
            " ELSE excluded.filename END,"
            " chunks = CASE WHEN excluded.state = 'indexed' THEN excluded.chunks"
            " ELSE d.chunks END,"
            " indexed_at = CASE WHEN excluded.state = 'indexed' THEN excluded.indexed_at"
            " ELSE d.indexed_at END",
            (self.c, owner, thread_id or "", doc_id, filename, chunks, now, state, now, error))

    def add(self, conn: Any, owner: str, thread_id: str | None, doc_id: str,
            filename: str, chunks: int) -> None:
        """Register a document as indexed inside the caller's transaction."""
        self.set_state(conn, owner, thread_id, doc_id, "indexed", filename, chunks)

    def delete(self, conn: Any, owner: str, thread_id: str | None, doc_id: str) -> int:
        """Unregister a document from a scope (thread None: every thread); rows removed."""
        sql = "DELETE FROM rag_documents WHERE collection = %s AND owner = %s AND doc_id = %s"
        params: tuple[Any, ...] = (self.c, owner, doc_id)
        if thread_id is not None:
            sql += " AND thread_id = %s"
            params += (thread_id,)
        return int(conn.execute(sql, params).rowcount)

    def not_indexed(self, older_than: str | None = None) -> list[tuple[str, str, str, str]]:
        """Rows in any state but ``indexed``: (owner, thread_id, doc_id, state).

        Args:
            older_than: ISO 8601 UTC; rows updated at or after it are skipped. None: all.
        """
        sql = ("SELECT owner, thread_id, doc_id, state FROM rag_documents"
               " WHERE collection = %s AND state <> 'indexed'")
        params: tuple[Any, ...] = (self.c,)
        if older_than is not None:
            sql += " AND updated_at < %s::timestamptz"
            params += (older_than,)
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in self.db.query(sql, params)]

    def all_rows(self) -> set[tuple[str, str, str]]:
        """Every registered (owner, thread_id, doc_id), whatever its state."""
        return {(str(r[0]), str(r[1]), str(r[2])) for r in self.db.query(
            "SELECT owner, thread_id, doc_id FROM rag_documents WHERE collection = %s",
            (self.c,))}

    def list(self, owner: str, thread_id: str | None) -> list[DocumentInfo]:
        """Indexed documents of a scope, oldest first."""
        sql = ("SELECT doc_id, filename, chunks, thread_id, indexed_at FROM rag_documents"
               " WHERE collection = %s AND owner = %s AND state = 'indexed'")
        params: tuple[Any, ...] = (self.c, owner)
        if thread_id is not None:
            sql += " AND thread_id = %s"
            params += (thread_id,)
        rows = self.db.query(sql + " ORDER BY indexed_at, filename", params)
        return [DocumentInfo(r[0], r[1], int(r[2]), r[3] or None, _iso(r[4])) for r in rows]

    def state_of(self, owner: str, thread_id: str | None, doc_id: str
                 ) -> tuple[str, str | None] | None:
        """(state, error) of a document's row in exactly this scope; None if absent."""
        rows = self.db.query(
            "SELECT state, error FROM rag_documents WHERE collection = %s AND owner = %s"
            " AND thread_id = %s AND doc_id = %s", (self.c, owner, thread_id or "", doc_id))
        return (str(rows[0][0]), rows[0][1]) if rows else None

    def owners(self) -> set[str]:
        """Every owner with a registry row."""
        return {str(r[0]) for r in self.db.query(
            "SELECT DISTINCT owner FROM rag_documents WHERE collection = %s", (self.c,))}

    def shared_with(self, old: str, new: str) -> builtins.list[tuple[str, str, str]]:
        """(thread_id, doc_id, state of ``new``'s row) of every document both owners have
        in the same thread."""
        return [(str(r[0]), str(r[1]), str(r[2])) for r in self.db.query(
            "SELECT o.thread_id, o.doc_id, n.state FROM rag_documents o JOIN rag_documents n"
            " ON n.collection = o.collection AND n.owner = %s AND n.thread_id = o.thread_id"
            " AND n.doc_id = o.doc_id WHERE o.collection = %s AND o.owner = %s",
            (new, self.c, old))]

    def delete_owner(self, conn: Any, owner: str) -> int:
        """Delete every registry row of an owner; rows removed."""
        return int(conn.execute("DELETE FROM rag_documents WHERE collection = %s"
                                " AND owner = %s", (self.c, owner)).rowcount)

    def rename_owner(self, conn: Any, old: str, new: str) -> int:
        """Move every registry row of ``old`` to ``new``; rows moved."""
        return int(conn.execute("UPDATE rag_documents SET owner = %s WHERE collection = %s"
                                " AND owner = %s", (new, self.c, old)).rowcount)

    def ping(self) -> None:
        """A trivial query; raises when the database cannot answer."""
        self.db.query("SELECT 1 FROM rag_documents LIMIT 1")
