"""OpenAI-compatible endpoints: `GET /v1/models`, `POST /v1/chat/completions`.

Model ``docchat`` answers the last user message over all the caller's documents with the
supervisor-agent flow; the earlier user/assistant messages are its memory (system
messages are ignored: the flow has its own instructions). A ``provider:model`` of
``GET /v1/models`` runs the same flow with that model writing the answer.

The content carries ``[n]`` citation markers followed by the sources line
(``**Sources:** [1] file, page 3 ...``), and an extra ``docchat`` field holds the run's
JSON body (citations with their text, route, verdict, trace). Streaming sends OpenAI
``chat.completion.chunk`` events; when the flow discards a partial answer
(``stream_reset``: a provider failed mid-answer, or a review retry) the stream cannot
take back what it sent, so it sends a visible break (``RESET_MARK``) before the new text;
the final chunk's ``docchat.answer`` is the clean answer. Usage counts the model tokens
the flow reported; for the extractive provider (no model) it is estimated as characters/4.
Stateless: nothing is saved in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from chat.api.auth import Caller, Principal, RunCaller
from chat.api.errors import ApiError, ApiRoute, log_internal_error
from chat.api.events import RunTally, run_body
from chat.api.models import ERROR_RESPONSES, ChatCompletionRequest, ModelList

router = APIRouter(prefix="/v1", tags=["openai"], route_class=ApiRoute,
                   responses=ERROR_RESPONSES)
DOCCHAT_MODEL = "docchat"
RESET_MARK = "\n\n[…the answer restarts…]\n\n"


@router.get("/models", response_model=ModelList, summary="Models (OpenAI format)")
async def list_models(principal: Caller) -> dict:
    """`docchat` (answers over the caller's documents) and the configured providers'
    models (`provider:model`: the same flow with that model writing the answer)."""
    from chat import services

    ids = [DOCCHAT_MODEL, *services.get_router().available_models()]
    return {"object": "list", "data": [{"id": i, "object": "model", "created": 0,
                                        "owned_by": i.split(":")[0] if ":" in i else "docchat"}
                                       for i in ids]}


def memory_of(messages: list[Any]) -> Any:
    """The flow memory of the messages before the last user message (user/assistant
    turns; longer histories fold into the summary as in a thread)."""
    from agents.memory import Memory

    memory, question = Memory(), None
    for message in messages:
        if message.role == "user":
            question = message.text()
        elif message.role == "assistant" and question is not None:
            memory, question = memory.with_exchange(question, message.text()), None
    return memory


def _estimate(text: str) -> int:
    return math.ceil(len(text) / 4)


@router.post("/chat/completions", summary="Chat completion (OpenAI format)")
async def chat_completions(body: ChatCompletionRequest,
                           principal: RunCaller):
    """Run the flow on the last user message (see the module description)."""
    from chat import services
    from chat.api.runs import check_model

    users = [i for i, m in enumerate(body.messages) if m.role == "user" and m.text().strip()]
    if not users:
        raise ApiError(422, "validation_error", "messages: no user message with text",
                       field="messages")
    question = body.messages[users[-1]].text().strip()
    try:
        answer_model = check_model(body.model, services.get_router())
    except ApiError as exc:
        raise ApiError(404, "model_not_found", exc.message, field="model") from None
    run = FlowRun(question, memory_of(body.messages[:users[-1]]), principal, answer_model)
    run.start()
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(run.chunks(body.model, include_usage),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})
    try:
        await run.wait()
    except asyncio.CancelledError:
        await run.cancel()
        raise
    if run.error_id:
        return JSONResponse({"error": {"code": "internal_error", "error_id": run.error_id,
                                       "message": run.error_message()}}, status_code=500)
    return JSONResponse(run.completion(body.model))


class FlowRun:
    """One flow run for a chat completion: its task, its events and its result."""

    def __init__(self, question: str, memory: Any, principal: Principal,
                 answer_model: str | None) -> None:
        self.question, self.memory, self.principal = question, memory, principal
        self.answer_model = answer_model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.queue: asyncio.Queue = asyncio.Queue()
        self.tally = RunTally()
        self.result: Any = None
        self.run_id = ""
        self.error_id: str | None = None
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _observe(self, event: Any) -> None:
        self.tally.add(event)
        if event.kind == "run_start":
            self.run_id = event.run_id
        elif event.kind in ("token", "stream_reset"):
            self.queue.put_nowait((event.kind, event.text))

    async def _run(self) -> None:
        from agents.runner import ask
        from chat import services
        from chat.api.settings import get_api_settings
        from rag.models import Scope

        try:
            async with asyncio.timeout(get_api_settings().run_timeout_s):
                self.result = await ask(
                    self.question, scope=Scope(owner=self.principal.owner),
                    rag=await services.get_rag(), router=services.get_router(),
                    memory=self.memory, observer=self._observe,
                    answer_model=self.answer_model)
        except Exception as exc:  # noqa: BLE001 - reported with an error id
            self.error_id = log_internal_error(exc, "chat.completions", run_id=self.run_id)
        finally:
            self.queue.put_nowait(("end", ""))

    async def wait(self) -> None:
        if self.task is not None:
            await asyncio.shield(self.task)

    async def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({self.task}, timeout=30)

    def error_message(self) -> str:
        return f"the run failed inside the flow; quote error id {self.error_id}"

    def body(self) -> dict:
        return run_body(run_id=self.run_id, thread_id="", question=self.question,
                        result=self.result, tally=self.tally)

    def content(self) -> str:
        from chat.asking import reply_text

        return reply_text(self.result)

    def usage(self) -> dict:
        summed = self.tally.usage()
        prompt = summed["input_tokens"] or _estimate(
            self.question + json.dumps(self.memory.to_dict()))
        completion = summed["output_tokens"] or _estimate(self.result.answer or "")
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    def completion(self, model: str) -> dict:
        """The non-streaming ``chat.completion`` object."""
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant",
                                                         "content": self.content()}}],
                "usage": self.usage(), "docchat": self.body()}

    def _chunk(self, model: str, delta: dict, finish: str | None = None, **extra: Any) -> str:
        data = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"

    async def chunks(self, model: str, include_usage: bool):
        """The SSE stream of ``chat.completion.chunk`` events; a disconnect cancels the run."""
        try:
            yield self._chunk(model, {"role": "assistant", "content": ""})
            streamed = ""
            while True:
                kind, text = await self.queue.get()
                if kind == "end":
                    break
                if kind == "stream_reset":
                    if streamed:
                        yield self._chunk(model, {"content": RESET_MARK})
                    streamed = ""
                    continue
                streamed += text
                yield self._chunk(model, {"content": text})
            if self.error_id:
                error = {"message": self.error_message(), "type": "internal_error",
                         "code": "internal_error", "error_id": self.error_id}
                yield f"data: {json.dumps({'error': error})}\n\n"
                return
            tail = self.content()[len((self.result.answer or "").rstrip()):]
            if tail:
                yield self._chunk(model, {"content": tail})
            yield self._chunk(model, {}, "stop", docchat=self.body())
            if include_usage:
                data = {"id": self.id, "object": "chat.completion.chunk",
                        "created": self.created, "model": model, "choices": [],
                        "usage": self.usage()}
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            await self.cancel()
