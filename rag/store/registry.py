"""Document registry: which document is in which scope, and in what state (``documents``).

Every document of a scope has one row whose ``state`` is one of :data:`STATES`:

- ``pending``: accepted, not yet being written (kept for a job queue);
- ``indexing``: its chunks are being written to Chroma and the keyword index;
- ``indexed``: every chunk is stored: the only state search, listing and dedup see;
- ``failed``: writing failed or was interrupted (``error`` says why); holds no chunks
  once swept;
- ``deleting``: its chunks are being removed.

The row moves to ``indexing`` (committed) *before* the first vector is written and to
``indexed`` in the same transaction as the keyword rows, so a process killed in between
leaves a row that says which chunks are orphans; :meth:`DocumentStore.reconcile` removes
them. Synchronous: call in a worker thread.

:class:`Registry` is the protocol; :class:`DocumentRegistry` the embedded SQLite
implementation and ``rag.store.pg_registry.PgDocumentRegistry`` the PostgreSQL one
(``rag.store.backend.open_index`` picks one from the settings).
"""

from __future__ import annotations

import builtins

import sqlite3
from datetime import UTC, datetime
from typing import Any, Protocol

from rag.models import DocumentInfo
from rag.store.sqlite import SqliteDB

STATES = ("pending", "indexing", "indexed", "failed", "deleting")
#: Columns added after the first release (SQLite ALTER TABLE on open).
_ADDED_COLUMNS = {
    "state": "TEXT NOT NULL DEFAULT 'indexed'",
    "updated_at": "TEXT NOT NULL DEFAULT ''",
    "error": "TEXT",
}


class Registry(Protocol):
    """What ``DocumentStore`` needs from a document registry. ``conn``: a connection of
    the backend's database inside its ``transaction()``; thread_id '' or None = no
    thread; times are ISO 8601 UTC strings."""

    def exists(self, owner: str, thread_id: str | None, doc_id: str) -> bool: ...
    def threads_with(self, owner: str, doc_id: str) -> list[str | None]: ...
    def indexed_among(self, owner: str, docs: set[tuple[str, str]]
                      ) -> set[tuple[str, str]]: ...
    def set_state(self, conn: Any, owner: str, thread_id: str | None, doc_id: str,
                  state: str, filename: str = "", chunks: int = 0,
                  error: str | None = None) -> None: ...
    def add(self, conn: Any, owner: str, thread_id: str | None, doc_id: str,
            filename: str, chunks: int) -> None: ...
    def delete(self, conn: Any, owner: str, thread_id: str | None, doc_id: str) -> int: ...
    def not_indexed(self, older_than: str | None = None
                    ) -> list[tuple[str, str, str, str]]: ...
    def all_rows(self) -> set[tuple[str, str, str]]: ...
    def list(self, owner: str, thread_id: str | None) -> list[DocumentInfo]: ...
    def state_of(self, owner: str, thread_id: str | None, doc_id: str
                 ) -> tuple[str, str | None] | None: ...
    def owners(self) -> set[str]: ...
    def shared_with(self, old: str, new: str) -> builtins.list[tuple[str, str, str]]: ...
    def delete_owner(self, conn: Any, owner: str) -> int: ...
    def rename_owner(self, conn: Any, old: str, new: str) -> int: ...
    def ping(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DocumentRegistry:
    """CRUD over ``documents`` (owner, thread_id ('' = none), doc_id) and its states."""

    def __init__(self, db: SqliteDB) -> None:
        self.db = db
        self._migrate()

    def _migrate(self) -> None:
        with self.db.transaction() as conn:
            have = {r[1] for r in conn.execute("PRAGMA table_info(documents)").fetchall()}
            for name, ddl in _ADDED_COLUMNS.items():
                if name not in have:
                    conn.execute(f"ALTER TABLE documents ADD COLUMN {name} {ddl}")
            conn.execute("CREATE INDEX IF NOT EXISTS documents_state ON documents (state)")

    def exists(self, owner: str, thread_id: str | None, doc_id: str) -> bool:
        """True if the document is indexed (state ``indexed``) in exactly this scope."""
        rows = self.db.query(
            "SELECT 1 FROM documents WHERE owner = ? AND thread_id = ? AND doc_id = ?"
            " AND state = 'indexed'",
            (owner, thread_id or "", doc_id),
        )
        return bool(rows)

    def threads_with(self, owner: str, doc_id: str) -> list[str | None]:
        """Threads of ``owner`` where ``doc_id`` is indexed (None = no thread)."""
        rows = self.db.query(
            "SELECT thread_id FROM documents WHERE owner = ? AND doc_id = ?"
            " AND state = 'indexed' ORDER BY indexed_at", (owner, doc_id))
        return [r[0] or None for r in rows]

    def indexed_among(self, owner: str, docs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (thread_id ('' = none), doc_id) pairs of ``docs`` that are indexed."""
        if not docs:
            return set()
        doc_ids = sorted({d for _, d in docs})
        marks = ",".join("?" * len(doc_ids))
        rows = self.db.query(
            f"SELECT thread_id, doc_id FROM documents WHERE owner = ? AND state = 'indexed'"
            f" AND doc_id IN ({marks})", (owner, *doc_ids))
        return {(r[0], r[1]) for r in rows} & docs

    def set_state(self, conn: sqlite3.Connection, owner: str, thread_id: str | None,
                  doc_id: str, state: str, filename: str = "", chunks: int = 0,
                  error: str | None = None) -> None:
        """Create or move a document's row to ``state`` inside the caller's transaction.

        Raises:
            ValueError: ``state`` is not one of :data:`STATES`.
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        now = _now()
        conn.execute(
            "INSERT INTO documents (owner, thread_id, doc_id, filename, chunks, indexed_at,"
            " state, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (owner, thread_id, doc_id) DO UPDATE SET state = excluded.state,"
            " updated_at = excluded.updated_at, error = excluded.error,"
            " filename = CASE WHEN excluded.filename = '' THEN documents.filename"
            " ELSE excluded.filename END,"
            " chunks = CASE WHEN excluded.state = 'indexed' THEN excluded.chunks"
            " ELSE documents.chunks END,"
            " indexed_at = CASE WHEN excluded.state = 'indexed' THEN excluded.indexed_at"
            " ELSE documents.indexed_at END",
            (owner, thread_id or "", doc_id, filename, chunks, now, state, now, error),
        )

    def add(self, conn: sqlite3.Connection, owner: str, thread_id: str | None, doc_id: str,
            filename: str, chunks: int) -> None:
        """Register a document as indexed inside the caller's transaction."""
        self.set_state(conn, owner, thread_id, doc_id, "indexed", filename, chunks)

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

    def not_indexed(self, older_than: str | None = None) -> list[tuple[str, str, str, str]]:
        """Rows in any state but ``indexed``: (owner, thread_id, doc_id, state).

        Args:
            older_than: ISO 8601 UTC; rows updated at or after it are skipped (a live
                indexing run elsewhere). None: every such row.
        """
        sql = "SELECT owner, thread_id, doc_id, state FROM documents WHERE state != 'indexed'"
        params: tuple[str, ...] = ()
        if older_than is not None:
            sql += " AND updated_at < ?"
            params = (older_than,)
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in self.db.query(sql, params)]

    def all_rows(self) -> set[tuple[str, str, str]]:
        """Every registered (owner, thread_id, doc_id), whatever its state."""
        return {(str(r[0]), str(r[1]), str(r[2])) for r in self.db.query(
            "SELECT owner, thread_id, doc_id FROM documents")}

    def list(self, owner: str, thread_id: str | None) -> list[DocumentInfo]:
        """Indexed documents of a scope, oldest first."""
        sql = ("SELECT doc_id, filename, chunks, thread_id, indexed_at FROM documents"
               " WHERE owner = ? AND state = 'indexed'")
        params: tuple[Any, ...] = (owner,)
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params += (thread_id,)
        rows = self.db.query(sql + " ORDER BY indexed_at, filename", params)
        return [DocumentInfo(r[0], r[1], int(r[2]), r[3] or None, r[4]) for r in rows]

    def state_of(self, owner: str, thread_id: str | None, doc_id: str
                 ) -> tuple[str, str | None] | None:
        """(state, error) of a document's row in exactly this scope; None if absent."""
        rows = self.db.query(
            "SELECT state, error FROM documents WHERE owner = ? AND thread_id = ?"
            " AND doc_id = ?", (owner, thread_id or "", doc_id))
        return (str(rows[0][0]), rows[0][1]) if rows else None

    def owners(self) -> set[str]:
        """Every owner with a registry row."""
        return {str(r[0]) for r in self.db.query("SELECT DISTINCT owner FROM documents")}

    def shared_with(self, old: str, new: str) -> builtins.list[tuple[str, str, str]]:
        """(thread_id, doc_id, state of ``new``'s row) of every document both owners have
        in the same thread."""
        return [(str(r[0]), str(r[1]), str(r[2])) for r in self.db.query(
            "SELECT o.thread_id, o.doc_id, n.state FROM documents o JOIN documents n ON"
            " n.owner = ? AND n.thread_id = o.thread_id AND n.doc_id = o.doc_id"
            " WHERE o.owner = ?", (new, old))]

    def delete_owner(self, conn: sqlite3.Connection, owner: str) -> int:
        """Delete every registry row of an owner; rows removed."""
        return int(conn.execute("DELETE FROM documents WHERE owner = ?", (owner,)).rowcount)

    def rename_owner(self, conn: sqlite3.Connection, old: str, new: str) -> int:
        """Move every registry row of ``old`` to ``new``; rows moved."""
        return int(conn.execute("UPDATE documents SET owner = ? WHERE owner = ?",
                                (new, old)).rowcount)

    def ping(self) -> None:
        """A trivial query; raises when the database cannot answer."""
        self.db.query("SELECT count(*) FROM documents")
