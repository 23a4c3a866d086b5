"""Supervisor: decide where a question goes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from agents.calls import structured_call
from agents.decisions import RouteDecision, default_route
from agents.memory import Memory
from agents.meta import is_about_conversation, is_meta
from agents.nodes.base import FlowNode
from agents.prompts import route_messages
from agents.protocols import Retriever, Router
from agents.state import RunState
from rag.models import Scope


@dataclass(frozen=True)
class SupervisorInput:
    """What Supervisor reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    memory: Memory
    scope: Scope
    retriever: Retriever
    router: Router


class Supervisor(FlowNode):
    """Route the question with a structured LLM decision.

    Purpose: look at the question, the conversation so far and what the user has
        indexed in this scope, and pick a route. The heuristic :func:`default_route`
        is the decision when no language model is configured (extractive provider)
        and when every attempt fails.
    Input: question, memory, scope, retriever, router.
    Output: route, route_reason, chunk_count, documents (file names in scope).
    Actions: "retrieve" | "direct" | "need_docs" | "clarify".
    """

    step_inputs = ("question",)
    step_outputs = ("route", "route_reason", "chunk_count")

    async def prep_async(self, shared: RunState) -> SupervisorInput:
        return SupervisorInput(question=shared.question, memory=shared.memory, scope=shared.scope,
                               retriever=shared.retriever, router=shared.router)

    async def exec_async(self, prep: SupervisorInput) -> dict[str, Any]:
        chunk_count, documents = await asyncio.gather(
            prep.retriever.count_chunks(prep.scope),
            prep.retriever.list_documents(prep.scope))
        names = [doc.filename for doc in documents]
        default = default_route(prep.question, prep.memory, chunk_count)
        decision = await structured_call(
            prep.router, "route",
            route_messages(prep.question, prep.memory, chunk_count, names),
            RouteDecision, default=default)
        if default.route == "direct" and decision.route != "direct" and \
                (is_meta(prep.question) or is_about_conversation(prep.question)):
            decision = default  # the app and the thread answer these, not the documents
        elif decision.route == "retrieve" and chunk_count == 0:
            decision = RouteDecision(route="need_docs", reason="nothing is indexed in this scope")
        return {"decision": decision, "chunk_count": chunk_count, "documents": names}

    async def fallback(self, prep: SupervisorInput, exc: Exception) -> dict[str, Any]:
        # The store or the whole router chain failed: assume documents and let
        # Retrieve (with its own fallback) find out.
        decision = default_route(prep.question, prep.memory, chunk_count=1)
        return {"decision": decision, "chunk_count": None, "documents": []}

    async def post_async(self, shared: RunState, prep: SupervisorInput,
                         result: dict[str, Any]) -> str:
        decision: RouteDecision = result["decision"]
        shared.route, shared.route_reason = decision.route, decision.reason
        shared.chunk_count, shared.documents = result["chunk_count"], result["documents"]
        return decision.route
