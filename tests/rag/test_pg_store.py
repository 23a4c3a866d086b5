"""The PostgreSQL keyword index and registry (rag.store.pg_keyword, rag.store.pg_registry)
on a real PostgreSQL database created for each test: query safety, ranking, owner and
thread filters, document states, the Alembic history of the rag tables, and the sweep
after a process killed mid-write (the same kill as tests/rag/test_faults.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from keyword_samples import chunk, sample_chunks

from rag.config import RagSettings
from rag.models import Scope, TextDocument
from rag.service import RagService
from rag.store.pg_keyword import PgKeywordIndex, essential_terms
from rag.store.pg_registry import PgDocumentRegistry
from rag.store.postgres import VERSION_TABLE, PostgresDB, downgrade_schema, upgrade_schema
from test_faults import ROOT, SECRET, _kill_during_store


@pytest.fixture
def pg(pg_url):
    db = PostgresDB(pg_url, "docchat_test")
    yield db
    db.close()


@pytest.fixture
def index(pg):
    idx = PgKeywordIndex(pg)
    with pg.transaction() as conn:
        idx.add(conn, sample_chunks())
    return idx


@pytest.mark.parametrize(("query", "expected"), [
    ('"', []), ("'", []), ("!", []), ("&|", []), ("running:*", ["a0", "a1", "c0"]),
    ("'); DROP TABLE rag_chunks; --", []), ("\x00", []), ("(((", []),
    ("-running", ["a0", "a1", "c0"]), ("\\", []), ("AND", []),
])
def test_hostile_queries_match_only_their_words(index, query, expected):
    """tsquery syntax in a query is searched as plain words, never parsed or executed."""
    hits = index.search(query, "u", None, 5)
    assert sorted(h.chunk_id for h in hits) == expected
    assert index.count("u", None) == 4  # the table survived


def test_bm25_order_and_stemming(index):
    """BM25 as FTS5 ranks it (tests/rag/test_keyword.py has the same order): "shoe" (2
    of 5 chunks) outweighs "run" (4 of 5), so a1 (shoe twice) beats a0 (run three
    times, shoe once), where ts_rank_cd, without idf, put a0 first."""
    hits = index.search("running shoes", "u", None, 10)
    assert [h.chunk_id for h in hits] == ["a1", "a0", "c0"]
    assert hits[0].score > hits[1].score > hits[2].score > 0
    assert [h.chunk_id for h in index.search("cooked", "u", None, 10)] == ["a2"]  # cook
    assert hits[1].metadata["source"] == "d.txt" and hits[1].text.startswith("Running")


def test_context_is_searched_with_the_text(pg):
    idx = PgKeywordIndex(pg)
    with pg.transaction() as conn:
        idx.add(conn, [chunk("x0", "It boils at 100 degrees.", context="Water > Physics"),
                       chunk("y0", "Water is wet.")])
    assert [h.chunk_id for h in idx.search("physics water", "u", None, 5)] == ["x0", "y0"]


def test_owner_and_thread_filters(index):
    assert [h.chunk_id for h in index.search("running", "u", "t1", 10)] == ["c0"]
    assert [h.chunk_id for h in index.search("running", "other", None, 10)] == ["b0"]
    assert index.search("running", "nobody", None, 10) == []
    assert index.count("u", None) == 4 and index.count("u", "t1") == 1
    assert index.owners() == {"u", "other"}


def test_collections_do_not_mix(pg_url, index):
    other = PostgresDB(pg_url, "another_embedder", migrate=False)
    try:
        assert PgKeywordIndex(other).search("running", "u", None, 10) == []
        assert PgKeywordIndex(other).count("u", None) == 0
    finally:
        other.close()


def test_delete_by_document_and_scope_and_owner(index, pg):
    with pg.transaction() as conn:
        assert index.delete(conn, "u", "t1", "d") == []
        assert sorted(index.delete(conn, "u", None, "d")) == ["a0", "a1", "a2"]
    assert [h.chunk_id for h in index.search("running", "u", None, 10)] == ["c0"]
    with pg.transaction() as conn:
        assert index.rename_owner(conn, "other", "heir") == 1
    [hit] = index.search("running", "heir", None, 10)
    assert hit.metadata["owner"] == "heir"
    with pg.transaction() as conn:
        assert index.delete_owner(conn, "heir") == 1
    assert index.search("running", "heir", None, 10) == []


def test_re_adding_a_chunk_rewrites_it(index, pg):
    """A re-run of the same document (same chunk ids) completes instead of failing."""
    with pg.transaction() as conn:
        index.add(conn, [chunk("a2", "Cooking risotto with garlic")])
    assert [h.text for h in index.search("risotto", "u", None, 5)] == [
        "Cooking risotto with garlic"]
    assert index.count("u", None) == 4


def test_registry_states(pg):
    reg = PgDocumentRegistry(pg)
    with pg.transaction() as conn:
        reg.set_state(conn, "u", "t1", "doc", "indexing", "a.txt")
    assert reg.state_of("u", "t1", "doc") == ("indexing", None)
    assert not reg.exists("u", "t1", "doc") and reg.list("u", None) == []
    assert reg.not_indexed() == [("u", "t1", "doc", "indexing")]
    with pg.transaction() as conn:
        reg.add(conn, "u", "t1", "doc", "", 3)  # filename kept when not given
    assert reg.exists("u", "t1", "doc") and not reg.exists("u", None, "doc")
    [info] = reg.list("u", None)
    assert (info.filename, info.chunks, info.thread_id) == ("a.txt", 3, "t1")
    assert datetime.fromisoformat(info.indexed_at).tzinfo is not None
    assert reg.threads_with("u", "doc") == ["t1"]
    assert reg.indexed_among("u", {("t1", "doc"), ("", "doc")}) == {("t1", "doc")}
    with pg.transaction() as conn:
        reg.set_state(conn, "u", None, "doc", "failed", error="boom")
    assert reg.state_of("u", None, "doc") == ("failed", "boom")
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    assert reg.not_indexed(future) == [("u", "", "doc", "failed")]
    assert reg.not_indexed(past) == []  # updated just now: a live run elsewhere
    with pytest.raises(ValueError, match="state must be one of"), pg.transaction() as conn:
        reg.set_state(conn, "u", None, "doc", "done")
    with pg.transaction() as conn:
        assert reg.delete(conn, "u", None, "doc") == 2
    assert reg.all_rows() == set()


def test_migrations_have_their_own_history(pg_url):
    upgrade_schema(pg_url)  # a second run is a no-op
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [
            ("r0002",)]
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"rag_documents", "rag_chunks", "rag_terms", "rag_chunk_stats",
                VERSION_TABLE} <= tables
        assert "alembic_version" not in tables  # the chat schema's table is not ours
    downgrade_schema(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename IN"
                            " ('rag_documents', 'rag_chunks')").fetchone() == (0,)


def stats(pg, lexemes=("run", "shoe", "cook", "garlic", "risotto")):
    """(n, total_len) of the collection and df of some lexemes (absent: no row)."""
    [(n, total)] = pg.query("SELECT n, total_len FROM rag_chunk_stats WHERE collection = %s",
                            (pg.collection,)) or [(0, 0)]
    df = dict(pg.query("SELECT lexeme, df FROM rag_terms WHERE collection = %s"
                       " AND lexeme = ANY(%s)", (pg.collection, list(lexemes))))
    return n, total, df


def test_migration_0002_backfills_bm25_statistics(pg_url):
    """Rows written under r0001 (no statistics yet) get their df, lengths and N."""
    upgrade_schema(pg_url, "r0001")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO rag_chunks (collection, chunk_id, owner, thread_id, doc_id,"
                     " chunk_index, text, metadata, context) VALUES"
                     " ('c', 'x0', 'u', '', 'd', 0, 'running shoes running', '{}', ''),"
                     " ('c', 'x1', 'u', '', 'd', 1, 'cooking', '{}', 'Shoes')")
    db = PostgresDB(pg_url, "c")  # migrates to head
    try:
        assert stats(db) == (2, 5, {"run": 1, "shoe": 2, "cook": 1})
        assert [r[0] for r in db.query("SELECT dl FROM rag_chunks ORDER BY chunk_id")] == [
            3, 2]
    finally:
        db.close()


def test_df_statistics_follow_add_delete_and_re_add(index, pg):
    """df, N and total length (lexeme positions) stay exact through every write path,
    in the writer's transaction; other collections keep their own."""
    # a0: run x3 shoe marathon trail (6); a1: shoe x2 shop sell one run (6);
    # a2: cook pasta garlic (3); b0: run secret anoth user (4); c0: run thread one (3)
    assert stats(pg) == (5, 22, {"run": 4, "shoe": 2, "cook": 1, "garlic": 1})
    with pg.transaction() as conn:
        index.add(conn, [chunk("a2", "Cooking risotto with garlic and garlic")])  # rewrite
    assert stats(pg) == (5, 23, {"run": 4, "shoe": 2, "cook": 1, "garlic": 1, "risotto": 1})
    with pg.transaction() as conn:
        index.delete(conn, "u", None, "d")  # a0, a1, a2
        assert stats(pg)[0] == 5  # not visible outside the transaction before commit
    assert stats(pg) == (2, 7, {"run": 2})
    with pytest.raises(RuntimeError), pg.transaction() as conn:
        index.add(conn, [chunk("z0", "shoes")])
        raise RuntimeError("rolled back")
    assert stats(pg) == (2, 7, {"run": 2})
    with pg.transaction() as conn:
        index.add(conn, [chunk("a0", "Running shoes for running marathons and running trails"),
                         chunk("a1", "A shoe shop sells one running shoe")])
        index.rename_owner(conn, "other", "heir")  # same text: statistics unchanged
    assert stats(pg) == (4, 19, {"run": 4, "shoe": 2})
    with pg.transaction() as conn:
        index.delete_ids(conn, ["a1"])
        index.delete_owner(conn, "heir")
    assert stats(pg) == (2, 9, {"run": 2, "shoe": 1})
    assert [h.chunk_id for h in index.search("shoes", "u", None, 5)] == ["a0"]


def test_rare_term_outweighs_a_common_one(pg):
    """Many occurrences of a word in most chunks lose to one occurrence of a rare word:
    BM25 saturates tf and weighs by idf; ts_rank_cd ranked the "python" chunk first."""
    idx = PgKeywordIndex(pg)
    filler = [chunk(f"f{i}", f"python language notes number {i}", doc=f"f{i}")
              for i in range(9)]
    with pg.transaction() as conn:
        idx.add(conn, [*filler,
                       chunk("p0", "python python python python tips", doc="p"),
                       chunk("g0", "the python generator keyword yield", doc="g")])
    hits = idx.search("python yield", "u", None, 3)
    assert hits[0].chunk_id == "g0" and hits[1].chunk_id == "p0"


def test_common_words_only_query_is_answered(pg):
    """Every query term above the pruning fraction: all are used, nothing is lost."""
    idx = PgKeywordIndex(pg)
    with pg.transaction() as conn:
        idx.add(conn, [chunk(f"c{i}", "use python" if i < 5 else "use it", doc=f"d{i}")
                       for i in range(10)])
    terms, n, _ = idx.term_stats("use python")
    essential, pruned = essential_terms(terms, n)
    assert n == 10 and sorted(essential) == ["python", "use"] and pruned == []
    hits = idx.search("use python", "u", None, 10)
    assert len(hits) == 10 and {h.chunk_id for h in hits[:5]} == {f"c{i}" for i in range(5)}


def test_pruned_terms_come_back_when_the_essential_ones_find_fewer_than_k(pg):
    """A rare term with fewer matches than k: the common term's chunks fill the list;
    with k matches of the rare term they are not searched."""
    idx = PgKeywordIndex(pg)
    rows = [chunk(f"c{i}", "common words here", doc=f"d{i}") for i in range(30)]
    rows += [chunk(f"r{i}", f"plain text {i}", doc=f"r{i}") for i in range(69)]
    rows.append(chunk("x0", "rare common", doc="x"))
    with pg.transaction() as conn:
        idx.add(conn, rows)
    terms, n, _ = idx.term_stats("rare common")
    assert essential_terms(terms, n) == (["rare"], ["common"])  # 31 of 100 chunks
    hits = idx.search("rare common", "u", None, 5)
    assert hits[0].chunk_id == "x0" and len(hits) == 5
    assert {h.chunk_id for h in hits[1:]} <= {f"c{i}" for i in range(30)}
    assert [h.chunk_id for h in idx.search("rare common", "u", None, 1)] == ["x0"]
    assert [h.chunk_id for h in idx.search("rare", "u", None, 5)] == ["x0"]


async def test_service_on_postgres_only_shows_indexed_documents(pg_service, tmp_path):
    service = pg_service
    assert type(service.store.keyword).__name__ == "PgKeywordIndex"
    assert not list((tmp_path / "data").glob("*.db"))  # no SQLite file
    [report] = await service.index_texts([TextDocument("v.txt", SECRET)], Scope("bob", "t"))
    await service.index_texts([TextDocument("w.txt", "Marigold grows here.")],
                              Scope("eve", "t"))
    hits = await service.search("Zanzibar marigold ledger", Scope("bob"), k=5, mode="bm25")
    assert [h.doc_id for h in hits] == [report.doc_id]  # eve's marigold is not bob's
    assert (await service.check())["keyword_index"] == "ok"
    with service.store.db.transaction() as conn:
        service.store.registry.set_state(conn, "bob", "t", report.doc_id, "deleting")
    for mode in ("bm25", "dense", "hybrid"):
        assert await service.search("Zanzibar vault", Scope("bob"), k=3, mode=mode) == []
    assert (await service.reconcile()).empty  # shared store: a fresh row may be live
    swept = await service.reconcile(stale_after_s=0)
    assert swept.vectors == report.chunks and swept.keyword_rows == report.chunks
    assert service.store.registry.all_rows() == {("eve", "t", _doc_of(service, "eve"))}


def _doc_of(service: RagService, owner: str) -> str:
    return service.store.registry.list(owner, None)[0].doc_id


async def test_sweep_after_a_kill_on_postgres(tmp_path, pg_url, embedder, monkeypatch):
    """kill -9 after the vectors landed: the PostgreSQL registry says ``indexing``, search
    hides the chunks, reconcile removes them and marks the document failed."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    data_dir = tmp_path / "data"
    _kill_during_store(data_dir)
    service = await RagService.open(RagSettings(data_dir=data_dir), embedder=embedder)
    try:
        assert service.store.chroma.count("alice") > 0
        for mode in ("hybrid", "dense", "bm25"):
            results = await service.search("orphan vault Zanzibar", Scope("alice"), k=5,
                                           mode=mode)
            assert not [r for r in results if "Zanzibar" in r.text], mode
        report = await service.reconcile(stale_after_s=0)
        assert report.vectors > 0
        assert [(o, t, s) for o, t, _, s in report.documents] == [("alice", "t1", "indexing")]
        [(_, _, doc_id, _)] = report.documents
        state, error = service.store.registry.state_of("alice", "t1", doc_id) or ("", "")
        assert state == "failed" and "interrupted" in (error or "")
        assert service.store.chroma.count("alice") == 0
        reports = await service.index_texts([TextDocument("vault.txt", SECRET)],
                                            Scope("alice", "t1"))
        assert reports[0].status == "indexed", reports[0].error
        assert "Zanzibar" in (await service.search("Zanzibar vault", Scope("alice"), k=1))[0].text
        assert (await service.reconcile()).empty
    finally:
        await service.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCCHAT_DATA_DIR": str(data_dir)}
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "rag", "reconcile", "--stale-after", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "removed 0 orphan vectors and 0 keyword rows; 0 unfinished" in out.stdout


async def test_start_up_sweep_on_a_shared_store_spares_live_indexing(pg_service):
    """Another instance's document being indexed right now (row updated just now) is left
    alone by this instance's start-up sweep; an explicit 0 sweeps it."""
    service = pg_service
    with service.store.db.transaction() as conn:
        service.store.registry.set_state(conn, "ann", "t", "live-doc", "indexing", "l.txt")
    assert (await service.reconcile()).empty
    assert service.store.registry.state_of("ann", "t", "live-doc") == ("indexing", None)
    swept = await service.reconcile(stale_after_s=0)
    assert [(o, d, s) for o, _, d, s in swept.documents] == [("ann", "live-doc", "indexing")]
    assert service.store.registry.state_of("ann", "t", "live-doc")[0] == "failed"


def test_unreachable_database_is_named_with_what_to_do():
    import socket

    from rag.errors import StoreUnavailableError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreUnavailableError) as caught:
        PostgresDB(f"postgresql+asyncpg://app:s3cret@127.0.0.1:{port}/docs", "c")
    message = str(caught.value)
    assert f"127.0.0.1:{port}/docs" in message and "DATABASE_URL" in message
    assert "s3cret" not in message and "Start PostgreSQL" in message


async def test_rename_and_remove_an_owner_on_postgres(pg_service):
    """chat.owners moves login-name owners to stable ids and removes users' documents
    through the same DocumentStore methods on PostgreSQL."""
    from test_service import _index_name_keyed, _snapshot

    service = pg_service
    await _index_name_keyed(service)
    before = await _snapshot(service, "alice")
    assert await service.rename_owners({"alice": "uid-alice", "carol": "x"}) == {"alice": 3}
    assert await _snapshot(service, "uid-alice") == before
    assert await service.search("vault", Scope("alice"), k=10) == []
    store = service.store
    assert store.owners_with_data({"alice", "uid-alice", "bob"}) == {"uid-alice", "bob"}
    hits = store.keyword.search("vault code", "uid-alice", None, 5)
    assert hits and all(h.metadata["owner"] == "uid-alice" for h in hits)
    assert await asyncio.to_thread(store.delete_owner, "uid-alice") == 3
    assert store.owners_with_data({"uid-alice", "bob"}) == {"bob"}
    assert await service.count_chunks(Scope("uid-alice")) == 0
    assert await service.count_chunks(Scope("bob")) == 1
