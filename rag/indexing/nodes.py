"""Nodes of the indexing flow: Load >> Dedup >> Chunk >> Embed >> Store.

Discipline: prep reads ``shared``, exec does the work and never touches it,
post writes ``shared`` and returns the action. CPU work runs in worker threads.
Shared keys: ctx (IndexContext), source (Source), scope (Scope) are inputs;
document, chunks, embeddings, status are written by the nodes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
from pocketflow import AsyncNode, AsyncParallelBatchNode

from rag.chunking import document_vector_text
from rag.embeddings.base import embed_async
from rag.errors import EmptyDocumentError
from rag.indexing.context import IndexContext
from rag.loaders.files import load_file, load_text_document


class LoadDocument(AsyncNode):
    """Purpose: read and parse one source (file or text) into sections.

    Input: shared["ctx"], shared["source"].
    Output: shared["document"] (LoadedDocument, doc_id = SHA-256 of the bytes).
    Actions: "default". Raises a DocumentError for bad input.
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        return shared["ctx"], shared["source"]

    async def exec_async(self, prep_res: Any) -> Any:
        ctx, source = prep_res
        await ctx.emit(source.filename, "load", 0, 1)
        limit = ctx.settings.upload_max_bytes
        if source.path is not None and ctx.parser is not None:  # untrusted: a child process
            doc = await ctx.parser.load(source.path, source.filename, limit)
        elif source.path is not None:
            doc = await asyncio.to_thread(load_file, source.path, source.filename, limit)
        else:
            doc = await asyncio.to_thread(
                load_text_document, source.filename, source.text or "", source.metadata, limit)
        await ctx.emit(source.filename, "load", doc.units, doc.units)
        return doc

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        shared["document"] = exec_res
        return "default"


class CheckDuplicate(AsyncNode):
    """Purpose: skip a document already indexed in this exact scope.

    Input: shared["ctx"], shared["scope"], shared["document"].
    Output: shared["status"] = "duplicate" when skipped.
    Actions: "new" (go on to Chunk) or "duplicate" (the flow ends).
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        scope = shared["scope"]
        return shared["ctx"].store, scope.owner, scope.thread_id, shared["document"].doc_id

    async def exec_async(self, prep_res: Any) -> Any:
        store, owner, thread_id, doc_id = prep_res
        return await asyncio.to_thread(store.is_indexed, owner, thread_id, doc_id)

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        if exec_res:
            shared["status"] = "duplicate"
            return "duplicate"
        return "new"


class SkipDuplicate(AsyncNode):
    """Purpose: end the run of a document already indexed in this scope.

    Input: shared["ctx"], shared["document"].
    Output: none (shared["status"] is already "duplicate").
    Actions: "default" (no successor: the flow ends).
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        return shared["ctx"], shared["document"].filename

    async def exec_async(self, prep_res: Any) -> Any:
        ctx, filename = prep_res
        await ctx.emit(filename, "store", 0, 0, "already indexed in this scope")

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        return "default"


class ChunkDocument(AsyncNode):
    """Purpose: split the document into <= 256-token chunks with citation metadata.

    Input: shared["ctx"], shared["scope"], shared["document"].
    Output: shared["chunks"] (list[Chunk]).
    Actions: "default". Raises EmptyDocumentError if no chunk has text.
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        return shared["ctx"], shared["scope"], shared["document"]

    async def exec_async(self, prep_res: Any) -> Any:
        ctx, scope, doc = prep_res
        chunks = await asyncio.to_thread(ctx.chunker.split, doc, scope.owner, scope.thread_id)
        if not chunks:
            raise EmptyDocumentError(doc.filename, "contains no text to index.")
        await ctx.emit(doc.filename, "chunk", len(chunks), len(chunks))
        return chunks

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        shared["chunks"] = exec_res
        return "default"


class ReuseEmbeddings(AsyncNode):
    """Purpose: skip embedding when the owner already indexed this content in another
    thread (content hash = doc_id): copy those vectors instead.

    Input: shared["ctx"], shared["scope"], shared["document"], shared["chunks"].
    Output: shared["embeddings"] and shared["doc_vector"] when reused (only when that
    thread also has the document vector: else everything is embedded again).
    Actions: "reuse" (go to Store) or "embed" (go to Embed).
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        scope = shared["scope"]
        return (shared["ctx"], scope.owner, shared["document"],
                [c.text for c in shared["chunks"]])

    async def exec_async(self, prep_res: Any) -> Any:
        ctx, owner, doc, texts = prep_res
        vectors = await asyncio.to_thread(ctx.store.reusable_vectors, owner, doc.doc_id, texts)
        if vectors is not None and vectors[1] is None and ctx.store.doc_vectors is not None:
            vectors = None  # indexed before document vectors: embed the document again
        if vectors is not None:
            await ctx.emit(doc.filename, "embed", 1, 1, "vectors reused from another thread")
        return vectors

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        if exec_res is None:
            return "embed"
        shared["embeddings"], shared["doc_vector"] = exec_res
        return "reuse"


@dataclass
class EmbedBatch:
    """One batch of chunk texts; ``progress`` is shared by the batches of one run."""

    ctx: IndexContext
    filename: str
    texts: list[str]
    total: int
    progress: list[Any]


class EmbedChunks(AsyncParallelBatchNode):
    """Purpose: embed the chunks and the whole document (its text for the document
    vector, rag.chunking.document_vector_text, as one more text of the last batch),
    batches in parallel (the embedder bounds concurrency).

    Input: shared["ctx"], shared["chunks"], shared["document"].
    Output: shared["embeddings"] (float32 (n, d), unit rows, in chunk order),
    shared["doc_vector"] (float32 (d,)).
    Actions: "default".
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        ctx, chunks = shared["ctx"], shared["chunks"]
        size = ctx.settings.embed_batch
        texts = [c.embedding_text for c in chunks]  # context line + chunk
        texts.append(document_vector_text(shared["document"]))
        total = (len(texts) + size - 1) // size
        progress: list[Any] = [0]
        name = shared["document"].filename
        return [EmbedBatch(ctx, name, texts[i:i + size], total, progress)
                for i in range(0, len(texts), size)]

    async def exec_async(self, batch: EmbedBatch) -> Any:
        ctx = batch.ctx
        async with ctx.embed_slots:
            vectors = await embed_async(ctx.embedder, batch.texts)
        batch.progress[0] += 1
        await ctx.emit(batch.filename, "embed", batch.progress[0], batch.total)
        return vectors

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        vectors = np.vstack(exec_res).astype(np.float32, copy=False)
        shared["embeddings"], shared["doc_vector"] = vectors[:-1], vectors[-1]
        return "default"


class StoreChunks(AsyncNode):
    """Purpose: write chunks + vectors to Chroma and the keyword index, all or nothing.

    Input: shared["ctx"], shared["scope"], shared["document"], shared["chunks"],
    shared["embeddings"], shared["doc_vector"] (None: the document gets no document
    vector).
    Output: shared["status"] ("indexed", or "duplicate" if a concurrent run won).
    Actions: "default".
    """

    async def prep_async(self, shared: dict[str, Any]) -> Any:
        return (shared["ctx"], shared["scope"], shared["document"], shared["chunks"],
                shared["embeddings"], shared.get("doc_vector"))

    async def exec_async(self, prep_res: Any) -> Any:
        ctx, scope, doc, chunks, embeddings, doc_vector = prep_res
        status = await asyncio.to_thread(
            ctx.store.write_document, scope.owner, scope.thread_id, doc.doc_id, doc.filename,
            chunks, embeddings, doc_vector)
        await ctx.emit(doc.filename, "store", len(chunks), len(chunks))
        return status

    async def post_async(self, shared: dict[str, Any], prep_res: Any, exec_res: Any) -> Any:
        shared["status"] = exec_res
        return "default"
