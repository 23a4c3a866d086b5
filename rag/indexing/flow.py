"""The indexing AsyncFlow, built once and shared by every run.

    Load >> Dedup -"new"-> Chunk >> Reuse -"embed"-> Embed >> Store
            Dedup -"duplicate"-> SkipDuplicate   Reuse -"reuse"-> Store

Reuse copies the vectors when the same owner indexed the same bytes in another
thread, so a document is embedded once per owner.

Never ``set_params`` on it and never store run state on its nodes: a run's
inputs and outputs live in the ``shared`` dict (see rag.indexing.nodes).
"""

from __future__ import annotations

from pocketflow import AsyncFlow

from rag.indexing.nodes import (
    CheckDuplicate,
    ChunkDocument,
    EmbedChunks,
    LoadDocument,
    ReuseEmbeddings,
    SkipDuplicate,
    StoreChunks,
)


def build_index_flow() -> AsyncFlow:
    """A new indexing flow (use the shared ``INDEX_FLOW`` instead of building per run)."""
    load, dedup, chunk = LoadDocument(), CheckDuplicate(), ChunkDocument()
    embed, store = EmbedChunks(), StoreChunks(max_retries=2, wait=0.5)
    load >> dedup
    dedup - "new" >> chunk
    dedup - "duplicate" >> SkipDuplicate()
    reuse = ReuseEmbeddings()
    chunk >> reuse
    reuse - "embed" >> embed >> store
    reuse - "reuse" >> store
    return AsyncFlow(start=load)


INDEX_FLOW = build_index_flow()
