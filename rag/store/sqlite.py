"""One SQLite database (data_dir/rag.db) for the keyword index and the document registry.

A single connection guarded by a lock; every call is synchronous and must run
in a worker thread (``asyncio.to_thread``). WAL mode, so readers in other
processes are not blocked.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    owner TEXT NOT NULL,
    thread_id TEXT NOT NULL,          -- '' = no thread
    doc_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    indexed_at TEXT NOT NULL,
    PRIMARY KEY (owner, thread_id, doc_id)
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,           -- JSON
    context TEXT NOT NULL DEFAULT ''  -- title > heading path, keyword-indexed with text
);
CREATE INDEX IF NOT EXISTS chunks_scope ON chunks (owner, thread_id, doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    context, text, content='chunks', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, context, text) VALUES (new.rowid, new.context, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, context, text)
        VALUES ('delete', old.rowid, old.context, old.text);
END;
"""

#: A database from before context-carrying chunks: add the column, rebuild the FTS
#: table with its two columns (old chunks get an empty context until re-indexed).
MIGRATE_CONTEXT = """
BEGIN IMMEDIATE;
ALTER TABLE chunks ADD COLUMN context TEXT NOT NULL DEFAULT '';
DROP TRIGGER IF EXISTS chunks_ai;
DROP TRIGGER IF EXISTS chunks_ad;
DROP TABLE IF EXISTS chunks_fts;
COMMIT;
"""


class SqliteDB:
    """The shared connection. ``path`` ":memory:" is accepted for tests."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(chunks)")}
        if "context" not in columns:
            self.conn.executescript(MIGRATE_CONTEXT)
            self.conn.executescript(SCHEMA)
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; ROLLBACK on any error."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query under the lock and fetch all rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()
