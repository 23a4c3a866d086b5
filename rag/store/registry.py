"""Document registry: which document is indexed in which scope (table ``documents``).

A row exists only after every chunk of the document is stored, so the
registry is the source of truth for dedup, listing and counting. Synchronous:
call in a worker thread.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from rag.models import DocumentInfo
from rag.store.sqlite import SqliteDB


class DocumentRegistry:
    """CRUD over ``documents`` (owner, thread_id ('' = none), doc_id)."""

    def __init__(self, db: SqliteDB) -> None:
        self.db = db

    def exists(self, owner: str, thread_id: str | None, doc_id: str) -> bool:
        """True if the document is already indexed in exactly this scope."""
        rows = self.db.query(
            "SELECT 1 FROM documents WHERE owner = ? AND thread_id = ? AND doc_id = ?",
            (owner, thread_id or "", doc_id),
        )
        return bool(rows)

    def threads_with(self, owner: str, doc_id: str) -> list[str | None]:
        """Threads of ``owner`` where ``doc_id`` is indexed (None = no thread)."""
        rows = self.db.query(
            "SELECT thread_id FROM documents WHERE owner = ? AND doc_id = ? ORDER BY indexed_at",
            (owner, doc_id))
        return [r[0] or None for r in rows]

    def add(self, conn: sqlite3.Connection, owner: str, thread_id: str | None, doc_id: str,
            filename: str, chunks: int) -> None:
        """Register a document inside the caller's transaction."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        conn.execute(
            "INSERT INTO documents (owner, thread_id, doc_id, filename, chunks, indexed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (owner, thread_id or "", doc_id, filename, chunks, now),
        )

    def delete(self, conn: sqlite3.Connection, owner: str, thread_id: str | None,
               doc_id: str) -> int:
        """Unregister a document from a scope (thread None: every thread); rows removed."""
        if thread_id is None:
            cur = conn.execute("DELETE FROM documents WHERE owner = ? AND doc_id = ?",
                               (owner, doc_id))
        else:
            cur = conn.execute(
                "DELETE FROM documents WHERE owner = ? AND thread_id = ? AND doc_id = ?",
                (owner, thread_id, doc_id),
            )
        return cur.rowcount

    def list(self, owner: str, thread_id: str | None) -> list[DocumentInfo]:
        """Documents of a scope, oldest first."""
        sql = "SELECT doc_id, filename, chunks, thread_id, indexed_at FROM documents WHERE owner = ?"
        params: tuple = (owner,)
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params += (thread_id,)
        rows = self.db.query(sql + " ORDER BY indexed_at, filename", params)
        return [DocumentInfo(r[0], r[1], int(r[2]), r[3] or None, r[4]) for r in rows]
