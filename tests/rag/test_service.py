"""RagService end to end on the real store (Chroma on disk, SQLite FTS5, MiniLM)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import numpy as np
import pytest

from rag.models import IndexProgress, Scope, TextDocument
from rag.service import RagService
from rag.store.chroma import scope_where
from rag.store.keyword import Fts5KeywordIndex

ALICE_T1 = Scope("alice", "t1")


def chroma_count(service: RagService, owner: str, thread: str | None = None,
                 doc_id: str | None = None) -> int:
    return service.store.chroma.count(owner, scope_where(owner, thread, doc_id))


def fts_count(service: RagService, owner: str, doc_id: str | None = None) -> int:
    sql, params = "SELECT count(*) FROM chunks WHERE owner = ?", [owner]
    if doc_id:
        sql, params = sql + " AND doc_id = ?", params + [doc_id]
    return service.store.db.query(sql, params)[0][0]


async def test_index_mixed_files_then_search_with_citations(service, make_pdf, make_docx,
                                                            write):
    pdf = make_pdf("turbines.pdf", ["Wind turbines convert kinetic energy into electricity.",
                                    "Offshore turbines face salt corrosion and storms."])
    md = write("garden.md", "# Garden\n\n## Tomatoes\n\nWater tomatoes deeply twice a week.\n")
    html = write("bread.html", "<h1>Bread</h1><h2>Proofing</h2><p>Let the dough rise for "
                               "two hours in a warm kitchen.</p>")
    docx_path = make_docx("tax.docx", [("H1", "Taxes"), ("H2", "Deadlines"),
                                       ("P", "File the quarterly VAT return by the 20th.")])
    txt = write("notes.txt", "The ferry to the island leaves at seven every morning.")
    reports = await service.index_files([pdf, md, html, docx_path, txt], ALICE_T1)
    assert [r.status for r in reports] == ["indexed"] * 5
    assert [r.filename for r in reports] == ["turbines.pdf", "garden.md", "bread.html",
                                             "tax.docx", "notes.txt"]
    assert all(r.chunks >= 1 and r.error is None and len(r.doc_id) == 64 for r in reports)

    top = (await service.search("salt corrosion offshore", ALICE_T1, k=3))[0]
    assert (top.source, top.page, top.rank) == ("turbines.pdf", 2, 1)
    assert top.metadata["owner"] == "alice" and top.metadata["thread_id"] == "t1"
    top = (await service.search("when is the VAT return due", ALICE_T1, k=3))[0]
    assert (top.source, top.heading, top.page) == ("tax.docx", "Taxes > Deadlines", None)
    top = (await service.search("how long should dough rise", ALICE_T1, k=3))[0]
    assert (top.source, top.heading) == ("bread.html", "Bread > Proofing")
    top = (await service.search("watering tomatoes", ALICE_T1, k=3))[0]
    assert (top.source, top.heading) == ("garden.md", "Garden > Tomatoes")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
async def test_modes_rank_and_score(service, mode):
    await service.index_texts([TextDocument("a", "Penguins live in Antarctica."),
                               TextDocument("b", "Camels cross the Sahara desert."),
                               TextDocument("c", "Penguins cannot fly but swim well.")],
                              ALICE_T1)
    results = await service.search("penguins", ALICE_T1, k=2, mode=mode)
    assert [r.rank for r in results] == [1, 2]
    assert {r.source for r in results} == {"a", "c"}
    assert results[0].score >= results[1].score
    with pytest.raises(ValueError):
        await service.search("x", ALICE_T1, mode="sparse")  # type: ignore[arg-type]
    assert await service.search("   ", ALICE_T1) == []


@pytest.mark.parametrize("fusion", ["convex", "rrf"])
async def test_both_fusions_rank_the_matching_chunks_first(service, fusion):
    await service.index_texts([TextDocument("a", "Penguins live in Antarctica."),
                               TextDocument("b", "Camels cross the Sahara desert."),
                               TextDocument("c", "Penguins cannot fly but swim well.")],
                              ALICE_T1)
    results = await service.search("penguins", ALICE_T1, k=3, fusion=fusion)
    assert {r.source for r in results[:2]} == {"a", "c"}
    assert results[0].score >= results[1].score >= results[2].score
    with pytest.raises(ValueError, match="fusion"):
        await service.search("penguins", ALICE_T1, fusion="max")


async def test_bad_files_fail_alone_with_named_errors(service, make_pdf, write, settings):
    good = write("good.txt", "Valid text about lighthouses.")
    bad = [
        make_pdf("locked.pdf", ["secret"], user_password="pw"),
        write("broken.pdf", b"%PDF-1.7 garbage"),
        write("empty.txt", b""),
        write("photo.jpg", b"\xff\xd8\xff\xe0 jpeg"),
        write("blob.md", b"\x00\x01\x02\x03binary"),
        write("latin.txt", "d\u00e9j\u00e0 vu".encode("latin-1")),
        write("huge.txt", "y" * (int(settings.upload_max_bytes) + 1)),
    ]
    events: list[IndexProgress] = []
    reports = await service.index_files([bad[0], good, *bad[1:]], ALICE_T1,
                                        on_progress=events.append)
    assert reports[1].status == "indexed"
    failed = [reports[0], *reports[2:]]
    assert all(r.status == "failed" and r.chunks == 0 for r in failed)
    for report, words in zip(failed, ["password-protected", "cannot be read as a PDF",
                                      "0 bytes", "unsupported type", "binary data",
                                      "not valid UTF-8", "over the"]):
        assert report.error.startswith(report.filename + ": ") and words in report.error
    assert {e.filename for e in events if e.stage == "failed"} == {r.filename for r in failed}
    assert await service.count_chunks(ALICE_T1) == reports[1].chunks


async def test_users_never_see_each_others_chunks(service):
    shared_text = "The access code for the vault is written on the blue card."
    await service.index_texts([TextDocument("alice.txt", shared_text + " alicesecret"),
                               TextDocument("common.txt", shared_text)], Scope("alice", "t1"))
    await service.index_texts([TextDocument("bob.txt", "Bob grows tulips. bobsecret"),
                               TextDocument("common.txt", shared_text)], Scope("bob"))
    for mode in ("hybrid", "dense", "bm25"):
        for query in ("vault access code blue card", "alicesecret", "tulips bobsecret"):
            for scope in (Scope("bob"), Scope("bob", "t1")):
                hits = await service.search(query, scope, k=50, mode=mode)
                assert all(h.metadata["owner"] == "bob" for h in hits), (mode, query)
                assert "alice.txt" not in {h.source for h in hits}
            hits = await service.search(query, Scope("alice"), k=50, mode=mode)
            assert all(h.metadata["owner"] == "alice" for h in hits)
    assert await service.search("alicesecret", Scope("bob"), mode="bm25") == []
    assert await service.search("vault", Scope("carol"), k=10) == []
    assert sorted(d.filename for d in await service.list_documents(Scope("bob"))) == [
        "bob.txt", "common.txt"]
    # same content, other owner: indexed separately, never a duplicate across users
    assert await service.count_chunks(Scope("bob")) == 2


async def test_thread_scopes_and_owner_wide_dedupe(service, write):
    path = write("manual.txt", "Reset the router by holding the button for ten seconds.")
    first = await service.index_files([path], Scope("alice", "t1"))
    second = await service.index_files([path], Scope("alice", "t2"))
    other = await service.index_texts([TextDocument("t3only", "Thread three talks about "
                                                    "router firmware.")], Scope("alice", "t3"))
    assert first[0].status == second[0].status == "indexed"
    assert first[0].doc_id == second[0].doc_id
    for thread in ("t1", "t2"):
        hits = await service.search("reset router", Scope("alice", thread), k=5)
        assert [h.source for h in hits] == ["manual.txt"]
        assert hits[0].metadata["thread_id"] == thread
    hits = await service.search("reset router button", Scope("alice"), k=10)
    assert sorted(h.source for h in hits) == ["manual.txt", "t3only"]  # manual.txt once
    assert await service.count_chunks(Scope("alice")) == 2
    assert other[0].status == "indexed"
    assert [d.thread_id for d in await service.list_documents(Scope("alice"))].count("t1") == 1


async def test_same_content_same_scope_is_a_duplicate(service, write):
    a = write("a.txt", "Identical bytes.")
    b = write("copy-of-a.txt", "Identical bytes.")
    reports = await service.index_files([a], ALICE_T1)
    again = await service.index_files([b], ALICE_T1)
    assert reports[0].status == "indexed" and again[0].status == "duplicate"
    assert again[0].doc_id == reports[0].doc_id and again[0].chunks == 0
    assert chroma_count(service, "alice") == 1 and fts_count(service, "alice") == 1
    concurrent = await service.index_texts(
        [TextDocument("x", "Raced text."), TextDocument("y", "Raced text.")], ALICE_T1)
    assert sorted(r.status for r in concurrent) == ["duplicate", "indexed"]
    assert len(await service.list_documents(ALICE_T1)) == 2


async def test_delete_removes_every_chunk_everywhere(service, write):
    long_text = "\n\n".join(f"Paragraph {i} about glaciers and ice sheets. " * 12
                            for i in range(8))
    path = write("glaciers.txt", long_text)
    [report] = await service.index_files([path], ALICE_T1)
    await service.index_files([path], Scope("alice", "t2"))
    await service.index_texts([TextDocument("keep", "Deserts are dry.")], ALICE_T1)
    doc = report.doc_id
    assert report.chunks > 1
    assert await service.delete_document(doc, ALICE_T1) == report.chunks
    assert chroma_count(service, "alice", "t1", doc) == 0 and chroma_count(service, "alice",
                                                                             "t2", doc) > 0
    assert await service.search("glaciers", ALICE_T1, k=10, mode="bm25") == []
    assert await service.delete_document(doc, Scope("alice")) == report.chunks  # t2's copy
    assert chroma_count(service, "alice", None, doc) == 0 and fts_count(service, "alice",
                                                                          doc) == 0
    assert await service.delete_document(doc, Scope("alice")) == 0
    assert [d.filename for d in await service.list_documents(Scope("alice"))] == ["keep"]
    assert (await service.index_files([path], ALICE_T1))[0].status == "indexed"


async def test_failed_store_leaves_no_chunks(service, write, monkeypatch):
    def broken_add(self, conn, chunks):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Fts5KeywordIndex, "add", broken_add)
    path = write("doomed.txt", "Text that reaches Chroma before the keyword index fails.")
    ok = write("fine.txt", "Another file.")
    reports = await service.index_files([path, ok], ALICE_T1)
    assert [r.status for r in reports] == ["failed", "failed"]
    assert "disk full" in reports[0].error and reports[0].error.startswith("doomed.txt")
    assert chroma_count(service, "alice") == 0 and fts_count(service, "alice") == 0
    assert await service.list_documents(ALICE_T1) == []


async def test_failed_embedding_midway_leaves_no_chunks(settings, embedder, write):
    class FailsOnSecondBatch:
        name, dimensions, max_tokens = embedder.name, embedder.dimensions, 256
        tokenizer = embedder.tokenizer

        def __init__(self):
            self.calls = 0

        def embed(self, texts):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("embedder crashed")
            return embedder.embed(texts)

    settings.embed_batch = 1
    service = await RagService.open(settings, embedder=FailsOnSecondBatch())
    try:
        text = "\n\n".join(f"Section {i}. " + "word " * 200 for i in range(3))
        [report] = await service.index_files([write("three.txt", text)], ALICE_T1)
        assert report.status == "failed" and "embedder crashed" in report.error
        assert chroma_count(service, "alice") == 0 and fts_count(service, "alice") == 0
    finally:
        await service.close()


async def test_progress_events_per_file_and_batch(settings, embedder, write):
    settings.embed_batch = 2
    service = await RagService.open(settings, embedder=embedder)
    events: list[IndexProgress] = []

    async def on_progress(event: IndexProgress) -> None:  # async callbacks are awaited
        await asyncio.sleep(0)
        events.append(event)

    try:
        text = "\n\n".join(f"Part {i}. " + "token " * 200 for i in range(3))
        [report] = await service.index_files([write("p.txt", text)], ALICE_T1,
                                             on_progress=on_progress, filenames=["Shown.txt"])
    finally:
        await service.close()
    assert report.filename == "Shown.txt" and report.chunks == 3
    stages = [(e.stage, e.done, e.total) for e in events]
    assert stages[:3] == [("load", 0, 1), ("load", 1, 1), ("chunk", 3, 3)]
    assert [s for s in stages if s[0] == "embed"] == [("embed", 1, 2), ("embed", 2, 2)]
    assert stages[-2:] == [("store", 3, 3), ("done", 3, 3)]
    assert all(e.filename == "Shown.txt" for e in events)


async def test_a_crashing_progress_callback_does_not_stop_indexing(service):
    def boom(event):
        raise ValueError("ui gone")

    [r] = await service.index_texts([TextDocument("t", "Some text.")], ALICE_T1, boom)
    assert r.status == "indexed"


async def test_check_count_and_reopen(settings, embedder, service):
    assert await service.check() == {"chroma": "ok", "keyword_index": "ok", "embedder": "ok"}
    await service.index_texts([TextDocument("kept", "Persisted across reopen.", {"n": 1})],
                              ALICE_T1)
    reopened = await RagService.open(settings, embedder=embedder)
    try:
        hits = await reopened.search("persisted", ALICE_T1, k=1)
        assert hits[0].source == "kept" and hits[0].metadata["n"] == 1
        assert await reopened.count_chunks(ALICE_T1) == 1
    finally:
        await reopened.close()


def test_scope_requires_owner():
    with pytest.raises(ValueError):
        Scope("")
    with pytest.raises(ValueError):
        Scope("  ", "t1")


async def test_search_does_not_block_the_event_loop(service):
    await service.index_texts([TextDocument("a", "Some searchable text " * 50)], ALICE_T1)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    vectors = await asyncio.gather(*(service.search("searchable", ALICE_T1) for _ in range(5)))
    task.cancel()
    assert all(v for v in vectors) and ticks > 0
    assert np.isfinite([r.score for v in vectors for r in v]).all()


async def test_same_owner_other_thread_reuses_vectors_without_embedding(settings, embedder,
                                                                        write):
    class Counting:
        name, dimensions, max_tokens = embedder.name, embedder.dimensions, 256
        tokenizer = embedder.tokenizer
        texts = 0

        def embed(self, texts):
            Counting.texts += len(texts)
            return embedder.embed(texts)

    service = await RagService.open(settings, embedder=Counting())
    try:
        path = write("twice.txt", "Owls hunt at night. " * 80)
        [first] = await service.index_files([path], Scope("alice", "t1"))
        embedded = Counting.texts
        [second] = await service.index_files([path], Scope("alice", "t2"))
        assert Counting.texts == embedded  # nothing embedded the second time
        [bob] = await service.index_files([path], Scope("bob", "t2"))
        assert Counting.texts == 2 * embedded  # other owners never share vectors
        assert first.chunks == second.chunks == bob.chunks > 1
        hits = await service.search("owls", Scope("alice", "t2"), k=1, mode="dense")
        assert hits[0].metadata["thread_id"] == "t2" and hits[0].score > 0.3
    finally:
        await service.close()


def test_one_service_used_from_two_event_loops(settings, embedder):
    async def make():
        return await RagService.open(settings, embedder=embedder)

    service = asyncio.run(make())
    for name in ("first", "second"):  # each asyncio.run is a new loop
        docs = [TextDocument(f"{name}{i}", f"{name} loop text {i}") for i in range(3)]
        reports = asyncio.run(service.index_texts(docs, ALICE_T1))
        assert [r.status for r in reports] == ["indexed"] * 3
    asyncio.run(service.close())


async def test_each_owner_has_its_own_collection(service):
    await service.index_texts([TextDocument("a", "Alpha text.")], Scope("alice"))
    await service.index_texts([TextDocument("b", "Beta text.")], Scope("bob"))
    chroma = service.store.chroma
    alice, bob = chroma.collection_for("alice"), chroma.collection_for("bob")
    assert alice.name != bob.name and alice.count() == bob.count() == 1
    assert alice.get(include=["metadatas"])["metadatas"][0]["owner"] == "alice"
    assert chroma.collection_for("carol") is None  # searching creates nothing
    assert await service.search("text", Scope("carol"), mode="dense") == []
    with pytest.raises(ValueError, match="owner"):
        chroma.add("bob", ["x"], np.zeros((1, 384), np.float32), ["t"], [{"owner": "alice"}])


async def _snapshot(service: RagService, owner: str) -> list:
    """What an owner's searches return, owner-free (to compare before and after a move)."""
    seen = []
    for mode in ("hybrid", "dense", "bm25"):
        for query in ("vault access code", "tulips", "router button"):
            for thread in (None, "t1"):
                hits = await service.search(query, Scope(owner, thread), k=10, mode=mode)
                assert all(h.metadata["owner"] == owner for h in hits)
                seen.append([(h.chunk_id, h.source, h.text, round(h.score, 5)) for h in hits])
    docs = await service.list_documents(Scope(owner))
    return [seen, sorted((d.doc_id, d.filename, d.chunks, d.thread_id) for d in docs)]


async def _index_name_keyed(service: RagService) -> None:
    await service.index_texts([TextDocument("vault.txt", "The vault access code is 4411."),
                               TextDocument("tulips.txt", "Alice grows tulips in spring.")],
                              Scope("alice", "t1"))
    await service.index_texts([TextDocument("router.txt", "Hold the router button ten "
                                            "seconds to reset it.")], Scope("alice"))
    await service.index_texts([TextDocument("bob.txt", "Bob keeps the vault code too.")],
                              Scope("bob"))


async def test_rename_owner_keeps_search_results_and_is_idempotent(service):
    await _index_name_keyed(service)
    before, bob_before = await _snapshot(service, "alice"), await _snapshot(service, "bob")
    assert before[1] and before[0][0]
    assert await service.rename_owner("alice", "uid-alice") == 3
    assert await _snapshot(service, "uid-alice") == before
    assert await _snapshot(service, "bob") == bob_before
    assert await service.search("vault", Scope("alice"), k=10) == []
    assert fts_count(service, "alice") == 0 and service.store.chroma.collection_for("alice") is None
    assert service.store.db.query("SELECT count(*) FROM chunks WHERE owner = 'uid-alice'"
                                  " AND json_extract(metadata, '$.owner') = 'uid-alice'")[0][0] \
        == fts_count(service, "uid-alice") > 0
    assert await service.rename_owners({"alice": "uid-alice", "carol": "uid-carol"}) == {}
    assert await _snapshot(service, "uid-alice") == before
    with pytest.raises(ValueError):
        await service.rename_owner("bob", "bob")


@pytest.mark.parametrize("crash_at", ["copy", "drop"])
async def test_rename_owner_interrupted_is_finished_by_a_rerun(service, monkeypatch, crash_at):
    await _index_name_keyed(service)
    before = await _snapshot(service, "alice")
    chroma, calls = service.store.chroma, []
    real = chroma.add if crash_at == "copy" else chroma.drop

    def crash(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2 or crash_at == "drop":
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(chroma, "add" if crash_at == "copy" else "drop", crash)
    with pytest.raises(RuntimeError):
        await asyncio.to_thread(service.store.rename_owner, "alice", "uid-alice", 1)
    monkeypatch.undo()
    if crash_at == "copy":  # nothing moved yet: alice still sees all, the id nothing
        assert await _snapshot(service, "alice") == before
        assert (await _snapshot(service, "uid-alice"))[1] == []
    assert await service.rename_owners({"alice": "uid-alice"}) == {
        "alice": 3 if crash_at == "copy" else 0}
    assert await _snapshot(service, "uid-alice") == before
    assert chroma.collection_for("alice") is None


async def test_rename_owner_onto_an_owner_with_the_same_document(service):
    common = "The vault access code is 4411."
    await service.index_texts([TextDocument("a.txt", common),
                               TextDocument("only-alice.txt", "Tulips bloom.")], Scope("alice"))
    await service.index_texts([TextDocument("b.txt", common)], Scope("bob"))
    assert await service.rename_owner("alice", "bob") == 1
    docs = await service.list_documents(Scope("bob"))
    assert sorted(d.filename for d in docs) == ["b.txt", "only-alice.txt"]
    hits = await service.search("vault access code", Scope("bob"), k=10)
    assert sorted(h.source for h in hits) == ["b.txt", "only-alice.txt"]  # the copy: once
    assert all(h.metadata["owner"] == "bob" for h in hits)
    assert chroma_count(service, "bob") == fts_count(service, "bob") == 2



async def test_the_candidate_depth_does_not_depend_on_k(service, monkeypatch):
    """Fusion min-max normalises over the candidates and the first-chunk prior re-ranks
    them, so a depth that grew with k (max(2k, 40)) made the chat's top 5 (k=5) differ
    from the evaluation's (k=200): replayed, the chat ranked below baseline-dense while
    the evaluation reported it above. Both retrievers now get settings.candidate_depth
    whatever k is (2k when larger), owner-wide too."""
    await service.index_texts([TextDocument("a", "Penguins live in Antarctica.")], ALICE_T1)
    asked: list[tuple[str, int]] = []
    store = service.store
    for name in ("dense_search", "keyword_search"):
        real = getattr(store, name)

        def recording(*args, _real=real, _name=name):
            asked.append((_name, args[-1]))
            return _real(*args)

        monkeypatch.setattr(store, name, recording)
    depth = service.settings.candidate_depth
    for scope, k in [(ALICE_T1, 5), (ALICE_T1, 200), (Scope("alice"), 5), (ALICE_T1, 300)]:
        asked.clear()
        await service.search("penguins", scope, k=k)
        assert sorted(asked) == [("dense_search", max(depth, 2 * k)),
                                 ("keyword_search", max(depth, 2 * k))], (scope, k)
    assert depth >= 2 * 200  # the evaluation's k (evaluation.retrieval.CHUNK_DEPTH)


class OverlapCounting:
    """The real embedder, counting how many ``embed`` calls run at once (each held 50 ms
    so that calls which may overlap do)."""

    def __init__(self, embedder):
        self.inner, self.lock = embedder, threading.Lock()
        self.name, self.dimensions = embedder.name, embedder.dimensions
        self.max_tokens, self.tokenizer = 256, embedder.tokenizer
        self.running = self.most = 0

    def embed(self, texts):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return self.inner.embed(texts)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("limit", [1, 2, 0])
async def test_query_work_waits_for_a_slot(settings, embedder, limit):
    """RAG_QUERY_CONCURRENCY bounds the searches, document-vector queries and sentence
    embeddings running at once (0: no bound); the others wait and still answer."""
    counting = OverlapCounting(embedder)
    service = await RagService.open(settings.model_copy(update={"query_concurrency": limit}),
                                    embedder=counting)
    try:
        await service.index_texts([TextDocument("a", "Owls hunt at night in the forest.")],
                                  ALICE_T1)
        counting.most = 0
        calls = [service.search("owls", ALICE_T1, k=1, mode="dense") for _ in range(3)]
        calls += [service.document_scores("owls", ALICE_T1) for _ in range(3)]
        calls += [service.embed_texts(["owls", "forest"]) for _ in range(2)]
        results = await asyncio.gather(*calls)
        assert all(len(r) for r in results)
        if limit:
            assert counting.most == limit
        else:  # as many as the loop's executor runs at once (min(32, cores + 4))
            assert counting.most > 2
    finally:
        await service.close()


def test_query_concurrency_defaults_to_the_usable_cores(settings, embedder):
    service = RagService(settings, embedder, store=None)  # type: ignore[arg-type]
    assert service.query_concurrency == len(os.sched_getaffinity(0))
