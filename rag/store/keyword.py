"""Keyword (BM25) index: the :class:`KeywordIndex` protocol and its embedded
implementation, SQLite FTS5 with the porter/unicode61 tokenizer (the PostgreSQL one is
``rag.store.pg_keyword``; ``rag.store.backend.open_index`` picks one from the settings).

Incremental (insert/delete per document) and filtered by owner/thread in SQL,
which a static in-memory BM25 index cannot do cheaply. Scores are SQLite's
``bm25()`` (lower is better); results are reported as ``-bm25()`` so that a
higher score is better everywhere in the package. All methods are
synchronous: call them in a worker thread.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rag.chunking import Chunk
from rag.store.sqlite import SqliteDB

_WORD = re.compile(r"\w+", re.UNICODE)
#: Dropped from queries (unless nothing else is left): they match most chunks, add
#: little to BM25 (low IDF) and made queries at 10,000 chunks ~2x slower (measured).
STOPWORDS = frozenset([
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could",
    "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "should", "so", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to",
    "too", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with",
    "would", "you", "your"
])


@dataclass
class KeywordHit:
    """One keyword match: score = -bm25() (higher is better)."""

    chunk_id: str
    score: float
    text: str
    metadata: dict[str, Any]


class KeywordIndex(Protocol):
    """What hybrid search and ``DocumentStore`` need from a keyword index.

    ``conn`` is a connection of the backend's database inside a transaction opened by
    its ``transaction()`` (``SqliteDB`` or ``rag.store.postgres.PostgresDB``), so keyword
    rows and registry rows commit together. Scores: higher is better.
    """

    def add(self, conn: Any, chunks: Sequence[Chunk]) -> None: ...
    def delete(self, conn: Any, owner: str, thread_id: str | None,
               doc_id: str) -> list[str]: ...
    def delete_ids(self, conn: Any, chunk_ids: Sequence[str]) -> None: ...
    def search(self, query: str, owner: str, thread_id: str | None, k: int
               ) -> list[KeywordHit]: ...
    def count(self, owner: str, thread_id: str | None) -> int: ...
    def count_distinct(self, owner: str) -> int: ...
    def owners(self) -> set[str]: ...
    def pages(self, owner: str) -> dict[str, int]: ...
    def delete_owner(self, conn: Any, owner: str) -> int: ...
    def rename_owner(self, conn: Any, old: str, new: str) -> int: ...
    def delete_unindexed(self, conn: Any, older_than: str | None) -> int: ...


def fts_query(text: str) -> str | None:
    """A safe FTS5 MATCH expression: every word quoted, OR-ed (BM25 ranks them).

    Operators, column filters and quotes in user input lose their meaning;
    stopwords are dropped unless the query has nothing else. Returns None when
    the text has no word characters.
    """
    words = _WORD.findall(text.lower())
    if not words:
        return None
    words = [w for w in words if w not in STOPWORDS] or words
    unique = list(dict.fromkeys(words))[:64]
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)


class Fts5KeywordIndex:
    """KeywordIndex over the ``chunks``/``chunks_fts`` tables of ``SqliteDB``."""

    def __init__(self, db: SqliteDB) -> None:
        self.db = db

    def add(self, conn: sqlite3.Connection, chunks: Sequence[Chunk]) -> None:
        """Insert chunks inside the caller's transaction; the FTS index gets each chunk's
        context (title > heading path) and text as two columns, BM25 over both."""
        conn.executemany(
            "INSERT INTO chunks (chunk_id, owner, thread_id, doc_id, chunk_index, text, metadata,"
            " context) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.chunk_id, c.metadata["owner"], c.metadata["thread_id"], c.metadata["doc_id"],
                 c.metadata["chunk_index"], c.text, json.dumps(c.metadata), c.context)
                for c in chunks
            ],
        )

    def delete(self, conn: sqlite3.Connection, owner: str, thread_id: str | None,
               doc_id: str) -> list[str]:
        """Delete a document's chunks in a scope (thread None: every thread); return their ids."""
        where, params = _scope_sql(owner, thread_id)
        rows = conn.execute(
            f"SELECT chunk_id FROM chunks WHERE {where} AND doc_id = ?", (*params, doc_id)
        ).fetchall()
        conn.execute(f"DELETE FROM chunks WHERE {where} AND doc_id = ?", (*params, doc_id))
        return [r[0] for r in rows]

    def delete_ids(self, conn: sqlite3.Connection, chunk_ids: Sequence[str]) -> None:
        """Delete chunks by id (cleanup after a failed store)."""
        conn.executemany("DELETE FROM chunks WHERE chunk_id = ?", [(i,) for i in chunk_ids])

    def search(self, query: str, owner: str, thread_id: str | None, k: int
               ) -> list[KeywordHit]:
        """Top-k chunks of the scope by BM25, best first."""
        match = fts_query(query)
        if match is None or k <= 0:
            return []
        where, params = _scope_sql(owner, thread_id, prefix="c.")
        rows = self.db.query(
            "SELECT c.chunk_id, bm25(chunks_fts) AS s, c.text, c.metadata"
            " FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid"
            f" WHERE chunks_fts MATCH ? AND {where} ORDER BY s LIMIT ?",
            (match, *params, k),
        )
        return [KeywordHit(r[0], -float(r[1]), r[2], json.loads(r[3])) for r in rows]

    def count(self, owner: str, thread_id: str | None) -> int:
        """Chunks in a scope."""
        where, params = _scope_sql(owner, thread_id)
        return int(self.db.query(f"SELECT count(*) FROM chunks WHERE {where}", params)[0][0])

    def count_distinct(self, owner: str) -> int:
        """Distinct (doc_id, chunk_index) of an owner: a document in two threads once."""
        return int(self.db.query(
            "SELECT count(*) FROM (SELECT DISTINCT doc_id, chunk_index FROM chunks"
            " WHERE owner = ?)", (owner,))[0][0])

    def owners(self) -> set[str]:
        """Every owner with keyword rows."""
        return {str(r[0]) for r in self.db.query("SELECT DISTINCT owner FROM chunks")}

    def pages(self, owner: str) -> dict[str, int]:
        """Distinct PDF pages with chunks, per document of ``owner`` (documents without
        page numbers are absent)."""
        rows = self.db.query(
            "SELECT doc_id, count(DISTINCT json_extract(metadata, '$.page')) FROM chunks"
            " WHERE owner = ? AND json_extract(metadata, '$.page') IS NOT NULL"
            " GROUP BY doc_id", (owner,))
        return {str(doc_id): int(n) for doc_id, n in rows}

    def delete_owner(self, conn: sqlite3.Connection, owner: str) -> int:
        """Delete every keyword row of an owner; rows removed."""
        return int(conn.execute("DELETE FROM chunks WHERE owner = ?", (owner,)).rowcount)

    def rename_owner(self, conn: sqlite3.Connection, old: str, new: str) -> int:
        """Move an owner's keyword rows (and their metadata's owner) to ``new``."""
        return int(conn.execute(
            "UPDATE chunks SET owner = ?, metadata = json_set(metadata, '$.owner', ?)"
            " WHERE owner = ?", (new, new, old)).rowcount)

    def delete_unindexed(self, conn: sqlite3.Connection, older_than: str | None) -> int:
        """Delete keyword rows whose document is not ``indexed`` in their scope, leaving
        those whose registry row was updated at or after ``older_than`` (ISO 8601 UTC;
        None: no such exception). Returns the rows removed."""
        sql = ("DELETE FROM chunks WHERE NOT EXISTS (SELECT 1 FROM documents d"
               " WHERE d.owner = chunks.owner AND d.thread_id = chunks.thread_id"
               " AND d.doc_id = chunks.doc_id AND d.state = 'indexed')")
        if older_than is None:
            return int(conn.execute(sql).rowcount)
        sql += (" AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.owner = chunks.owner"
                " AND d.thread_id = chunks.thread_id AND d.doc_id = chunks.doc_id"
                " AND d.updated_at >= ?)")
        return int(conn.execute(sql, (older_than,)).rowcount)


def _scope_sql(owner: str, thread_id: str | None, prefix: str = "") -> tuple[str, tuple[Any, ...]]:
    if thread_id is None:
        return f"{prefix}owner = ?", (owner,)
    return f"{prefix}owner = ? AND {prefix}thread_id = ?", (owner, thread_id)
