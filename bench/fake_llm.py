"""A scripted, instant stand-in for ``agents.llm.LLMRouter`` (tests and the bench).

It speaks the router's interface (``stream`` / ``complete`` / ``structured`` with
``default=``, StreamEvent token/reset/usage) and answers from a script per task. Items
of a task's script are used in order, one per call:

- ``str``: ``stream`` yields it as word tokens then a usage event; ``structured``
  does not accept it.
- ``list`` of ``StreamEvent`` / ``Exception``: yielded in order, an exception raised
  where it stands (a provider failing mid-stream without a fallback).
- ``dict`` or a pydantic model: the ``structured`` answer.
- ``Exception``: raised by the call.
- a callable ``(messages, context, default) -> item``: computed per call.

When a task's script is empty: ``stream`` quotes the first context passage with [1]
(or greets without context) and ``structured`` returns ``default`` (as the extractive
provider does). ``fail={"answer": exc}`` makes every call of a task raise.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from agents.llm.errors import LLMError
from agents.llm.types import Completion, Message, Passage, StreamEvent, Usage

PROVIDER = "fake:scripted"


class ScriptedLLM:
    """Fake router. ``calls`` records ``{"method", "task", "messages", "context", "model"}``.

    Args:
        script: task -> list of items (see the module docstring).
        fail: task -> exception raised by every call of that task.
        delay: seconds to sleep before each token / structured answer (0: instant).
    """

    def __init__(self, script: dict[str, list] | None = None, *,
                 fail: dict[str, Exception] | None = None, delay: float = 0.0) -> None:
        self.script = {task: list(items) for task, items in (script or {}).items()}
        self.fail = dict(fail or {})
        self.delay = delay
        self.calls: list[dict] = []

    def _next(self, method: str, task: str, messages: list[Message], context: Any,
              model: str | None, default: Any = None) -> Any:
        self.calls.append({"method": method, "task": task, "messages": messages,
                           "context": context, "model": model})
        if task in self.fail:
            raise self.fail[task]
        items = self.script.get(task)
        item = items.pop(0) if items else None
        return item(messages, context, default) if callable(item) else item

    async def stream(self, task: str, messages: list[Message], *, model: str | None = None,
                     context: list[Passage] | None = None) -> AsyncIterator[StreamEvent]:
        """Yield the scripted events for ``task`` (see the module docstring)."""
        item = self._next("stream", task, messages, context, model)
        if isinstance(item, Exception):
            raise item
        if item is None:
            item = default_answer(context)
        events = item if isinstance(item, list) else _tokens(item) + [_usage_event(item)]
        for event in events:
            if self.delay:
                await asyncio.sleep(self.delay)
            if isinstance(event, Exception):
                raise event
            yield event

    async def complete(self, task: str, messages: list[Message], *, model: str | None = None,
                       context: list[Passage] | None = None) -> Completion:
        """The joined tokens of :meth:`stream` (after the last reset)."""
        parts: list[str] = []
        async for event in self.stream(task, messages, model=model, context=context):
            if event.kind == "reset":
                parts.clear()
            elif event.kind == "token":
                parts.append(event.text)
        return Completion(text="".join(parts), usage=usage("".join(parts)))

    async def structured(self, task: str, messages: list[Message], schema: type, *,
                         model: str | None = None, context: list[Passage] | None = None,
                         default: Any = None) -> tuple[Any, Usage]:
        """The scripted decision for ``task``, else ``default``.

        Raises:
            LLMError: nothing scripted and ``default`` is None (as the extractive link).
        """
        item = self._next("structured", task, messages, context, model, default)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(item, Exception):
            raise item
        if item is None:
            if default is None:
                raise LLMError(f"no structured answer scripted for {task!r} and no default")
            return default, usage("")
        value = item if isinstance(item, schema) else schema.model_validate(item)
        return value, usage(str(item))

    def available_models(self) -> list[str]:
        return [PROVIDER]

    def chain(self, task: str, model: str | None = None) -> list[str]:
        return [PROVIDER]

    async def aclose(self) -> None:
        return None


def default_answer(context: list[Passage] | None) -> str:
    """A grounded one-sentence answer quoting passage [1], or a greeting without context."""
    if not context:
        return "Hello! Ask me anything about your documents."
    first = re.split(r"(?<=[.!?])\s", " ".join(context[0].text.split()), maxsplit=1)[0]
    return f"According to {context[0].source}, {first[:300]} [1]"


def usage(text: str) -> Usage:
    """A zero-cost usage record for ``text`` (tokens estimated as chars / 4)."""
    return Usage(provider="fake", model="scripted", input_tokens=0,
                 output_tokens=len(text) // 4, latency_ms=0.0, ttft_ms=0.0, cost_usd=0.0)


def token(text: str) -> StreamEvent:
    """A token event (for scripts)."""
    return StreamEvent(kind="token", text=text, provider=PROVIDER)


def reset(reason: str, provider: str = PROVIDER) -> StreamEvent:
    """A reset event (for scripts): the provider failed after streaming."""
    return StreamEvent(kind="reset", reason=reason, provider=provider)


def _tokens(text: str) -> list[StreamEvent]:
    return [token(piece) for piece in re.findall(r"\s*\S+", text) or [text]]


def _usage_event(text: str) -> StreamEvent:
    return StreamEvent(kind="usage", usage=usage(text), provider=PROVIDER)
