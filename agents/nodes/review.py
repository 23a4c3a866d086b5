"""Review: the supervisor's check of the draft against the chunks it cites."""

from __future__ import annotations

from agents.calls import structured_call
from agents.citations import cited_claims, invalid_numbers
from agents.decisions import ReviewDecision, default_review
from agents.nodes.base import FlowNode
from agents.prompts import review_messages


class Review(FlowNode):
    """Verify each cited claim against its chunk with a structured LLM call.

    Purpose: approve a supported draft; send an unsupported one back (a refined query
        for Retrieve and feedback for Answer) while rounds remain; escalate after the
        round budget. A draft without chunks (direct route, nothing found) has nothing
        to verify and is approved without a call; a failed draft is escalated.
        Citation numbers that point at no chunk always count as unsupported.
    Input: question, draft, draft_failed, chunks, route, round, max_rounds, query, router.
    Output: verdict ("approve" / "escalate" / "retry"), review (the decision as a dict),
        refined_query and feedback (on retry).
    Actions: "approve" | "retry" | "escalate".
    """

    step_inputs = ("draft", "round")
    step_outputs = ("verdict", "review")

    async def prep_async(self, shared: dict) -> dict:
        chunks = shared.get("chunks", []) if shared.get("route") == "retrieve" else []
        return {"question": shared["question"], "draft": shared.get("draft", ""),
                "failed": shared.get("draft_failed", False), "chunks": chunks,
                "round": shared.get("round", 1), "max_rounds": shared.get("max_rounds", 2),
                "query": shared.get("query") or shared["question"], "router": shared["router"]}

    async def exec_async(self, prep: dict) -> ReviewDecision:
        if prep["failed"]:
            return ReviewDecision(verdict="retry", feedback="the answer could not be produced")
        if not prep["chunks"]:
            return ReviewDecision(verdict="approve")
        draft, chunks = prep["draft"], prep["chunks"]
        decision = await structured_call(
            prep["router"], "review",
            review_messages(prep["question"], draft, cited_claims(draft), chunks),
            ReviewDecision, default=default_review(draft, len(chunks)))
        bad = invalid_numbers(draft, len(chunks))
        if bad:
            unsupported = sorted(set(decision.unsupported) | set(bad))
            decision = decision.model_copy(update={"verdict": "retry", "unsupported": unsupported})
        return decision

    async def fallback(self, prep: dict, exc: Exception) -> ReviewDecision:
        return default_review(prep["draft"], len(prep["chunks"]))

    async def post_async(self, shared: dict, prep: dict, decision: ReviewDecision) -> str:
        shared["review"] = decision.model_dump()
        if decision.verdict == "approve":
            action = "approve"
        elif prep["failed"] or prep["round"] >= prep["max_rounds"]:
            action = "escalate"
        else:
            action = "retry"
            shared["refined_query"] = decision.refined_query.strip() or prep["query"]
            shared["feedback"] = decision.feedback or _feedback(decision.unsupported)
        shared["verdict"] = action
        return action


def _feedback(unsupported: list[int]) -> str:
    cited = ", ".join(f"[{n}]" for n in unsupported) or "some citations"
    return f"The claims citing {cited} are not supported by those sources; state only what " \
           "the sources say, and say so when they do not contain the answer."
