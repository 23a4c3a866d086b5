"""Clarify: the question is ambiguous; ask one short question back."""

from __future__ import annotations

from dataclasses import dataclass

from agents.calls import emit_text, structured_call
from agents.decisions import ClarifyingQuestion, default_clarifying_question
from agents.memory import Memory
from agents.nodes.base import FlowNode
from agents.prompts import clarify_messages
from agents.protocols import Router
from agents.state import RunState


@dataclass(frozen=True)
class ClarifyInput:
    """What Clarify reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    memory: Memory
    router: Router


class Clarify(FlowNode):
    """Ask the user one short clarifying question.

    Purpose: the ``clarify`` route: instead of guessing, ask back; the next message
        of the thread answers it (the question stays in memory).
    Input: question, memory, router.
    Output: draft (the question asked back).
    Actions: "finish".
    """

    step_inputs = ("question",)
    step_outputs = ("draft",)

    async def prep_async(self, shared: RunState) -> ClarifyInput:
        return ClarifyInput(question=shared.question, memory=shared.memory, router=shared.router)

    async def exec_async(self, prep: ClarifyInput) -> str:
        asked = await structured_call(
            prep.router, "answer", clarify_messages(prep.question, prep.memory),
            ClarifyingQuestion, default=default_clarifying_question(prep.question))
        return await emit_text(asked.question.strip())

    async def fallback(self, prep: ClarifyInput, exc: Exception) -> str:
        return await emit_text(default_clarifying_question(prep.question).question)

    async def post_async(self, shared: RunState, prep: ClarifyInput, question: str) -> str:
        shared.draft = question
        return "finish"
