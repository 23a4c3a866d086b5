"""RagService: the public entry point for indexing and retrieval.

Contract: every method is async; ``index_files`` / ``index_texts`` never raise for a bad
document (its IndexReport says ``failed`` with the named ``rag.errors`` error); every read
and write is limited to the caller's ``rag.models.Scope`` (owner, and thread when set).
It satisfies ``agents.protocols.Retriever`` (search, count_chunks, list_documents).

One instance per process is enough; it is safe to share between concurrent
sessions. Blocking work (parsing, embedding, Chroma, SQLite) runs in worker
threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.chunking import Chunker
from rag.config import RagSettings
from rag.embeddings import make_embedder
from rag.embeddings.base import Embedder, embed_async
from rag.errors import DocumentError, QuotaExceededError
from rag.indexing.context import IndexContext, ProgressCallback, Source
from rag.indexing.flow import INDEX_FLOW
from rag.loaders.sandbox import ParserPool
from rag.models import DocumentInfo, IndexReport, Mode, Scope, SearchResult, TextDocument
from rag.retrieval import (
    Candidate,
    add_document_scores,
    convex_fuse,
    dedupe,
    document_aware,
    has_exact_terms,
    rrf_fuse,
)
from rag.store.chroma import ChromaStore, collection_name, make_client
from rag.store.document_store import DocumentStore, ReconcileReport

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

#: embedder spec -> instance: one model per process, however many services.
_EMBEDDERS: dict[str, Embedder] = {}
MODES = ("hybrid", "dense", "bm25")
#: start-up sweep on a shared (PostgreSQL) store: leave documents updated in the last
#: hour alone, they may be another instance's indexing in progress (the CLI's default too)
SHARED_STALE_AFTER_S = 3600.0


def shared_embedder(settings: RagSettings) -> Embedder:
    """The process-wide embedder for ``settings.embedder`` (built on first use)."""
    if settings.embedder not in _EMBEDDERS:
        _EMBEDDERS[settings.embedder] = make_embedder(settings)
    return _EMBEDDERS[settings.embedder]


class RagService:
    """Index documents into a scope and search them with citations.

    Build it with ``await RagService.open(settings)``.
    """

    def __init__(self, settings: RagSettings, embedder: Embedder, store: DocumentStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.chunker = Chunker(_chunk_tokenizer(embedder), settings.chunk_tokens,
                               settings.chunk_overlap, settings.chunk_context)
        self._slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Semaphore, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()
        #: query-side operations run at once per event loop (``RAG_QUERY_CONCURRENCY``;
        #: default the usable cores, ``os.sched_getaffinity``; 0 = no limit)
        self.query_concurrency: int = (
            settings.query_concurrency if settings.query_concurrency is not None
            else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)
        self._query_slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
        self.parser = ParserPool(settings.parse_limits)
        #: owner -> [files, bytes] queued or being indexed (the per-user quota)
        self._pending: dict[str, list[int]] = {}
        self.indexing_running = 0
        self.indexing_waiting = 0

    def _loop_slots(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        """(embed, file) semaphores of the running loop: a local embedder runs one batch
        at a time (it uses every core), an API embedder four; files in flight are
        bounded by ``index_concurrency`` so parsing and storing overlap embedding."""
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            local = not hasattr(self.embedder, "aembed")
            self._slots[loop] = (asyncio.Semaphore(1 if local else 4),
                                 asyncio.Semaphore(self.settings.index_concurrency))
        return self._slots[loop]

    def _query_slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The running loop's query semaphore (``query_concurrency`` slots), or a no-op
        when unlimited: held by ``search``, ``document_scores`` and ``embed_texts`` for
        their whole call, so answers beyond the cores wait instead of crowding the
        cores, and the event loop, with CPU work."""
        if self.query_concurrency <= 0:
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        slot = self._query_slots.get(loop)
        if slot is None:
            slot = self._query_slots[loop] = asyncio.Semaphore(self.query_concurrency)
        return slot

    @classmethod
    async def open(cls, settings: RagSettings | None = None,
                   embedder: Embedder | None = None) -> RagService:
        """Open (or create) the store described by ``settings``.

        Args:
            settings: default ``RagSettings()`` (environment).
            embedder: override the configured embedder (tests share one instance).

        Raises:
            ValueError: bad embedder spec. chromadb errors: Chroma unreachable.
        """
        settings = settings or RagSettings()
        chosen: Embedder = (embedder if embedder is not None
                            else await asyncio.to_thread(shared_embedder, settings))
        store = await asyncio.to_thread(_open_store, settings, chosen)
        service = cls(settings, chosen, store)
        await asyncio.to_thread(service.parser.warm_up)
        return service

    # ---- indexing -------------------------------------------------------------------

    async def index_files(self, paths: Sequence[str | Path], scope: Scope,
                          on_progress: ProgressCallback | None = None,
                          filenames: Sequence[str] | None = None) -> list[IndexReport]:
        """Index files into ``scope``; one report per path, in order. Never raises for a
        bad file: it becomes ``IndexReport(status="failed", error=...)``.

        Args:
            paths: files on disk.
            filenames: display names (uploads have temporary names); default each path's name.
            on_progress: sync or async callback receiving IndexProgress events.
        """
        if filenames is not None and len(filenames) != len(paths):
            raise ValueError("filenames must match paths one to one")
        sources = [
            Source(filename=(filenames[i] if filenames else Path(p).name), path=Path(p))
            for i, p in enumerate(paths)
        ]
        return await self._index_sources(sources, scope, on_progress)

    async def index_texts(self, documents: Sequence[TextDocument], scope: Scope,
                          on_progress: ProgressCallback | None = None) -> list[IndexReport]:
        """Index in-memory texts (doc_id = SHA-256 of the UTF-8 text); like index_files."""
        sources = [Source(filename=d.name, text=d.text, metadata=dict(d.metadata))
                   for d in documents]
        return await self._index_sources(sources, scope, on_progress)

    async def _index_sources(self, sources: list[Source], scope: Scope,
                             on_progress: ProgressCallback | None) -> list[IndexReport]:
        embed_slots, file_slots = self._loop_slots()
        ctx = IndexContext(self.settings, self.embedder, self.chunker, self.store,
                           embed_slots, on_progress, parser=self.parser)
        return list(await asyncio.gather(
            *(self._index_one(ctx, s, scope, file_slots) for s in sources)))

    def indexing_load(self) -> dict[str, Any]:
        """{"running", "waiting", "slots", "saturated"}: files being indexed, files
        waiting for a slot, the slots, and whether a new file would wait behind at least
        ``ready_max_waiting`` others with every slot busy (readiness fails then)."""
        slots = self.settings.index_concurrency
        saturated = (self.indexing_running >= slots
                     and self.indexing_waiting >= self.settings.ready_max_waiting)
        return {"running": self.indexing_running, "waiting": self.indexing_waiting,
                "slots": slots, "saturated": saturated}

    @contextlib.contextmanager
    def _quota(self, source: Source, owner: str) -> Iterator[None]:
        """Count the file against its owner's quota while it waits and runs.

        Raises:
            QuotaExceededError: the owner already has ``user_max_pending_files`` files or
                ``user_max_pending_mb`` MB queued or being indexed.
        """
        size = 0
        if source.path is not None:
            with contextlib.suppress(OSError):
                size = os.stat(source.path).st_size
        files, used = self._pending.get(owner, [0, 0])
        limit_files = self.settings.user_max_pending_files
        limit_bytes = int(self.settings.user_max_pending_mb * 1024 * 1024)
        if files >= limit_files:
            raise QuotaExceededError(
                source.filename, f"was not indexed: you already have {files} files waiting "
                f"or being indexed, the limit per user (RAG_USER_MAX_PENDING_FILES="
                f"{limit_files}). Upload it again when they are done.")
        if files and used + size > limit_bytes:
            raise QuotaExceededError(
                source.filename, f"was not indexed: with the {used / 1048576:.1f} MB you "
                f"already have waiting or being indexed it would pass the limit of "
                f"{limit_bytes / 1048576:.0f} MB per user (RAG_USER_MAX_PENDING_MB). "
                "Upload it again when they are done.")
        self._pending[owner] = [files + 1, used + size]
        try:
            yield
        finally:
            entry = self._pending[owner]
            entry[0] -= 1
            entry[1] -= size
            if entry[0] <= 0:
                del self._pending[owner]

    async def _index_one(self, ctx: IndexContext, source: Source, scope: Scope,
                         file_slots: asyncio.Semaphore) -> IndexReport:
        try:
            with self._quota(source, scope.owner):
                self.indexing_waiting += 1
                try:
                    await file_slots.acquire()
                finally:
                    self.indexing_waiting -= 1
                self.indexing_running += 1
                try:
                    return await self._index_in_slot(ctx, source, scope)
                finally:
                    self.indexing_running -= 1
                    file_slots.release()
        except QuotaExceededError as exc:
            await ctx.emit(source.filename, "failed", 0, 0, str(exc))
            return IndexReport(source.label, source.filename, None, "failed", 0, str(exc), 0.0)

    async def _index_in_slot(self, ctx: IndexContext, source: Source,
                             scope: Scope) -> IndexReport:
        start = time.perf_counter()
        shared: dict[str, Any] = {"ctx": ctx, "source": source, "scope": scope}
        try:
            await INDEX_FLOW.run_async(shared)
        except Exception as exc:  # a bad file never stops the others
            error = str(exc) if isinstance(exc, DocumentError) else (
                f"{source.filename}: indexing failed ({type(exc).__name__}: {exc})")
            if not isinstance(exc, DocumentError):
                log.exception("indexing %s failed", source.label)
            await ctx.emit(source.filename, "failed", 0, 0, error)
            doc = shared.get("document")
            return IndexReport(source.label, source.filename, doc.doc_id if doc else None,
                               "failed", 0, error, time.perf_counter() - start,
                               retryable=not isinstance(exc, DocumentError))
        doc, status = shared["document"], shared.get("status", "indexed")
        chunks = len(shared.get("chunks", [])) if status == "indexed" else 0
        await ctx.emit(source.filename, "done", chunks, chunks, status)
        return IndexReport(source.label, source.filename, doc.doc_id, status, chunks, None,
                           time.perf_counter() - start)

    # ---- retrieval ------------------------------------------------------------------

    async def search(self, query: str, scope: Scope, k: int = 5,
                     mode: Mode = "hybrid", fusion: str | None = None) -> list[SearchResult]:
        """The k best chunks of ``scope`` for ``query``, best first.

        mode: "hybrid" (dense and BM25 fused; with settings.hybrid_bm25 "exact_terms"
        BM25 joins only for a query with identifier-like terms, rag.retrieval.
        has_exact_terms, else the ranking is dense), "dense" (cosine similarity) or
        "bm25" (SQLite FTS5, score = -bm25()). fusion (hybrid only; default
        settings.fusion): "convex" (min-max normalised scores, alpha =
        settings.convex_alpha on dense) or "rrf" (reciprocal rank fusion, settings.rrf_k
        and the two weights). Then chunks are re-ranked with their document's other
        candidates (rag.retrieval.document_aware: settings.doc_share,
        settings.first_chunk_prior). Convex hybrid then adds the whole-document vector
        (rag.retrieval.add_document_scores, settings.doc_vector_weight; 0 = off).
        Waits for a query slot first (``query_concurrency``).

        Raises:
            ValueError: unknown mode or fusion.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        fusion = fusion or self.settings.fusion
        if fusion not in ("convex", "rrf"):
            raise ValueError(f"fusion must be 'convex' or 'rrf', not {fusion!r}")
        if not query.strip() or k <= 0:
            return []
        async with self._query_slot():
            return await self._search(query, scope, k, mode, fusion)

    async def _search(self, query: str, scope: Scope, k: int, mode: Mode,
                      fusion: str) -> list[SearchResult]:
        """``search`` after its checks, inside a query slot."""
        # the whole-document vectors join the default retrieval (convex hybrid, gated or
        # not); not RRF, whose 1/(k + rank) scores a normalised cosine would swamp
        doc_weight = (self.settings.doc_vector_weight
                      if mode == "hybrid" and fusion == "convex" else 0.0)
        if mode == "hybrid" and self.settings.hybrid_bm25 == "exact_terms" \
                and not has_exact_terms(query):
            mode = "dense"  # the gate: BM25 only pulls good dense hits down here
        # a fixed depth: the top k must not depend on k (settings.candidate_depth)
        depth = max(2 * k, self.settings.candidate_depth)
        # owner-wide, a chunk stored once per thread is one candidate per copy (dedupe
        # merges them); at this depth that costs a few places, not the top k
        docs = doc_weight > 0
        vector: np.ndarray | None = None
        doc_hits: list[Any] = []
        if mode == "dense":
            vector, dense, doc_hits = await self._dense(query, scope, depth, docs)
            scored = [(c, c.score) for c in dense]
        elif mode == "bm25":
            scored = [(c, c.score) for c in await self._keyword(query, scope, depth)]
        else:
            (vector, dense, doc_hits), keyword = await asyncio.gather(
                self._dense(query, scope, depth, docs), self._keyword(query, scope, depth))
            scored = self._fuse(dense, keyword, fusion)
        ranked = document_aware(scored, self.settings.doc_share,
                                self.settings.first_chunk_prior)
        if doc_hits and vector is not None:
            ranked = await self._with_documents(ranked, doc_hits, doc_weight, vector,
                                                scope, k)
        return _results(ranked[:k])

    async def _with_documents(self, ranked: list[tuple[Candidate, float]],
                              doc_hits: list[Any], weight: float, vector: np.ndarray,
                              scope: Scope, k: int) -> list[tuple[Candidate, float]]:
        """Fuse the whole-document ranking in (rag.retrieval.add_document_scores); a
        document that enters the top k by its document vector alone cites its chunk
        nearest to the query."""
        fused = add_document_scores(
            ranked, [(str(h.metadata.get("doc_id", "")), h.score) for h in doc_hits], weight)
        hit_of: dict[str, Any] = {}
        for hit in doc_hits:
            hit_of.setdefault(str(hit.metadata.get("doc_id", "")), hit)
        entering = [hit_of[item] for item, _ in fused[:k] if isinstance(item, str)]
        best = await asyncio.to_thread(self.store.best_chunks, vector, scope.owner,
                                       entering) if entering else {}
        out: list[tuple[Candidate, float]] = []
        for item, score in fused:
            if isinstance(item, str):
                if item not in best:
                    continue  # no visible chunk (deleted meanwhile) or below the top k
                hit = best[item]
                item = Candidate(hit.chunk_id, hit.score, hit.text, hit.metadata)
            out.append((item, score))
        return out

    def _fuse(self, dense: list[Candidate], keyword: list[Candidate],
              fusion: str) -> list[tuple[Candidate, float]]:
        by_id = {c.chunk_id: c for c in keyword}
        by_id.update({c.chunk_id: c for c in dense})
        if fusion == "convex":
            alpha = self.settings.convex_alpha
            fused = convex_fuse([[(c.chunk_id, c.score) for c in dense],
                                 [(c.chunk_id, c.score) for c in keyword]], [alpha, 1 - alpha])
        else:
            fused = rrf_fuse([[c.chunk_id for c in dense], [c.chunk_id for c in keyword]],
                             [self.settings.dense_weight, self.settings.bm25_weight],
                             self.settings.rrf_k)
        return [(by_id[cid], score) for cid, score in fused]

    async def _dense(self, query: str, scope: Scope, depth: int, docs: bool = False
                     ) -> tuple[np.ndarray, list[Candidate], list[Any]]:
        """(query vector, chunk candidates, document-vector hits if ``docs`` else [])."""
        if not docs and not hasattr(self.embedder, "aembed"):
            # a local embedder: embedding and the chunk query in one worker-thread hop
            vector, hits = await asyncio.to_thread(self._dense_sync, query, scope, depth)
            return vector, _candidates(hits), []
        vector = (await embed_async(self.embedder, [query]))[0]
        searches = [asyncio.to_thread(self.store.dense_search, vector, scope.owner,
                                      scope.thread_id, depth)]
        if docs:  # in parallel: each is a Chroma query of ~20-35 ms at 10,000 chunks
            searches.append(asyncio.to_thread(self.store.doc_search, vector, scope.owner,
                                              scope.thread_id, depth))
        hits, *doc_hits = await asyncio.gather(*searches)
        return vector, _candidates(hits), doc_hits[0] if doc_hits else []

    def _dense_sync(self, query: str, scope: Scope, depth: int
                    ) -> tuple[np.ndarray, list[Any]]:
        vector = self.embedder.embed([query])[0]
        return vector, self.store.dense_search(vector, scope.owner, scope.thread_id, depth)

    async def _keyword(self, query: str, scope: Scope, depth: int) -> list[Candidate]:
        return _candidates(await asyncio.to_thread(self.store.keyword_search, query,
                                                   scope.owner, scope.thread_id, depth))

    async def document_scores(self, query: str, scope: Scope, k: int = 10
                              ) -> list[tuple[str, float]]:
        """The ``k`` nearest whole-document vectors of ``scope`` for ``query``.

        Returns:
            ``(doc_id, cosine)`` pairs, best first, at most ``k``, each document once (a
            document stored in several threads of an owner-wide scope keeps its best
            copy); [] for an empty query, ``k <= 0`` or a store without document vectors.
            Read by the answering flow's support evidence (agents.evidence), not by search.
        """
        if not query.strip() or k <= 0:
            return []
        async with self._query_slot():
            vector = (await embed_async(self.embedder, [query]))[0]
            hits = await asyncio.to_thread(self.store.doc_search, vector, scope.owner,
                                           scope.thread_id, 2 * k)
        best: dict[str, float] = {}
        for hit in hits:  # best first
            best.setdefault(str(hit.metadata.get("doc_id", "")), float(hit.score))
        return list(best.items())[:k]

    async def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` with the store's embedder, off the event loop.

        Returns:
            float32 array (len(texts), dimensions), rows L2-normalised. Used by the
            answering flow to score sentences against the question. Waits for a
            query slot (``query_concurrency``).
        """
        async with self._query_slot():
            return await embed_async(self.embedder, list(texts))

    # ---- documents ------------------------------------------------------------------

    async def list_documents(self, scope: Scope) -> list[DocumentInfo]:
        """Documents indexed in the scope (owner-wide: one row per thread it is in)."""
        return await asyncio.to_thread(self.store.list_documents, scope.owner, scope.thread_id)

    async def delete_document(self, doc_id: str, scope: Scope) -> int:
        """Delete a document from the scope (thread None: from all the owner's threads)
        from Chroma and the keyword index. Returns the chunks removed (0 if absent)."""
        return await asyncio.to_thread(self.store.delete_document, scope.owner,
                                       scope.thread_id, doc_id)

    async def document_pages(self, scope: Scope) -> dict[str, int]:
        """doc_id -> PDF pages indexed, for the owner's documents that have page numbers."""
        from rag.store.document_store import document_pages

        return await asyncio.to_thread(document_pages, self.store, scope.owner)

    async def delete_owner(self, owner: str) -> int:
        """Delete every document of ``owner`` in every thread and its vector collection
        (a removed user). Returns the number of documents removed."""
        return await asyncio.to_thread(self.store.delete_owner, owner)

    async def rename_owner(self, old: str, new: str) -> int:
        """Move every document of ``old`` to ``new`` (see ``DocumentStore.rename_owner``:
        crash-safe, idempotent). Returns the documents moved."""
        return await asyncio.to_thread(self.store.rename_owner, old, new)

    async def rename_owners(self, mapping: dict[str, str]) -> dict[str, int]:
        """``rename_owner`` for each old -> new pair whose old owner has any data (a
        start-up migration). Returns {old: documents moved}."""
        return await asyncio.to_thread(self.store.rename_owners, mapping)

    async def reconcile(self, stale_after_s: float | None = None) -> ReconcileReport:
        """Remove vectors and keyword rows of documents that are not indexed (what a
        killed process left) and mark its unfinished documents failed; see
        ``DocumentStore.reconcile``.

        Args:
            stale_after_s: sweep only documents not updated for this many seconds.
                None (the start-up sweep): 0 on the private SQLite store, where nothing
                else can be indexing; :data:`SHARED_STALE_AFTER_S` on PostgreSQL, where
                other instances and workers may be indexing right now.
        """
        if stale_after_s is None:
            from rag.store.backend import backend_name

            stale_after_s = (SHARED_STALE_AFTER_S if backend_name(self.settings) == "postgresql"
                             else 0.0)
        report = await asyncio.to_thread(self.store.reconcile, stale_after_s)
        if not report.empty:
            log.warning("reconcile: swept %d unfinished documents, %d orphan vectors, "
                        "%d keyword rows, %d document vectors", len(report.documents),
                        report.vectors, report.keyword_rows, report.document_vectors)
        return report

    async def count_chunks(self, scope: Scope) -> int:
        """Distinct chunks searchable in the scope."""
        return await asyncio.to_thread(self.store.count_chunks, scope.owner, scope.thread_id)

    async def check(self) -> dict[str, Any]:
        """Readiness: {"chroma": "ok", "keyword_index": "ok", "embedder": "ok"}.

        Raises:
            Whatever fails (Chroma unreachable, embedder broken).
        """
        status = await asyncio.to_thread(self.store.health)
        vector = await embed_async(self.embedder, ["readiness check"])
        if vector.shape != (1, self.embedder.dimensions):
            raise RuntimeError(f"embedder returned shape {vector.shape}")
        status["embedder"] = "ok"
        return status

    async def close(self) -> None:
        """Close SQLite and the Chroma client (the embedder stays cached for the process)."""
        await asyncio.to_thread(self.store.close)


def _candidates(hits: Sequence[Any]) -> list[Candidate]:
    """Store hits (DenseHit or keyword hits: chunk_id, score, text, metadata) as fusion
    candidates, one per chunk (rag.retrieval.dedupe)."""
    return dedupe(Candidate(h.chunk_id, h.score, h.text, h.metadata) for h in hits)


def _results(scored: list[tuple[Candidate, float]]) -> list[SearchResult]:
    out = []
    for rank, (cand, score) in enumerate(scored, start=1):
        meta = cand.metadata
        page = meta.get("page")
        out.append(SearchResult(
            chunk_id=cand.chunk_id, doc_id=str(meta.get("doc_id", "")), text=cand.text,
            score=float(score), rank=rank, source=str(meta.get("source", "")),
            page=int(page) if page is not None else None, heading=meta.get("heading") or None,
            metadata=dict(meta)))
    return out


def _chunk_tokenizer(embedder: Embedder) -> Tokenizer:
    tokenizer: Tokenizer | None = getattr(embedder, "tokenizer", None)
    if tokenizer is None:
        from rag.embeddings.minilm import load_tokenizer

        tokenizer = load_tokenizer(None)
    return tokenizer


def _open_store(settings: RagSettings, embedder: Embedder) -> DocumentStore:
    client = make_client(settings)
    chroma = ChromaStore(client, settings.collection, embedder)
    # whole-document vectors: sibling collections "<collection>-docs_<embedder>_<owner>"
    doc_vectors = ChromaStore(client, f"{settings.collection}-docs", embedder)
    from rag.store.backend import open_index

    try:
        db, keyword, registry = open_index(settings, collection_name(settings.collection,
                                                                     embedder))
    except BaseException:
        chroma.close()
        raise
    return DocumentStore(chroma, db, keyword, registry, doc_vectors)
