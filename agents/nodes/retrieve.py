"""Retrieve: turn the question into a standalone query and search the caller's scope."""

from __future__ import annotations

from agents.calls import structured_call
from agents.decisions import Rewrite
from agents.nodes.base import FlowNode
from agents.observer import emit_progress
from agents.prompts import rewrite_messages


class Retrieve(FlowNode):
    """Hybrid search for the chunks that answer the question.

    Purpose: rewrite a follow-up question into a standalone query using the history
        (no LLM call when there is no history; none either when Review handed over a
        refined query), then run hybrid search in the caller's scope.
    Input: question, memory, scope, rag, router, k, refined_query (set by Review).
    Output: query, chunks (list of rag SearchResult, best first); clears refined_query.
    Actions: "answer".
    """

    step_inputs = ("question", "refined_query")
    step_outputs = ("query", "chunks")

    async def prep_async(self, shared: dict) -> dict:
        keys = ("question", "memory", "scope", "rag", "router", "k")
        return {**{key: shared[key] for key in keys},
                "refined_query": shared.get("refined_query")}

    async def exec_async(self, prep: dict) -> dict:
        query = prep["refined_query"] or await self._standalone(prep)
        await emit_progress(f"searching: {query}", 0, 1)
        chunks = await prep["rag"].search(query, prep["scope"], k=prep["k"], mode="hybrid")
        await emit_progress(f"{len(chunks)} chunks found", 1, 1)
        return {"query": query, "chunks": chunks}

    async def _standalone(self, prep: dict) -> str:
        if prep["memory"].is_empty():
            return prep["question"]
        rewrite = await structured_call(
            prep["router"], "route", rewrite_messages(prep["question"], prep["memory"]),
            Rewrite, default=Rewrite(query=prep["question"]))
        return rewrite.query.strip() or prep["question"]

    async def fallback(self, prep: dict, exc: Exception) -> dict:
        query = prep["refined_query"] or prep["question"]
        try:  # the rewrite may be what failed: search with the question as asked
            chunks = await prep["rag"].search(query, prep["scope"], k=prep["k"], mode="hybrid")
        except Exception:  # noqa: BLE001 - a graceful fallback: no chunks, Answer says so
            chunks = []
        return {"query": query, "chunks": chunks}

    async def post_async(self, shared: dict, prep: dict, result: dict) -> str:
        shared["query"], shared["chunks"] = result["query"], result["chunks"]
        shared.pop("refined_query", None)
        return "answer"
