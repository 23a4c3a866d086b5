"""Which documents a question searches: all of the user's, this thread's files first.

A new chat searches every document of the user (setting "All my documents", the
default); documents attached in the current thread are preferred there by
:class:`ThreadPreferringRetriever`, a boost rather than a filter: a question about
another chat's file still finds it. The setting "This thread's documents" keeps the
strict filter.

The boost is a weighted reciprocal-rank fusion (Cormack et al., SIGIR 2009, k = 60) of
the owner-wide ranking (weight 1) and the thread's own ranking (weight
``THREAD_BOOST``): a chunk of the thread's files scores
``1/(60 + rank_all) + THREAD_BOOST/(60 + rank_thread)``. ``THREAD_BOOST`` was chosen
on the Python FAQ set with ``python -m bench.scope_bench`` (numbers in the README).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import chainlit as cl

from rag.models import DocumentInfo, Scope, SearchResult

RRF_K = 60
WIDEN_ACTION = "widen_scope"
THREAD_BOOST = 1.0


def prefer_thread(everywhere: Sequence[SearchResult], in_thread: Sequence[SearchResult],
                  k: int, boost: float = THREAD_BOOST) -> list[SearchResult]:
    """Fuse an owner-wide ranking with the thread's ranking, thread chunks boosted.

    Args:
        everywhere: best-first results over all the owner's documents.
        in_thread: best-first results over the thread's documents only.
        k: results kept.
        boost: weight of the thread ranking (0 = no preference).
    Returns:
        Up to ``k`` results, best first, ``rank`` renumbered from 1 and ``score`` the
        fused score; each chunk once (by ``chunk_id``).
    """
    scores: dict[str, float] = {}
    first: dict[str, SearchResult] = {}
    for weight, ranking in ((1.0, everywhere), (boost, in_thread)):
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (RRF_K + rank)
            first.setdefault(hit.chunk_id, hit)
    best = sorted(scores, key=lambda cid: -scores[cid])[:k]
    return [dataclasses.replace(first[cid], score=scores[cid], rank=i)
            for i, cid in enumerate(best, start=1)]


class ThreadPreferringRetriever:
    """A ``agents.protocols.Retriever`` over all of the owner's documents that prefers
    the documents indexed in ``thread_id`` (see the module docstring).

    Args:
        retriever: the real retriever (``RagService``).
        thread_id: the current thread; None searches owner-wide without preference.
        boost: weight of the thread's ranking in the fusion.
    """

    def __init__(self, retriever: Any, thread_id: str | None,
                 boost: float = THREAD_BOOST) -> None:
        self.retriever = retriever
        self.thread_id = thread_id
        self.boost = boost

    async def search(self, query: str, scope: Scope, k: int = 5,
                     mode: Any = "hybrid") -> Sequence[SearchResult]:
        """The ``k`` best chunks of ``scope``; when it is owner-wide, the thread's first."""
        if scope.thread_id is not None or not self.thread_id or self.boost <= 0:
            return await self.retriever.search(query, scope, k=k, mode=mode)
        local = Scope(owner=scope.owner, thread_id=self.thread_id)
        if not await self.retriever.count_chunks(local):
            return await self.retriever.search(query, scope, k=k, mode=mode)
        everywhere, in_thread = await asyncio.gather(
            self.retriever.search(query, scope, k=k, mode=mode),
            self.retriever.search(query, local, k=k, mode=mode))
        return prefer_thread(everywhere, in_thread, k, self.boost)

    async def count_chunks(self, scope: Scope) -> int:
        """Chunks searchable in ``scope`` (delegated)."""
        return int(await self.retriever.count_chunks(scope))

    async def list_documents(self, scope: Scope) -> Sequence[DocumentInfo]:
        """Documents of ``scope`` (delegated)."""
        return await self.retriever.list_documents(scope)

    async def embed_texts(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """Embeddings of ``texts`` with the store's embedder (delegated): the wrapper is
        an ``agents.protocols.SentenceEncoder`` too, so extractive answers keep their
        support decision behind it."""
        result: Sequence[Sequence[float]] = await self.retriever.embed_texts(texts)
        return result


def scope_words(thread_only: bool) -> str:
    """How a reply names what it searched."""
    return "this chat's documents" if thread_only else "all your documents"


def found_nothing(result: Any) -> bool:
    """True when a run had nothing to cite: no documents in scope (``need_docs``) or a
    search that found no passage the answer could use."""
    return result.route == "need_docs" or (result.route == "retrieve" and not result.citations)


def scope_reply(question: str, thread_only: bool) -> cl.Message:
    """The note after an answer that found nothing: what was searched and, when only
    this chat's documents were, a button that searches all of them."""
    searched = scope_words(thread_only)
    if not thread_only:
        return cl.Message(content=f"_I searched {searched}. Attach a file to a message to "
                                  "add documents._")
    action = cl.Action(name=WIDEN_ACTION, payload={"question": question[:2000]},
                       label="Search all my documents", icon="search",
                       tooltip="Switch this chat to all your documents and ask again")
    return cl.Message(content=f"_I searched only {searched} (Settings: Search in)._",
                      actions=[action])
