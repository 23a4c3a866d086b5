"""Whole-document vectors on the real store (Chroma on disk, SQLite FTS5 or PostgreSQL,
MiniLM): one per (owner, thread, document) after indexing, in a sibling collection the
chunk search never reads; gone with the document, the owner or a reconcile sweep; owner
scoped; fused into the default (hybrid) ranking, where a document that enters by its
document vector cites its chunk nearest to the query."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rag.models import Scope, TextDocument
from rag.service import RagService
from rag.store.chroma import scope_where

ALICE_T1 = Scope("alice", "t1")

#: a document whose opening (what its vector sees) is about tides, then turns to other
#: things in its later chunks; and two distractors
TIDES = TextDocument("tides.txt", "Tides are the rise and fall of sea levels caused by the "
                     "Moon's gravity. Spring tides come at full and new moon. " * 3
                     + "\n\n" + "Unrelated later notes about baking bread and yeast. " * 60,
                     metadata={"title": "Ocean tides"})
BREAD = TextDocument("bread.txt", "Bread is baked from flour, water and yeast. " * 20,
                     metadata={"title": "Bread"})
TRAINS = TextDocument("trains.txt", "Trains run on rails between stations. " * 20,
                      metadata={"title": "Railways"})


def doc_vector_ids(service: RagService, owner: str, thread: str | None = None,
                   doc_id: str | None = None) -> list[str]:
    col = service.store.doc_vectors.collection_for(owner)
    if col is None:
        return []
    return sorted(col.get(where=scope_where(owner, thread, doc_id), include=[])["ids"])


async def test_one_document_vector_per_document_and_thread_gone_with_it(service, embedder):
    reports = await service.index_texts([TIDES, BREAD], ALICE_T1)
    await service.index_texts([TIDES], Scope("alice", "t2"))
    tides = reports[0].doc_id
    assert len(doc_vector_ids(service, "alice")) == 3
    [entry] = doc_vector_ids(service, "alice", "t1", tides)
    assert entry.endswith(":doc") and entry not in {
        c for c in service.store.chroma.collection_for("alice").get(include=[])["ids"]}
    # the vector is the embedding of title + text (cut by the embedder at 256 tokens)
    stored = service.store.doc_vectors.vectors("alice", scope_where("alice", "t1", tides))
    expected = embedder.embed([f"Ocean tides\n\n{TIDES.text}"])[0]
    assert float(np.dot(stored[0][1], expected)) > 0.99
    # the chunk search never returns a document vector
    hits = await service.search("tides", Scope("alice"), k=50, mode="dense")
    assert hits and not any(h.chunk_id.endswith(":doc") for h in hits)

    assert await service.delete_document(tides, ALICE_T1) > 0
    assert doc_vector_ids(service, "alice", "t1", tides) == []
    assert len(doc_vector_ids(service, "alice", "t2", tides)) == 1
    await service.delete_document(tides, Scope("alice"))
    assert doc_vector_ids(service, "alice", None, tides) == []
    assert len(doc_vector_ids(service, "alice")) == 1  # bread's
    assert await asyncio.to_thread(service.store.delete_owner, "alice") == 1
    assert service.store.doc_vectors.collection_for("alice") is None


async def test_reconcile_removes_document_vectors_of_unindexed_documents(service):
    [report] = await service.index_texts([BREAD], ALICE_T1)
    with service.store.db.transaction() as conn:  # as a process killed mid-write leaves it
        service.store.registry.set_state(conn, "alice", "t1", report.doc_id, "indexing")
    swept = await service.reconcile()
    assert (swept.vectors, swept.document_vectors) == (report.chunks, 1)
    assert doc_vector_ids(service, "alice") == []


async def test_document_vectors_are_owner_scoped(service):
    await service.index_texts([TIDES], Scope("alice"))
    await service.index_texts([TRAINS], Scope("bob"))
    store = service.store
    vector = (await service.embed_texts(["moon and sea levels"]))[0]
    assert [h.metadata["owner"] for h in store.doc_search(vector, "bob", None, 10)] == ["bob"]
    assert store.doc_search(vector, "carol", None, 10) == []
    assert store.doc_vectors.collection_for("carol") is None  # searching creates nothing
    hits = await service.search("moon and sea levels", Scope("bob"), k=10)
    assert hits and {h.metadata["owner"] for h in hits} == {"bob"}
    bob_hits = store.doc_search(vector, "bob", None, 10)
    assert store.best_chunks(vector, "bob", bob_hits).keys() == {hits[0].doc_id}
    alice_hits = store.doc_search(vector, "alice", None, 10)
    assert alice_hits and store.best_chunks(vector, "bob", alice_hits) == {}
    with pytest.raises(ValueError, match="owner"):
        store.doc_vectors.add("bob", ["x:doc"], np.zeros((1, 384), np.float32), ["t"],
                              [{"owner": "alice"}])


async def test_a_document_entering_by_its_vector_cites_its_best_chunk(service):
    [tides, *_] = await service.index_texts([TIDES, BREAD, TRAINS], ALICE_T1)
    query = "Why does the sea level rise and fall with the moon?"
    vector = (await service.embed_texts([query]))[0]
    doc_hits = await asyncio.to_thread(service.store.doc_search, vector, "alice", "t1", 10)
    assert doc_hits[0].metadata["doc_id"] == tides.doc_id
    # no chunk candidate at all: every document enters by its vector, best first
    ranked = await service._with_documents([], doc_hits, 0.5, vector, ALICE_T1, k=2)
    first, score = ranked[0]
    assert first.metadata["doc_id"] == tides.doc_id
    assert score == pytest.approx(0.5)  # weight * normalised cosine 1.0
    assert first.metadata["chunk_index"] == 0 and "Moon" in first.text  # not the bread
    assert len(ranked) == 2  # only the top k are resolved to chunks


@pytest.mark.parametrize("weight", [0.0, 0.5])
async def test_hybrid_search_returns_chunks_with_or_without_document_vectors(
        settings, embedder, weight):
    service = await RagService.open(settings.model_copy(update={"doc_vector_weight": weight}),
                                    embedder=embedder)
    try:
        await service.index_texts([TIDES, BREAD, TRAINS], ALICE_T1)
        hits = await service.search("Why does the sea rise and fall?", ALICE_T1, k=3)
        assert hits[0].source == "tides.txt" and hits[0].metadata["chunk_index"] == 0
        assert all(not h.chunk_id.endswith(":doc") and h.text for h in hits)
        assert [h.rank for h in hits] == [1, 2, 3]
    finally:
        await service.close()


async def test_document_vectors_on_postgres(pg_service):
    service = pg_service
    [report] = await service.index_texts([TIDES], ALICE_T1)
    await service.index_texts([TRAINS], ALICE_T1)
    assert len(doc_vector_ids(service, "alice")) == 2
    hits = await service.search("moon and sea levels", ALICE_T1, k=3)
    assert hits[0].doc_id == report.doc_id
    await service.delete_document(report.doc_id, ALICE_T1)
    assert doc_vector_ids(service, "alice", None, report.doc_id) == []
