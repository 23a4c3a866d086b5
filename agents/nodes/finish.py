"""Finish: record the final answer, its citations and the verdict; update memory."""

from __future__ import annotations

from agents.calls import emit_text
from agents.citations import build_citations
from agents.nodes.base import FlowNode


class Finish(FlowNode):
    """Close the run.

    Purpose: turn the draft into the final answer; after an escalation append a note
        that says what could not be verified (streamed as more answer text); keep only
        the citations the answer actually uses; add the exchange to memory. The node
        trace is recorded by the observer mixin in ``trace`` for every node, this one
        included.
    Input: question, draft, draft_failed, chunks, route, verdict, review, memory.
    Output: answer, citations (list of Citation), verdict ("approve" / "escalate" /
        None), memory (a new Memory with this exchange).
    Actions: "done" (the end of the flow).
    """

    step_inputs = ("verdict",)
    step_outputs = ("answer", "citations")

    async def prep_async(self, shared: dict) -> dict:
        chunks = shared.get("chunks", []) if shared.get("route") == "retrieve" else []
        return {"question": shared["question"], "draft": shared.get("draft", ""),
                "failed": shared.get("draft_failed", False), "chunks": chunks,
                "verdict": shared.get("verdict"), "review": shared.get("review") or {},
                "memory": shared["memory"]}

    async def exec_async(self, prep: dict) -> dict:
        answer = prep["draft"]
        if prep["verdict"] == "escalate" and not prep["failed"]:
            answer += await emit_text(escalation_note(prep["review"]))
        return {"answer": answer, "citations": build_citations(answer, prep["chunks"]),
                "memory": prep["memory"].with_exchange(prep["question"], answer)}

    async def post_async(self, shared: dict, prep: dict, result: dict) -> str:
        shared["answer"], shared["citations"] = result["answer"], result["citations"]
        shared["memory"] = result["memory"]
        return "done"


def escalation_note(review: dict) -> str:
    """The note appended to an answer whose claims could not all be verified."""
    unsupported = review.get("unsupported") or []
    what = (", ".join(f"[{n}]" for n in unsupported) + " could not be verified against "
            "the cited text") if unsupported else "not every claim could be verified"
    detail = f" ({review['feedback'].strip()})" if review.get("feedback") else ""
    return f"\n\nNote: {what}{detail}. Please check the sources before relying on it."
