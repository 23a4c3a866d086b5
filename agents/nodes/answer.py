"""Answer: stream a reply grounded in the retrieved chunks, citing them as [n]."""

from __future__ import annotations

from agents.calls import emit_text, stream_text
from agents.nodes.base import FlowNode
from agents.observer import describe_error, reset_if_needed
from agents.prompts import answer_messages, to_passages

NOT_FOUND = ("I couldn't find anything about this in your documents, so I can't answer it "
             "from them. Try rephrasing, or upload a document that covers it.")
FAILED = ("Sorry, I couldn't produce an answer right now: the language model is not "
          "responding ({error}). Please try again in a moment.")


class Answer(FlowNode):
    """Stream the answer, tokens reaching the observer as they arrive.

    Purpose: answer from the chunks with [1], [2] citations (the n-th chunk is [n]),
        saying so when the chunks do not contain the answer; on the ``direct`` route
        answer without chunks. A review retry (round > 1) or a retry after streaming
        starts with ``stream_reset``. The chunks go to the router as ``context``
        passages so the extractive provider can quote them.
    Input: question, memory, route, chunks, feedback, round, router, answer_model.
    Output: draft (the answer text), draft_failed (True after the graceful fallback),
        round (1 for the first draft).
    Actions: "review".
    """

    step_inputs = ("query", "feedback")
    step_outputs = ("draft",)

    async def prep_async(self, shared: dict) -> dict:
        chunks = shared.get("chunks", []) if shared.get("route") == "retrieve" else []
        return {"question": shared["question"], "memory": shared["memory"],
                "route": shared.get("route"), "chunks": chunks,
                "feedback": shared.get("feedback", ""), "round": shared.get("round", 0) + 1,
                "router": shared["router"], "model": shared.get("answer_model")}

    async def exec_async(self, prep: dict) -> dict:
        await reset_if_needed("a new draft replaces the previous one",
                              replacing_earlier=prep["round"] > 1)
        if prep["route"] == "retrieve" and not prep["chunks"]:
            return {"text": await emit_text(NOT_FOUND), "failed": False}
        messages = answer_messages(prep["question"], prep["memory"], prep["chunks"],
                                   prep["feedback"])
        text = await stream_text(prep["router"], "answer", messages, model=prep["model"],
                                 context=to_passages(prep["chunks"]))
        return {"text": text, "failed": False}

    async def fallback(self, prep: dict, exc: Exception) -> dict:
        await reset_if_needed("the answer failed", replacing_earlier=prep["round"] > 1)
        text = await emit_text(FAILED.format(error=describe_error(exc)))
        return {"text": text, "failed": True}

    async def post_async(self, shared: dict, prep: dict, result: dict) -> str:
        shared["draft"], shared["draft_failed"] = result["text"], result["failed"]
        shared["round"] = prep["round"]
        return "review"
