"""The answering flow, built once and shared by every run.

::

    Supervisor -"retrieve"-> Retrieve -"answer"-> Answer -"review"-> Review -"approve"-> Finish
    Supervisor -"direct"->   Answer                          Review -"retry"->   Retrieve
    Supervisor -"need_docs"-> AskForDocs -"finish"-> Finish  Review -"escalate"-> Finish
    Supervisor -"clarify"->  Clarify -"finish"-> Finish  Review -"decline"->  Finish

The flow objects hold no per-run state (pocketflow copies each node per step, params
stay empty, everything per run lives in ``shared``), so one flow serves all sessions.
"""

from __future__ import annotations

import functools

from pocketflow import AsyncFlow

from agents.nodes import Answer, AskForDocs, Clarify, Finish, Retrieve, Review, Supervisor
from agents.nodes.base import DEFAULT_RETRIES, DEFAULT_WAIT, FlowNode
from agents.observer import Observed


class AnswerFlow(Observed, AsyncFlow):
    """The online flow. As a run's root it is not a step; nested in a flow it is one."""


def build_flow(max_retries: int = DEFAULT_RETRIES, wait: float = DEFAULT_WAIT) -> AnswerFlow:
    """A new answering flow.

    Args:
        max_retries: attempts of each node's exec before its graceful fallback.
        wait: seconds between attempts.
    """
    def node(cls: type[FlowNode]) -> FlowNode:
        return cls(max_retries=max_retries, wait=wait)

    supervisor, retrieve, answer, review = node(Supervisor), node(Retrieve), node(Answer), node(Review)
    ask_for_docs, clarify, finish = node(AskForDocs), node(Clarify), node(Finish)
    supervisor - "retrieve" >> retrieve
    supervisor - "direct" >> answer
    supervisor - "need_docs" >> ask_for_docs
    supervisor - "clarify" >> clarify
    retrieve - "answer" >> answer
    answer - "review" >> review
    review - "approve" >> finish
    review - "retry" >> retrieve
    review - "escalate" >> finish
    review - "decline" >> finish
    ask_for_docs - "finish" >> finish
    clarify - "finish" >> finish
    return AnswerFlow(start=supervisor)


@functools.cache
def get_flow(max_retries: int = DEFAULT_RETRIES, wait: float = DEFAULT_WAIT) -> AnswerFlow:
    """The shared answering flow for these retry settings (built once per process)."""
    return build_flow(max_retries=max_retries, wait=wait)
