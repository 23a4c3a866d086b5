"""Run the answering flow for an API caller, saved in a thread as the UI saves it.

:func:`start_run` checks the request (thread ownership, model), then starts one task
that runs ``agents.runner.ask``. The task sets up a Chainlit HTTP context for the
thread (``chainlit.context.init_http_context``), so the chat's own renderer
(``chat.steps.FlowRenderer``) and reply (``AnswerStream``, ``citation_elements``)
write the question, the flow's steps and the answer into the thread exactly as in the
browser; the thread's memory and settings are saved with ``save_thread_state``, which
``on_chat_resume`` reads. Every flow event is also put, as an API event, on the run's
queue, which the JSON, SSE and WebSocket endpoints read (:meth:`RunHandle.events`).

Runs of one process are remembered (the last ``MAX_RUNS``) so their owner can read their
status or cancel them; another user's run is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from chat.api.auth import Principal
from chat.api.errors import ApiError, log_internal_error, not_found
from chat.api.events import RunTally, api_event, run_body
from chat.api.history import HistoryWriter
from chat.api.models import RunRequest

log = logging.getLogger(__name__)
MAX_RUNS = 1000
TERMINAL = ("run_completed", "error")
_background: set[asyncio.Task] = set()


@dataclass
class RunHandle:
    """One run: its queue of API events, its task and, once done, its outcome.

    Attributes:
        principal: who started it.
        thread_id: the thread it writes to.
        run_id: the flow's run id (also in the JSON log lines); set by ``run_started``.
        status: ``running`` / ``completed`` / ``failed`` / ``cancelled``.
        result: the RunResponse body once completed; error: the ErrorDetail once failed.
    """

    principal: Principal
    thread_id: str
    run_id: str = ""
    status: str = "running"
    result: dict | None = None
    error: dict | None = None
    error_status: int = 500
    task: asyncio.Task | None = None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    seq: int = 0

    def publish(self, name: str, data: dict) -> None:
        """Queue one API event (``{"id", "event", "data"}``)."""
        self.seq += 1
        self.queue.put_nowait({"id": self.seq, "event": name, "data": data})

    async def events(self) -> AsyncIterator[dict]:
        """The run's events in order, ending with ``run_completed`` or ``error``."""
        while True:
            event = await self.queue.get()
            yield event
            if event["event"] in TERMINAL:
                return

    async def cancel(self) -> None:
        """Cancel the run and wait until its task has tidied up (no orphan task)."""
        task = self.task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait({task}, timeout=30)


class RunRegistry:
    """The last ``MAX_RUNS`` runs of this process, by run id."""

    def __init__(self, limit: int = MAX_RUNS) -> None:
        self.limit = limit
        self._runs: OrderedDict[str, RunHandle] = OrderedDict()

    def add(self, handle: RunHandle) -> None:
        self._runs[handle.run_id] = handle
        while len(self._runs) > self.limit:
            self._runs.popitem(last=False)

    def get(self, run_id: str, principal: Principal) -> RunHandle:
        """The caller's run. Raises ApiError 404 for unknown runs and other users' runs."""
        handle = self._runs.get(run_id)
        if handle is None or handle.principal.identifier != principal.identifier:
            raise not_found("run", run_id)
        return handle


registry = RunRegistry()


# ---- checks before a run starts ------------------------------------------------------
async def thread_state(thread_id: str, principal: Principal) -> dict:
    """The metadata of the caller's thread. Raises ApiError 404 if it is not theirs."""
    from chainlit.data import get_data_layer

    from chat.persistence.data_rows import decode_json

    rows = await get_data_layer().execute_sql(
        'SELECT "userId", "metadata" FROM threads WHERE "id" = :id', {"id": thread_id})
    if not rows or rows[0].get("userId") != principal.user_id:  # the stable id, not the name
        raise not_found("thread", thread_id)
    return decode_json(rows[0].get("metadata"), {}) or {}


def check_model(model: str | None, router: Any) -> str | None:
    """The answer model to put first (None: the router's chain).

    Raises:
        ApiError 422 (field ``model``) for a model that is not configured.
    """
    if model in (None, "", "auto", "docchat"):
        return None
    available = router.available_models()
    if model not in available:
        raise ApiError(422, "validation_error", f"model: {model!r} is not configured; use "
                       f"one of {['docchat', *available]}", field="model")
    return model


@dataclass
class RunPlan:
    """What :func:`start_run` decided: the thread, its memory, the settings of the run."""

    request: RunRequest
    thread_id: str
    new_thread: bool
    memory: Any
    prefs: Any


async def plan_run(request: RunRequest, principal: Principal, router: Any) -> RunPlan:
    """Check the request and load the thread. Raises ApiError (404 thread, 422 model)."""
    from agents.memory import Memory
    from chat.config import get_settings
    from chat.session_state import SCOPE_ALL, ChatPrefs

    answer_model = check_model(request.model, router)
    metadata: dict = {}
    if request.thread_id:
        metadata = await thread_state(request.thread_id, principal)
    prefs = ChatPrefs.from_settings(metadata.get("chat_settings"), router.available_models(),
                                    get_settings().default_k)
    if request.scope:
        prefs.scope = request.scope
    elif not request.thread_id:
        prefs.scope = SCOPE_ALL  # a new thread has no documents of its own yet
    prefs.k = request.k or prefs.k
    if request.model is not None:
        prefs.answer_model = answer_model
    try:
        memory = Memory.from_dict(metadata.get("memory") or {})
    except (KeyError, TypeError):
        memory = Memory()
    return RunPlan(request, request.thread_id or str(uuid.uuid4()), not request.thread_id,
                   memory, prefs)


async def start_run(request: RunRequest, principal: Principal) -> RunHandle:
    """Start a run in its own task; returns once it is registered (``run_started`` queued).

    Raises:
        ApiError: 404 unknown thread, 422 unknown model (before anything is written).
    """
    from chat import services

    plan = await plan_run(request, principal, services.get_router())
    handle = RunHandle(principal=principal, thread_id=plan.thread_id)
    started = asyncio.get_running_loop().create_future()
    handle.task = asyncio.create_task(_execute(handle, plan, started))
    await asyncio.wait({started, handle.task}, return_when=asyncio.FIRST_COMPLETED)
    if not handle.run_id:
        handle.run_id = uuid.uuid4().hex
    registry.add(handle)
    return handle


async def _create_thread(plan: RunPlan, principal: Principal) -> None:
    from chainlit.data import get_data_layer

    from chat.titles import clean_title, first_words

    await get_data_layer().update_thread(
        thread_id=plan.thread_id, user_id=principal.user_id,
        name=clean_title(first_words(plan.request.question)) or "API run")


# ---- the run task ----------------------------------------------------------------------
class _Observer:
    """Feeds each FlowEvent to the API queue at once and to the history writer."""

    def __init__(self, handle: RunHandle, writer: HistoryWriter,
                 started: asyncio.Future) -> None:
        self.handle, self.writer, self.started = handle, writer, started
        self.tally = RunTally()

    async def __call__(self, event: Any) -> None:
        self.tally.add(event)
        mapped = api_event(event, self.handle.thread_id)
        if event.kind == "run_start":
            self.handle.run_id = event.run_id
        if mapped is not None:
            self.handle.publish(*mapped)
        if event.kind == "run_start" and not self.started.done():
            self.started.set_result(True)
        if event.kind == "token":
            self.writer.release()
        elif event.kind != "stream_reset":  # the reply is written once, at the end
            self.writer.put(event)


async def _execute(handle: RunHandle, plan: RunPlan, started: asyncio.Future) -> None:
    """The run task: Chainlit HTTP context for the thread, the flow, the saved reply."""
    import chainlit as cl
    from chainlit.chat_context import chat_contexts
    from chainlit.context import init_http_context

    from chat.steps import AnswerStream, FlowRenderer

    context = init_http_context(thread_id=plan.thread_id,
                                user=cl.User(identifier=handle.principal.identifier))
    stream = AnswerStream()
    renderer = FlowRenderer(stream, thread_id=plan.thread_id)

    async def setup() -> None:
        if plan.new_thread:
            await _create_thread(plan, handle.principal)
        question = cl.Message(content=plan.request.question, type="user_message",
                              author=handle.principal.identifier)
        await question.send()
        renderer.parent_id = question.id

    writer = HistoryWriter(renderer, setup)
    observer = _Observer(handle, writer, started)
    try:
        await _answer(handle, plan, stream, renderer, observer)
    except asyncio.CancelledError:
        handle.status = "cancelled"
        handle.publish("error", {"code": "cancelled", "message": "the run was cancelled"})
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the database failed before the flow ran
        if handle.status == "running":
            _fail(handle, 500, "internal_error", "", exc)
    finally:
        if not started.done():
            started.set_result(False)
        chat_contexts.pop(context.session.id, None)
        with contextlib.suppress(Exception):  # Chainlit's copies of the citation texts
            await context.session.delete()


async def _answer(handle: RunHandle, plan: RunPlan, stream: Any, renderer: Any,
                  observer: _Observer) -> None:
    from agents.runner import ask
    from chat import services
    from chat.api.settings import get_api_settings
    from chat.asking import reply_text
    from chat.citations import METADATA_KEY, citation_elements, citation_records
    from chat.scope import ThreadPreferringRetriever
    from rag.models import Scope

    owner = handle.principal.owner
    scope = Scope(owner=owner, thread_id=plan.thread_id if plan.prefs.scope == "thread"
                  else None)
    try:
        async with asyncio.timeout(get_api_settings().run_timeout_s):
            rag = await services.get_rag()
            retriever = rag if scope.thread_id else ThreadPreferringRetriever(rag, plan.thread_id)
            result = await ask(plan.request.question, scope=scope, rag=retriever,
                               router=services.get_router(), memory=plan.memory,
                               observer=observer, k=plan.prefs.k,
                               answer_model=plan.prefs.answer_model)
    except asyncio.CancelledError:
        await _tidy(observer.writer, renderer, stream, "Stopped", "_Stopped._")
        raise
    except TimeoutError as exc:
        limit = get_api_settings().run_timeout_s
        _fail(handle, 504, "timeout", f"the run took longer than {limit:g} s and was "
              "stopped; ask again, or a narrower question", exc)
        await _tidy(observer.writer, renderer, stream, "Timed out", "_Timed out._")
        return
    except Exception as exc:  # noqa: BLE001 - reported with an error id, never a traceback
        error_id = _fail(handle, 500, "internal_error", "", exc)
        await _tidy(observer.writer, renderer, stream, "Failed",
                    f"Sorry, I could not answer (error id {error_id}).")
        return
    await observer.writer.close()
    await stream.finish(reply_text(result), citation_elements(result.citations, result.answer),
                        {METADATA_KEY: citation_records(result.citations, result.answer)})
    await _save(plan, result)
    handle.result = run_body(run_id=handle.run_id, thread_id=plan.thread_id,
                             question=plan.request.question, result=result,
                             tally=observer.tally)
    handle.status = "completed"
    handle.publish("run_completed", handle.result)
    if plan.new_thread:
        _spawn(_title(plan))


def _fail(handle: RunHandle, status: int, code: str, message: str, exc: BaseException) -> str:
    error_id = log_internal_error(exc, "run", run_id=handle.run_id, thread_id=handle.thread_id)
    message = message or (f"the run failed inside the flow; quote error id {error_id} when "
                          "reporting it")
    handle.status, handle.error_status = "failed", status
    handle.error = {"code": code, "message": message, "error_id": error_id}
    handle.publish("error", handle.error)
    return error_id


async def _tidy(writer: HistoryWriter, renderer: Any, stream: Any, reason: str,
                note: str) -> None:
    """Write what happened so far, close open steps and leave the reply saying what
    happened (nothing raises)."""
    with contextlib.suppress(Exception):
        await writer.close()
        await renderer.close(reason)
        partial = (stream.message.content or "").rstrip()
        await stream.finish(f"{partial}\n\n{note}" if partial else note)


async def _save(plan: RunPlan, result: Any) -> None:
    from chat.session_state import save_thread_state

    await save_thread_state(plan.thread_id, memory=result.memory.to_dict(), prefs=plan.prefs)


async def _title(plan: RunPlan) -> None:
    from chainlit.data import get_data_layer

    from chat import services
    from chat.titles import make_title

    title = await make_title(plan.request.question, services.get_router())
    await get_data_layer().update_thread(thread_id=plan.thread_id, name=title)


def _spawn(coro: Any) -> None:
    """Run a nicety (the thread title) after the run, keeping a reference until done."""
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
