"""RagService: the public entry point for indexing and retrieval (see contracts.md).

One instance per process is enough; it is safe to share between concurrent
sessions. Blocking work (parsing, embedding, Chroma, SQLite) runs in worker
threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from rag.chunking import Chunker
from rag.config import RagSettings
from rag.embeddings import make_embedder
from rag.embeddings.base import Embedder, embed_async
from rag.errors import DocumentError
from rag.indexing.context import IndexContext, ProgressCallback, Source
from rag.indexing.flow import INDEX_FLOW
from rag.models import DocumentInfo, IndexReport, Mode, Scope, SearchResult, TextDocument
from rag.retrieval import Candidate, convex_fuse, dedupe, rrf_fuse
from rag.store import DocumentStore
from rag.store.chroma import ChromaStore, collection_name, make_client
from rag.store.sqlite import SqliteDB

log = logging.getLogger(__name__)

#: embedder spec -> instance: one model per process, however many services.
_EMBEDDERS: dict[str, Embedder] = {}
MODES = ("hybrid", "dense", "bm25")


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
                               settings.chunk_overlap)
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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
        embedder = embedder or await asyncio.to_thread(shared_embedder, settings)
        store = await asyncio.to_thread(_open_store, settings, embedder)
        return cls(settings, embedder, store)

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
                           embed_slots, on_progress)
        return list(await asyncio.gather(
            *(self._index_one(ctx, s, scope, file_slots) for s in sources)))

    async def _index_one(self, ctx: IndexContext, source: Source, scope: Scope,
                         file_slots: asyncio.Semaphore) -> IndexReport:
        async with file_slots:
            start = time.perf_counter()
            shared: dict = {"ctx": ctx, "source": source, "scope": scope}
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
                                   "failed", 0, error, time.perf_counter() - start)
            doc, status = shared["document"], shared.get("status", "indexed")
            chunks = len(shared.get("chunks", [])) if status == "indexed" else 0
            await ctx.emit(source.filename, "done", chunks, chunks, status)
            return IndexReport(source.label, source.filename, doc.doc_id, status, chunks, None,
                               time.perf_counter() - start)

    # ---- retrieval ------------------------------------------------------------------

    async def search(self, query: str, scope: Scope, k: int = 5,
                     mode: Mode = "hybrid", fusion: str | None = None) -> list[SearchResult]:
        """The k best chunks of ``scope`` for ``query``, best first.

        mode: "hybrid" (dense and BM25 fused), "dense" (cosine similarity) or "bm25"
        (SQLite FTS5, score = -bm25()). fusion (hybrid only; default settings.fusion):
        "convex" (min-max normalised scores, alpha = settings.convex_alpha on dense) or
        "rrf" (reciprocal rank fusion, settings.rrf_k and the two weights).

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
        depth = k if mode != "hybrid" else max(2 * k, 40)
        if scope.thread_id is None:
            depth *= 2  # owner-wide: the same chunk may be stored once per thread
        dense: list[Candidate] = []
        keyword: list[Candidate] = []
        tasks = []
        if mode in ("hybrid", "dense"):
            tasks.append(self._dense(query, scope, depth))
        if mode in ("hybrid", "bm25"):
            tasks.append(self._keyword(query, scope, depth))
        results = await asyncio.gather(*tasks)
        if mode == "dense":
            dense = results[0]
        elif mode == "bm25":
            keyword = results[0]
        else:
            dense, keyword = results
        if mode != "hybrid":
            return _results([(c, c.score) for c in (dense or keyword)[:k]])
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
        return _results([(by_id[cid], score) for cid, score in fused[:k]])

    async def _dense(self, query: str, scope: Scope, depth: int) -> list[Candidate]:
        if hasattr(self.embedder, "aembed"):
            vector = (await embed_async(self.embedder, [query]))[0]
            hits = await asyncio.to_thread(self.store.dense_search, vector, scope.owner,
                                           scope.thread_id, depth)
        else:  # a local embedder: embedding and query in one worker-thread hop
            hits = await asyncio.to_thread(self._dense_sync, query, scope, depth)
        return dedupe(Candidate(h.chunk_id, h.score, h.text, h.metadata) for h in hits)

    def _dense_sync(self, query: str, scope: Scope, depth: int) -> list:
        vector = self.embedder.embed([query])[0]
        return self.store.dense_search(vector, scope.owner, scope.thread_id, depth)

    async def _keyword(self, query: str, scope: Scope, depth: int) -> list[Candidate]:
        hits = await asyncio.to_thread(self.store.keyword_search, query, scope.owner,
                                       scope.thread_id, depth)
        return dedupe(Candidate(h.chunk_id, h.score, h.text, h.metadata) for h in hits)

    # ---- documents ------------------------------------------------------------------

    async def list_documents(self, scope: Scope) -> list[DocumentInfo]:
        """Documents indexed in the scope (owner-wide: one row per thread it is in)."""
        return await asyncio.to_thread(self.store.list_documents, scope.owner, scope.thread_id)

    async def delete_document(self, doc_id: str, scope: Scope) -> int:
        """Delete a document from the scope (thread None: from all the owner's threads)
        from Chroma and the keyword index. Returns the chunks removed (0 if absent)."""
        return await asyncio.to_thread(self.store.delete_document, scope.owner,
                                       scope.thread_id, doc_id)

    async def count_chunks(self, scope: Scope) -> int:
        """Distinct chunks searchable in the scope."""
        return await asyncio.to_thread(self.store.count_chunks, scope.owner, scope.thread_id)

    async def check(self) -> dict:
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


def _chunk_tokenizer(embedder: Embedder):
    tokenizer = getattr(embedder, "tokenizer", None)
    if tokenizer is None:
        from rag.embeddings.minilm import load_tokenizer

        tokenizer = load_tokenizer(None)
    return tokenizer


def _open_store(settings: RagSettings, embedder: Embedder) -> DocumentStore:
    client = make_client(settings)
    chroma = ChromaStore(client, settings.collection, embedder)
    db = SqliteDB(settings.data_dir / f"{collection_name(settings.collection, embedder)}.db")
    return DocumentStore(chroma, db)
