"""The SQLite FTS5 keyword index: safe MATCH expressions, BM25 order, scope filters."""

from __future__ import annotations

import pytest

from keyword_samples import sample_chunks

from rag.store.keyword import Fts5KeywordIndex, fts_query
from rag.store.sqlite import SqliteDB


@pytest.fixture
def index(tmp_path):
    db = SqliteDB(tmp_path / "k.db")
    idx = Fts5KeywordIndex(db)
    with db.transaction() as conn:
        idx.add(conn, sample_chunks())
    yield idx
    db.close()


def test_query_escaping():
    assert fts_query('hello "world"') == '"hello" OR "world"'
    assert fts_query("x AND b OR NOT c NEAR(d) title:e f* ^g -h") == (
        '"x" OR "b" OR "c" OR "near" OR "d" OR "title" OR "e" OR "f" OR "g" OR "h"')
    assert fts_query("How do I use the shell?") == '"use" OR "shell"'  # stopwords dropped
    assert fts_query("to be or not to be") == '"to" OR "be" OR "or" OR "not"'  # all stop
    assert fts_query("  ?! ... ") is None
    assert fts_query("Ünïcode naïve") == '"ünïcode" OR "naïve"'


@pytest.mark.parametrize(("query", "expected"), [
    ('"', []), ("AND", ["a0"]), ("NEAR(", []), ("col:x", []), ("*", []),
    ("a OR", ["a1"]), ("'); DROP TABLE chunks; --", []), ("\x00", []), ("(((", []),
    ("-running", ["a0", "a1", "c0"]),
])
def test_hostile_queries_match_only_their_words(index, query, expected):
    """FTS5 syntax in a query is searched as plain words, never parsed or executed."""
    hits = index.search(query, "u", None, 5)
    assert sorted(h.chunk_id for h in hits) == expected
    assert index.count("u", None) == 4  # the table survived


def test_bm25_order_and_porter_stemming(index):
    hits = index.search("running shoes", "u", None, 10)
    # "shoe" (2 of 5 chunks) outweighs "run" (4 of 5): a1 has shoe twice, a0 once
    assert [h.chunk_id for h in hits] == ["a1", "a0", "c0"]
    assert hits[0].score > hits[1].score > hits[2].score
    assert [h.chunk_id for h in index.search("cooked", "u", None, 10)] == ["a2"]  # cook


def test_scope_filters(index):
    assert [h.chunk_id for h in index.search("running", "u", "t1", 10)] == ["c0"]
    assert [h.chunk_id for h in index.search("running", "other", None, 10)] == ["b0"]
    assert index.search("running", "nobody", None, 10) == []
    assert index.count("u", None) == 4 and index.count("u", "t1") == 1


def test_delete_by_document_and_scope(index):
    with index.db.transaction() as conn:
        assert index.delete(conn, "u", "t1", "d") == []
        assert sorted(index.delete(conn, "u", None, "d")) == ["a0", "a1", "a2"]
    assert [h.chunk_id for h in index.search("running", "u", None, 10)] == ["c0"]
    assert [h.chunk_id for h in index.search("running", "other", None, 10)] == ["b0"]
