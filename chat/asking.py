"""Answer one question: run the supervisor flow with the step renderer as observer.

The flow runs in its own task, remembered in the user session, so the stop button can
cancel it (``on_stop``); a cancelled or failed run closes its open steps and leaves the
reply saying what happened, and the conversation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import chainlit as cl

from agents.extractive_answer import DECLINE
from chat.citations import (
    METADATA_KEY,
    citation_elements,
    citation_records,
    sources_footer,
    without_remote_images,
)
from chat.steps import AnswerStream, FlowRenderer

if TYPE_CHECKING:
    from agents.memory import Memory, RunResult
    from agents.protocols import Retriever, Router
    from rag.models import Scope

log = logging.getLogger(__name__)
TASK_KEY = "flow_task"
STOPPED_NOTE = "_Stopped._"


@dataclass
class Question:
    """What a run needs besides the services.

    Attributes:
        text: the user's question.
        scope: ``rag.models.Scope`` searched.
        memory: the thread's ``agents.memory.Memory``.
        k: chunks retrieved.
        answer_model: ``"provider:model"`` for the answer, None = router default.
    """

    text: str
    scope: Scope
    memory: Memory
    k: int = 5
    answer_model: str | None = None


def reply_text(result: RunResult) -> str:
    """The reply shown: the answer, then a ``Sources:`` line for its citations."""
    answer = without_remote_images(result.answer or "").rstrip()
    if "**Sources:**" in answer:
        return answer
    return answer + sources_footer(result.citations, answer)


UNSUPPORTED_NOTE = ("\n\n_Not supported by your documents: the check could not match "
                    "this answer to the passages, so treat it with care._")


def support_note(result: RunResult) -> str:
    """A line under the answer when the run says it is not supported by the passages
    (``RunResult.supported is False``; absent or None shows nothing). A reply that
    already declines (:data:`agents.extractive_answer.DECLINE`) gets none: it says so."""
    answer = result.answer or ""
    if getattr(result, "supported", None) is False and UNSUPPORTED_NOTE.strip() not in \
            answer and DECLINE not in answer:
        return UNSUPPORTED_NOTE
    return ""


async def run_question(question: Question, *, rag: Retriever, router: Router,
                       thread_id: str | None, parent_id: str | None) -> RunResult | None:
    """Run ``agents.runner.ask`` for ``question``, rendering it live.

    ``rag`` and ``router`` are the flow's protocols (``agents.protocols``); chat passes
    its ``RagService`` and ``LLMRouter``, which mypy checks satisfy them.

    Returns:
        The ``RunResult``, or None when the run failed (the reply says why).
    Raises:
        asyncio.CancelledError: when stopped (after the UI was tidied up).
    """
    from agents.runner import ask

    stream = AnswerStream()
    renderer = FlowRenderer(stream, thread_id=thread_id, parent_id=parent_id)
    task = asyncio.create_task(ask(
        question.text, scope=question.scope, rag=rag, router=router, memory=question.memory,
        observer=renderer, k=question.k, answer_model=question.answer_model))
    cl.user_session.set(TASK_KEY, task)
    try:
        result = await task
    except asyncio.CancelledError:
        await _stopped(task, renderer, stream)
        raise
    except Exception as exc:
        log.exception("run failed")
        await renderer.close("Failed")
        await stream.finish(f"Sorry, I could not answer ({type(exc).__name__}); "
                            "please try again.")
        return None
    finally:
        cl.user_session.set(TASK_KEY, None)
    await stream.finish(reply_text(result) + support_note(result),
                        citation_elements(result.citations, result.answer),
                        {METADATA_KEY: citation_records(result.citations, result.answer),
                         "supported": getattr(result, "supported", None)})
    return result


async def _stopped(task: asyncio.Task, renderer: FlowRenderer, stream: AnswerStream) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    with contextlib.suppress(Exception):
        await renderer.close("Stopped")
        partial = stream.message.content.rstrip()
        await stream.finish(f"{partial}\n\n{STOPPED_NOTE}" if partial else STOPPED_NOTE)


async def stop_current() -> bool:
    """Cancel the flow task of this session, if one runs (``on_stop``)."""
    task = cl.user_session.get(TASK_KEY)
    if task is None or task.done():
        return False
    task.cancel()
    return True
