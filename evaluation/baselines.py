"""Outside baselines for `python -m rag eval`, and exact dense scoring of the index.

baseline-dense: one vector per corpus entry (title, blank line, text; the embedder
truncates at its 256 tokens), the app's embedder, exact cosine over every entry.
baseline-bm25: the ``bm25s`` library (Lucene BM25, k1 = 1.5, b = 0.75; English
stopwords and the Snowball English stemmer of PyStemmer) over whole entries.
Neither chunks: they are what the app's chunking, fusion and ranking must beat.

``exact_dense_search`` replaces the store's approximate HNSW search by exact cosine over
every stored chunk vector for an evaluation run: scores then depend only on the vectors,
not on HNSW's insertion order or graph (DESIGN.md, "Known traps").
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from evaluation.beir import BeirDataset

DEPTH = 100  # documents ranked per query (Recall@100)


def entry_text(title: str, text: str) -> str:
    """A corpus entry as one text: title, blank line, text (BEIR's title + text)."""
    return f"{title}\n\n{text}" if title else text


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    """Indices of the `depth` highest scores, best first; ties by index (stable)."""
    order = np.argsort(-scores, kind="stable")
    return order[:depth]


def baseline_dense(dataset: BeirDataset, embedder, depth: int = DEPTH
                   ) -> tuple[dict[str, list[str]], list[float]]:
    """Rank whole entries by exact cosine: (query id -> corpus ids best first, latencies ms).

    Latency covers embedding the query and scoring every entry.
    """
    ids = list(dataset.corpus)
    matrix = np.asarray(embedder.embed([entry_text(e.title, e.text)
                                        for e in dataset.corpus.values()]), dtype=np.float32)
    runs, latencies = {}, []
    for query_id, query in dataset.queries.items():
        start = time.perf_counter()
        vector = np.asarray(embedder.embed([query])[0], dtype=np.float32)
        top = _top(matrix @ vector, depth)
        latencies.append((time.perf_counter() - start) * 1000)
        runs[query_id] = [ids[i] for i in top]
    return runs, latencies


def baseline_bm25(dataset: BeirDataset, depth: int = DEPTH
                  ) -> tuple[dict[str, list[str]], list[float]]:
    """Rank whole entries by bm25s: (query id -> corpus ids best first, latencies ms).

    An entry without any score > 0 for a query is not ranked (no shared term).
    """
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = list(dataset.corpus)
    tokens = bm25s.tokenize([entry_text(e.title, e.text) for e in dataset.corpus.values()],
                            stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    k = min(depth, len(ids))
    runs, latencies = {}, []
    for query_id, query in dataset.queries.items():
        start = time.perf_counter()
        query_tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer,
                                      show_progress=False)
        docs, scores = retriever.retrieve(query_tokens, k=k, show_progress=False,
                                          n_threads=1)
        latencies.append((time.perf_counter() - start) * 1000)
        runs[query_id] = [ids[int(d)] for d, s in zip(docs[0], scores[0]) if s > 0]
    return runs, latencies


def exact_dense_search(store, owner: str, documents: bool = False) -> Callable:
    """An exact replacement for ``store.dense_search`` over the owner's stored chunks
    (``documents``: for ``store.doc_search`` over its whole-document vectors).

    Reads every vector of the owner's collection once (call it after indexing). Rows
    are ordered by chunk id, and ties keep that order, so results are repeatable.
    Thread filters are honoured as in the store.
    """
    from rag.store.chroma import DenseHit

    vectors = store.doc_vectors if documents else store.chroma
    col = vectors.collection_for(owner) if vectors is not None else None
    if col is None:
        return lambda embedding, owner_, thread_id, k: []
    got = col.get(include=["embeddings", "documents", "metadatas"])
    rows = sorted(zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"]),
                  key=lambda row: row[0])
    ids = [r[0] for r in rows]
    matrix = np.asarray([r[1] for r in rows], dtype=np.float32).reshape(len(rows), -1)
    texts = [r[2] or "" for r in rows]
    metas = [dict(r[3] or {}) for r in rows]

    def dense_search(embedding, owner_: str, thread_id: str | None, k: int) -> list[DenseHit]:
        if owner_ != owner or k <= 0 or not ids:
            return []
        scores = matrix @ np.asarray(embedding, dtype=np.float32)
        if thread_id is not None:
            scores = np.where([m.get("thread_id") == thread_id for m in metas], scores, -np.inf)
        top = [i for i in _top(scores, k) if np.isfinite(scores[i])]
        return [DenseHit(ids[i], float(scores[i]), texts[i], metas[i]) for i in top]

    return dense_search
