"""AskForDocs: nothing indexed can answer; say which kind of document would help."""

from __future__ import annotations

from dataclasses import dataclass

from agents.calls import emit_text, structured_call
from agents.decisions import DocsRequest, default_docs_request
from agents.nodes.base import FlowNode
from agents.prompts import docs_request_messages
from agents.protocols import Router
from agents.state import RunState


@dataclass(frozen=True)
class AskForDocsInput:
    """What AskForDocs reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    documents: list[str]
    router: Router


class AskForDocs(FlowNode):
    """Reply that documents are needed, naming the kind that would help.

    Purpose: the ``need_docs`` route: like the ``pending_docs`` answer of a flow-run
        API, tell the user what to upload instead of answering from nothing.
    Input: question, documents (file names in scope, from Supervisor), router.
    Output: draft (the reply), docs_request ({"document_kinds": [...], "message": str}).
    Actions: "finish".
    """

    step_inputs = ("question", "documents")
    step_outputs = ("draft", "docs_request")

    async def prep_async(self, shared: RunState) -> AskForDocsInput:
        return AskForDocsInput(question=shared.question, documents=shared.documents,
                               router=shared.router)

    async def exec_async(self, prep: AskForDocsInput) -> DocsRequest:
        request = await structured_call(
            prep.router, "answer",
            docs_request_messages(prep.question, prep.documents), DocsRequest,
            default=default_docs_request(prep.question, prep.documents))
        await emit_text(request.message)
        return request

    async def fallback(self, prep: AskForDocsInput, exc: Exception) -> DocsRequest:
        request = default_docs_request(prep.question, prep.documents)
        await emit_text(request.message)
        return request

    async def post_async(self, shared: RunState, prep: AskForDocsInput,
                         request: DocsRequest) -> str:
        shared.draft, shared.docs_request = request.message, request.model_dump()
        return "finish"
