"""Retrieve: turn the question into a standalone query and search the caller's scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.calls import structured_call
from agents.decisions import Rewrite
from agents.followup import standalone_query
from agents.memory import Memory
from agents.nodes.base import FlowNode
from agents.observer import emit_progress
from agents.prompts import rewrite_messages
from agents.protocols import Retriever, Router
from agents.state import RunState
from rag.models import Scope


@dataclass(frozen=True)
class RetrieveInput:
    """What Retrieve reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    memory: Memory
    scope: Scope
    retriever: Retriever
    router: Router
    k: int
    refined_query: str | None


class Retrieve(FlowNode):
    """Hybrid search for the chunks that answer the question.

    Purpose: rewrite a follow-up question into a standalone query using the history
        (no LLM call when there is no history; none either when Review handed over a
        refined query; without a model, agents.followup carries the previous
        question's subject), then run hybrid search in the caller's scope.
    Input: question, memory, scope, retriever, router, k, refined_query (set by Review).
    Output: query, chunks (list of rag SearchResult, best first); clears refined_query.
    Actions: "answer".
    """

    step_inputs = ("question", "refined_query")
    step_outputs = ("query", "chunks")

    async def prep_async(self, shared: RunState) -> RetrieveInput:
        return RetrieveInput(question=shared.question, memory=shared.memory, scope=shared.scope,
                             retriever=shared.retriever, router=shared.router, k=shared.k,
                             refined_query=shared.refined_query)

    async def exec_async(self, prep: RetrieveInput) -> dict[str, Any]:
        query = prep.refined_query or await self._standalone(prep)
        await emit_progress(f"searching: {query}", 0, 1)
        chunks = await prep.retriever.search(query, prep.scope, k=prep.k, mode="hybrid")
        await emit_progress(f"{len(chunks)} chunks found", 1, 1)
        return {"query": query, "chunks": chunks}

    async def _standalone(self, prep: RetrieveInput) -> str:
        question: str = prep.question
        if prep.memory.is_empty():
            return question
        rewrite = await structured_call(
            prep.router, "route", rewrite_messages(prep.question, prep.memory),
            Rewrite, default=Rewrite(query=standalone_query(prep.question, prep.memory)))
        return rewrite.query.strip() or question

    async def fallback(self, prep: RetrieveInput, exc: Exception) -> dict[str, Any]:
        query = prep.refined_query or prep.question
        try:  # the rewrite may be what failed: search with the question as asked
            chunks = await prep.retriever.search(query, prep.scope, k=prep.k,
                                                    mode="hybrid")
        except Exception:  # noqa: BLE001 - a graceful fallback: no chunks, Answer says so
            chunks = []
        return {"query": query, "chunks": chunks}

    async def post_async(self, shared: RunState, prep: RetrieveInput,
                         result: dict[str, Any]) -> str:
        shared.query, shared.chunks = result["query"], list(result["chunks"])
        shared.refined_query = None
        return "answer"
