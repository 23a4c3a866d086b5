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
from typing import Any

import chainlit as cl

from chat.citations import citation_elements, sources_footer
from chat.steps import AnswerStream, FlowRenderer

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
    scope: Any
    memory: Any
    k: int = 5
    answer_model: str | None = None


def reply_text(result: Any) -> str:
    """The reply shown: the answer, then a ``Sources:`` line for its citations."""
    answer = (result.answer or "").rstrip()
    if "**Sources:**" in answer:
        return answer
    return answer + sources_footer(result.citations, answer)


async def run_question(question: Question, *, rag: Any, router: Any,
                       thread_id: str | None, parent_id: str | None) -> Any:
    """Run ``agents.runner.ask`` for ``question``, rendering it live.

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
        await stream.finish(f"Sorry, I could not answer: {exc}")
        return None
    finally:
        cl.user_session.set(TASK_KEY, None)
    await stream.finish(reply_text(result), citation_elements(result.citations, result.answer))
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
