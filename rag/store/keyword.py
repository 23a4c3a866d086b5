"""Keyword (BM25) index: SQLite FTS5 with the porter/unicode61 tokenizer.

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
from typing import Protocol

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
    metadata: dict


class KeywordIndex(Protocol):
    """What hybrid search needs from a keyword index."""

    def add(self, conn: sqlite3.Connection, chunks: Sequence[Chunk]) -> None: ...
    def delete(self, conn: sqlite3.Connection, owner: str, thread_id: str | None,
               doc_id: str) -> list[str]: ...
    def search(self, query: str, owner: str, thread_id: str | None, k: int
               ) -> list[KeywordHit]: ...


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
        """Insert chunks inside the caller's transaction."""
        conn.executemany(
            "INSERT INTO chunks (chunk_id, owner, thread_id, doc_id, chunk_index, text, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (c.chunk_id, c.metadata["owner"], c.metadata["thread_id"], c.metadata["doc_id"],
                 c.metadata["chunk_index"], c.text, json.dumps(c.metadata))
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


def _scope_sql(owner: str, thread_id: str | None, prefix: str = "") -> tuple[str, tuple]:
    if thread_id is None:
        return f"{prefix}owner = ?", (owner,)
    return f"{prefix}owner = ? AND {prefix}thread_id = ?", (owner, thread_id)
