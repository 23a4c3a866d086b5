"""Finish: record the final answer, its citations and the verdict; update memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.calls import emit_text
from agents.citations import build_citations, renumber
from agents.extractive_answer import decline_reply, reorder
from agents.memory import Memory
from agents.nodes.base import FlowNode
from agents.observer import emit_reset
from agents.state import RunState
from rag.models import SearchResult


@dataclass(frozen=True)
class FinishInput:
    """What Finish reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    draft: str
    failed: bool
    chunks: list[SearchResult]
    route: str | None
    supported: bool | None
    verdict: str | None
    review: dict[str, object]
    memory: Memory


class Finish(FlowNode):
    """Close the run.

    Purpose: turn the draft into the final answer; after an escalation append a note
        that says what could not be verified (streamed as more answer text); after a
        decline replace the draft with the decline sentence and related passages;
        renumber citations in reading order ([1], [2], ... no gaps; the text is streamed
        again after a ``stream_reset`` when that changed it); keep only the citations
        the answer actually uses; make the run's support decision; add the exchange to
        memory. The node trace is recorded by the observer mixin in ``trace``.
    Input: question, draft, draft_failed, chunks, route, supported, verdict, review,
        memory.
    Output: answer, citations (list of Citation, by n), supported (final), chunks
        (in citation order), memory (a new Memory with this exchange).
    Actions: "done" (the end of the flow).
    """

    step_inputs = ("verdict",)
    step_outputs = ("answer", "citations", "supported")

    async def prep_async(self, shared: RunState) -> FinishInput:
        return FinishInput(question=shared.question, draft=shared.draft,
                           failed=shared.draft_failed, chunks=shared.context_chunks,
                           route=shared.route, supported=shared.supported,
                           verdict=shared.verdict, review=shared.review or {},
                           memory=shared.memory)

    async def exec_async(self, prep: FinishInput) -> dict[str, Any]:
        answer, chunks, supported = prep.draft, prep.chunks, prep.supported is not False
        if prep.verdict == "decline" and not prep.failed:
            await emit_reset("the sources do not contain the answer")
            answer, supported = await emit_text(decline_reply(chunks)), False
        elif prep.verdict == "escalate" and not prep.failed:
            answer += await emit_text(escalation_note(prep.review))
        numbered, order = renumber(answer, len(chunks))
        if numbered != answer:
            await emit_reset("citations renumbered in reading order")
            answer = await emit_text(numbered)
        chunks = reorder(chunks, [n - 1 for n in order])
        citations = build_citations(answer, chunks)
        if prep.route == "retrieve":
            supported = supported and bool(citations)
        elif prep.route != "direct":
            supported = False  # need_docs and clarify answer nothing
        return {"answer": answer, "citations": citations, "chunks": chunks,
                "supported": supported and not prep.failed,
                "memory": prep.memory.with_exchange(prep.question, answer)}

    async def post_async(self, shared: RunState, prep: FinishInput,
                         result: dict[str, Any]) -> str:
        shared.answer, shared.citations = result["answer"], result["citations"]
        shared.supported, shared.memory = result["supported"], result["memory"]
        if prep.route == "retrieve":
            shared.chunks = result["chunks"]
        return "done"


def escalation_note(review: Mapping[str, Any]) -> str:
    """The note appended to an answer whose claims could not all be verified."""
    unsupported = review.get("unsupported") or []
    what = (", ".join(f"[{n}]" for n in unsupported) + " could not be verified against "
            "the cited text") if unsupported else "not every claim could be verified"
    detail = f" ({review['feedback'].strip()})" if review.get("feedback") else ""
    return f"\n\nNote: {what}{detail}. Please check the sources before relying on it."
