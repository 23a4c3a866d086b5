"""Context-carrying chunks on the real service (MiniLM, Chroma, SQLite FTS5): the title
and heading path are embedded and keyword-indexed, never stored or cited."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from rag.models import Scope, TextDocument
from rag.store.keyword import Fts5KeywordIndex
from rag.store.sqlite import SqliteDB

ALICE = Scope(owner="alice", thread_id="t1")
TEXT = "Unpack the archive, then run the setup program and follow the prompts."


async def test_embedded_text_carries_title_stored_and_cited_text_does_not(service, embedder):
    await service.index_texts([TextDocument("notes.txt", TEXT,
                                            metadata={"title": "Quokka handbook"})], ALICE)
    col = service.store.chroma.collection_for("alice")
    stored = col.get(include=["documents", "embeddings", "metadatas"])
    assert stored["documents"] == [TEXT]
    vector = np.asarray(stored["embeddings"][0], dtype=np.float32)
    with_context = embedder.embed([f"Quokka handbook\n\n{TEXT}"])[0]
    alone = embedder.embed([TEXT])[0]
    assert float(vector @ with_context) > 0.9999
    assert float(vector @ alone) < 0.99
    # the keyword index matches the title, which is nowhere in the chunk's text
    hits = await service.search("quokka", ALICE, k=3, mode="bm25")
    assert [(h.source, h.text) for h in hits] == [("notes.txt", TEXT)]
    row = service.store.db.query("SELECT text, context FROM chunks")
    assert row == [(TEXT, "Quokka handbook")]
    cited = await service.search("quokka handbook setup", ALICE, k=1)
    assert cited[0].text == TEXT and "Quokka" not in cited[0].text


async def test_heading_path_is_part_of_the_context(service, write):
    path = write("guide.md", "# Wombat Guide\n\n## Install\n\n" + TEXT + "\n")
    await service.index_files([path], ALICE)
    rows = service.store.db.query("SELECT context, text FROM chunks ORDER BY chunk_index")
    assert ("guide.md > Wombat Guide > Install", "## Install\n\n" + TEXT) in rows


OLD_SCHEMA = """
CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL, thread_id TEXT NOT NULL, doc_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, text TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, content='chunks', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text); END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
INSERT INTO chunks VALUES (1, 'c1', 'alice', 't1', 'd1', 0, 'old lighthouse chunk', '{}');
"""


def test_a_database_from_before_context_is_migrated(tmp_path: Path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()
    db = SqliteDB(path)
    index = Fts5KeywordIndex(db)
    assert [h.chunk_id for h in index.search("lighthouse", "alice", "t1", 5)] == ["c1"]
    assert db.query("SELECT context FROM chunks") == [("",)]
    with db.transaction() as conn:  # the delete trigger works on the migrated row
        index.delete(conn, "alice", "t1", "d1")
    assert index.search("lighthouse", "alice", "t1", 5) == []
    db.close()
