"""Keyword query latency on both backends in one run (`python -m rag bench --keyword-chunks N`).

For each backend (SQLite FTS5 in a temporary data dir; PostgreSQL at DATABASE_URL or
--pg-url, in a collection of its own removed afterwards) the keyword index and registry
are filled to N chunks of real text: the Python docs chunked once by the app's chunker,
repeated as new documents (copy i is thread "copy-i", so ids stay unique) until N
chunks, written through the backend's ``KeywordIndex.add`` and ``Registry.add`` (no
vectors: this times the keyword side only). Then every FAQ question is searched with
``DocumentStore.keyword_search`` (the scope filter in SQL, then the ``indexed`` check),
owner-wide, k=50 as hybrid search asks; p50/p95 in ms. Repeating the text multiplies
every word's document frequency alike, so posting lists are as long as N real chunks'.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.config import RagSettings

OWNER = "bench"
K = 50
BATCH = 500


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_chunks(root: Path, chunker, limit: int) -> list[Chunk]:
    """The docs under ``root`` chunked once (at most ``limit`` chunks)."""
    from bench.rag_bench import text_files
    from rag.errors import DocumentError
    from rag.loaders.files import load_file

    chunks: list[Chunk] = []
    for path in text_files(root):
        try:
            chunks += chunker.split(load_file(path), OWNER, "copy-0")
        except DocumentError:
            continue
        if len(chunks) >= limit:
            break
    return chunks


def copies(chunks: list[Chunk], total: int) -> list[list[Chunk]]:
    """Documents of chunks (one per source document and copy) until ``total`` chunks."""
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.metadata["doc_id"], []).append(c)
    docs: list[list[Chunk]] = []
    have, n = 0, 0
    while have < total:
        thread = f"copy-{n}"
        for doc_id, doc in by_doc.items():
            new_id = f"{doc_id[:48]}{n:016x}"
            docs.append([Chunk(f"{thread}:{new_id}:{c.metadata['chunk_index']}", c.text,
                               {**c.metadata, "thread_id": thread, "doc_id": new_id},
                               c.context) for c in doc][: total - have])
            have += len(docs[-1])
            if have >= total:
                break
        n += 1
    return docs


def fill(store, docs: list[list[Chunk]]) -> float:
    """Write the documents' keyword rows and registry rows; seconds taken."""
    start = time.perf_counter()
    pending: list[list[Chunk]] = []
    for doc in docs:
        pending.append(doc)
        if sum(len(d) for d in pending) >= BATCH or doc is docs[-1]:
            with store.db.transaction() as conn:
                for d in pending:
                    store.keyword.add(conn, d)
                    m = d[0].metadata
                    store.registry.add(conn, OWNER, m["thread_id"], m["doc_id"],
                                       m.get("source", "x"), len(d))
            pending = []
    return time.perf_counter() - start


def time_queries(store, questions: list[str]) -> list[float]:
    store.keyword_search(questions[0], OWNER, None, K)  # warm-up
    latencies = []
    for q in questions:
        t0 = time.perf_counter()
        store.keyword_search(q, OWNER, None, K)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def run_backend(name: str, settings: RagSettings, docs, questions) -> dict:
    from rag.store.backend import open_index
    from rag.store.document_store import DocumentStore

    db, keyword, registry = open_index(settings, f"kwbench{uuid.uuid4().hex[:8]}")
    store = DocumentStore(None, db, keyword, registry)  # type: ignore[arg-type]
    try:
        seconds = fill(store, docs)
        if name == "postgresql":
            with db.transaction() as conn:
                conn.execute("ANALYZE rag_chunks")
        chunks = store.keyword.count(OWNER, None)
        log(f"bench: {name}: {chunks} chunks written in {seconds:.1f} s")
        lat = time_queries(store, questions)
    finally:
        with db.transaction() as conn:
            store.keyword.delete_owner(conn, OWNER)
            store.registry.delete_owner(conn, OWNER)
        db.close()
    return {"backend": name, "chunks": chunks, "fill_s": round(seconds, 1),
            "keyword_p50_ms": round(float(np.percentile(lat, 50)), 2),
            "keyword_p95_ms": round(float(np.percentile(lat, 95)), 2),
            "queries": len(lat)}


def run(args) -> list[dict]:
    """Both backends at ``args.keyword_chunks`` chunks; PostgreSQL is skipped (with a
    message) when no PostgreSQL URL is given."""
    from bench.rag_bench import DEFAULT_DOCS, faq_questions
    from rag.chunking import Chunker
    from rag.service import _chunk_tokenizer, shared_embedder
    from rag.store.postgres import is_postgres

    root = Path(args.docs) if args.docs else DEFAULT_DOCS
    tmp = Path(tempfile.mkdtemp(prefix="rag-kwbench-"))
    settings = RagSettings(data_dir=tmp, database_url=None)
    chunker = Chunker(_chunk_tokenizer(shared_embedder(settings)), settings.chunk_tokens,
                      settings.chunk_overlap, settings.chunk_context)
    docs = copies(base_chunks(root, chunker, args.keyword_chunks), args.keyword_chunks)
    questions = faq_questions(root / "faq" if (root / "faq").is_dir() else root, args.queries)
    results = [run_backend("sqlite", settings, docs, questions)]
    pg_url = args.pg_url or RagSettings().database_url
    if is_postgres(pg_url):
        results.append(run_backend("postgresql", settings.model_copy(
            update={"database_url": pg_url}), docs, questions))
    else:
        log("bench: no PostgreSQL URL (DATABASE_URL or --pg-url): PostgreSQL skipped")
    for r in results:
        print(f"keyword query ({r['backend']}) at {r['chunks']} chunks: "
              f"p50 {r['keyword_p50_ms']:.1f} ms, p95 {r['keyword_p95_ms']:.1f} ms "
              f"({r['queries']} queries, k={K}; filled in {r['fill_s']:.0f} s)")
    return results
