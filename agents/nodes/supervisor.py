"""Supervisor: decide where a question goes."""

from __future__ import annotations

import asyncio

from agents.calls import structured_call
from agents.decisions import RouteDecision, default_route
from agents.nodes.base import FlowNode
from agents.prompts import route_messages


class Supervisor(FlowNode):
    """Route the question with a structured LLM decision.

    Purpose: look at the question, the conversation so far and what the user has
        indexed in this scope, and pick a route. The heuristic :func:`default_route`
        is the decision when no language model is configured (extractive provider)
        and when every attempt fails.
    Input: question, memory, scope, rag, router.
    Output: route, route_reason, chunk_count, documents (file names in scope).
    Actions: "retrieve" | "direct" | "need_docs" | "clarify".
    """

    step_inputs = ("question",)
    step_outputs = ("route", "route_reason", "chunk_count")

    async def prep_async(self, shared: dict) -> dict:
        return {key: shared[key] for key in ("question", "memory", "scope", "rag", "router")}

    async def exec_async(self, prep: dict) -> dict:
        chunk_count, documents = await asyncio.gather(
            prep["rag"].count_chunks(prep["scope"]), prep["rag"].list_documents(prep["scope"]))
        names = [doc.filename for doc in documents]
        default = default_route(prep["question"], prep["memory"], chunk_count)
        decision = await structured_call(
            prep["router"], "route",
            route_messages(prep["question"], prep["memory"], chunk_count, names),
            RouteDecision, default=default)
        if decision.route == "retrieve" and chunk_count == 0:
            decision = RouteDecision(route="need_docs", reason="nothing is indexed in this scope")
        return {"decision": decision, "chunk_count": chunk_count, "documents": names}

    async def fallback(self, prep: dict, exc: Exception) -> dict:
        # The store or the whole router chain failed: assume documents and let
        # Retrieve (with its own fallback) find out.
        decision = default_route(prep["question"], prep["memory"], chunk_count=1)
        return {"decision": decision, "chunk_count": None, "documents": []}

    async def post_async(self, shared: dict, prep: dict, result: dict) -> str:
        decision: RouteDecision = result["decision"]
        shared["route"], shared["route_reason"] = decision.route, decision.reason
        shared["chunk_count"], shared["documents"] = result["chunk_count"], result["documents"]
        return decision.route
