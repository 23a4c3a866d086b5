"""Review: the supervisor's check of the draft against the chunks it cites."""

from __future__ import annotations

from dataclasses import dataclass

from agents.calls import structured_call
from agents.citations import cited_claims, invalid_numbers
from agents.decisions import ReviewDecision, default_review
from agents.nodes.base import FlowNode
from agents.prompts import review_messages
from agents.protocols import Router
from agents.state import RunState
from rag.models import SearchResult


@dataclass(frozen=True)
class ReviewInput:
    """What Review reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    draft: str
    failed: bool
    chunks: list[SearchResult]
    round: int
    max_rounds: int
    query: str
    router: Router


class Review(FlowNode):
    """Verify each cited claim against its chunk with a structured LLM call.

    Purpose: approve a supported draft; send an unsupported one back (a refined query
        for Retrieve and feedback for Answer) while rounds remain; escalate after the
        round budget. A draft without chunks (direct route, nothing found) has nothing
        to verify and is approved without a call; a failed draft is escalated.
        Citation numbers that point at no chunk always count as unsupported.
    Input: question, draft, draft_failed, chunks, route, round, max_rounds, query, router.
    Output: verdict ("approve" / "escalate" / "retry" / "decline"), review (the decision
        as a dict), refined_query and feedback (on retry), supported (False on decline:
        the sources do not contain the answer).
    Actions: "approve" | "retry" | "escalate" | "decline".
    """

    step_inputs = ("draft", "round")
    step_outputs = ("verdict", "review")

    async def prep_async(self, shared: RunState) -> ReviewInput:
        return ReviewInput(question=shared.question, draft=shared.draft,
                           failed=shared.draft_failed, chunks=shared.context_chunks,
                           round=shared.round or 1, max_rounds=shared.max_rounds,
                           query=shared.query or shared.question, router=shared.router)

    async def exec_async(self, prep: ReviewInput) -> ReviewDecision:
        if prep.failed:
            return ReviewDecision(verdict="retry", feedback="the answer could not be produced")
        if not prep.chunks:
            return ReviewDecision(verdict="approve")
        draft, chunks = prep.draft, prep.chunks
        decision = await structured_call(
            prep.router, "review",
            review_messages(prep.question, draft, cited_claims(draft), chunks),
            ReviewDecision, default=default_review(draft, len(chunks)))
        bad = invalid_numbers(draft, len(chunks))
        if bad:
            unsupported = sorted(set(decision.unsupported) | set(bad))
            decision = decision.model_copy(update={"verdict": "retry", "unsupported": unsupported})
        return decision

    async def fallback(self, prep: ReviewInput, exc: Exception) -> ReviewDecision:
        return default_review(prep.draft, len(prep.chunks))

    async def post_async(self, shared: RunState, prep: ReviewInput,
                         decision: ReviewDecision) -> str:
        shared.review = decision.model_dump()
        if decision.verdict == "approve":
            action = "approve"
        elif decision.verdict == "decline" and prep.chunks:
            action = "decline"
            shared.supported = False
        elif prep.failed or prep.round >= prep.max_rounds:
            action = "escalate"
        else:
            action = "retry"
            shared.refined_query = decision.refined_query.strip() or prep.query
            shared.feedback = decision.feedback or _feedback(decision.unsupported)
        shared.verdict = action
        return action


def _feedback(unsupported: list[int]) -> str:
    cited = ", ".join(f"[{n}]" for n in unsupported) or "some citations"
    return (f"The claims citing {cited} are not supported by those sources; state only what "
            "the sources say, and say so when they do not contain the answer.")
