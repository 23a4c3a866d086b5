"""Render a flow run as Chainlit steps and stream its answer into a message.

:class:`FlowRenderer` is the observer handed to ``agents.runner.ask``: each
``FlowEvent`` becomes a change in the UI.

- ``run_start`` / ``run_end``: one step of type ``run`` around the whole run; its
  output names the route and the review verdict.
- ``node_start`` / ``node_end``: one step per node execution, nested under the step of
  its ``parent_id`` (or under the run step), typed ``llm`` / ``retrieval`` / ``tool`` /
  ``run``, named and described in plain words (:mod:`chat.step_text`): what it read,
  what it decided or found, its duration; raw values and ids only in a collapsed
  "Details" child step.
- ``token`` / ``stream_reset``: the answer text, via :class:`AnswerStream`.
- ``usage`` / ``progress``: shown on the step in progress.

Every ``node_end`` also writes one JSON log line (:func:`chat.logging.log_node`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now

from chat.logging import log_node
from chat.step_text import (
    DECLINED_WORDS,
    DETAILS_NAME,
    ROUTE_WORDS,
    RUN_NAME,
    VERDICT_WORDS,
    describe_input,
    describe_output,
    details_json,
    retrieve_summary,
    step_name,
)

# Node class name -> Chainlit step type. Flows (names ending in "Flow") are "run".
NODE_TYPES: dict[str, str] = {
    "Supervisor": "llm",
    "Answer": "llm",
    "Review": "llm",
    "Retrieve": "retrieval",
    "Finish": "tool",
    "AskForDocs": "tool",
    "Clarify": "tool",
}
PROGRESS_EVERY_S = 0.25


def step_type(node: str) -> str:
    """The Chainlit step type of a node: ``run``, ``llm``, ``retrieval`` or ``tool``."""
    if node in NODE_TYPES:
        return NODE_TYPES[node]
    if node.endswith("Flow"):
        return "run"
    if "Retriev" in node or "Search" in node:
        return "retrieval"
    return "tool"


def format_duration(ms: float | None) -> str:
    """``"412 ms"`` or ``"3.2 s"``."""
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def format_usage(usage: Any) -> str:
    """``"`openai:gpt-4.1-mini` · 812 in / 95 out tokens · $0.0004"`` from a Usage (the
    link in backticks: markdown would take ``provider:model`` for a URL)."""
    if usage is None:
        return ""
    link = f"{getattr(usage, 'provider', '')}:{getattr(usage, 'model', '')}".strip(":")
    parts = [f"`{link}`" if link else ""]
    tokens_in, tokens_out = getattr(usage, "input_tokens", 0), getattr(usage, "output_tokens", 0)
    if tokens_in or tokens_out:
        parts.append(f"{tokens_in} in / {tokens_out} out tokens")
    cost = getattr(usage, "cost_usd", None)
    if cost:
        parts.append(f"${cost:.4f}")
    return " · ".join(p for p in parts if p)


def format_node_output(node: str, action: str | None, output: Any, duration_ms: float | None,
                       usage: list[str], error: str | None) -> str:
    """The markdown shown as a node step's output, in plain words.

    What the node decided or found (:func:`chat.step_text.describe_output`: the
    supervisor's decision, the passages found, the review's verdict), then duration and
    model usage. Raw values and ids go to the collapsed "Details" step instead.
    """
    lines = []
    if error:
        lines.append(f"**Error:** {error}")
    text = describe_output(node, action, output if isinstance(output, dict) else {})
    if text:
        lines.append(text)
    footer = " · ".join(x for x in [format_duration(duration_ms), *usage] if x)
    if footer:
        lines.append(f"_{footer}_")
    return "\n\n".join(lines)


class AnswerStream:
    """The reply message the answer streams into.

    Tokens are appended as they arrive; :meth:`reset` discards the partial text (the
    message content is rebuilt from scratch by the tokens that follow); :meth:`finish`
    sets the final text and citation elements and sends the message for good.
    """

    def __init__(self, author: str | None = None) -> None:
        self.message = cl.Message(content="", author=author)
        self.resets = 0

    @property
    def started(self) -> bool:
        """True once a token was shown."""
        return bool(self.message.streaming or self.message.content)

    async def token(self, text: str) -> None:
        """Append ``text`` to the reply in the UI."""
        await self.message.stream_token(text)

    async def reset(self, reason: str = "") -> None:
        """Clear the partial reply (a retry starts over)."""
        self.resets += 1
        if not self.started:
            return
        self.message.content = ""
        await self.message.update()

    async def finish(self, content: str, elements: list | None = None,
                     metadata: dict | None = None) -> cl.Message:
        """Send the final reply with its elements and metadata (merged into the
        message's); returns the message."""
        self.message.content = content
        self.message.elements = list(elements or [])
        if metadata:
            self.message.metadata = {**(self.message.metadata or {}), **metadata}
        await self.message.send()
        return self.message


class FlowRenderer:
    """Observer of one run: Chainlit steps for its nodes, its answer streamed.

    Args:
        answer: where tokens go.
        thread_id: written in the log lines.
        parent_id: the Chainlit step the run step nests under (the ``on_message`` step).
    """

    def __init__(self, answer: AnswerStream, *, thread_id: str | None,
                 parent_id: str | None = None) -> None:
        self.answer = answer
        self.thread_id = thread_id
        self.parent_id = parent_id
        self.run_id: str | None = None
        self.run_step: cl.Step | None = None
        self.steps: dict[str, cl.Step] = {}
        self.open: dict[str, cl.Step] = {}
        self.usage: dict[str, list[str]] = {}
        self.inputs: dict[str, Any] = {}
        self._progress_at: dict[str, float] = {}

    async def __call__(self, event: Any) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            await handler(event)

    # --- run -------------------------------------------------------------------
    async def _on_run_start(self, event: Any) -> None:
        self.run_id = event.run_id
        step = cl.Step(name=RUN_NAME, type="run", parent_id=self.parent_id,
                       id=str(uuid.uuid4()), default_open=True, show_input=False)
        step.start = utc_now()
        step.input = event.data.get("question", "") if event.data else ""
        step.metadata = {"run_id": event.run_id}
        self.run_step = step
        await step.send()

    async def _on_run_end(self, event: Any) -> None:
        step = self.run_step
        if step is None:
            return
        data = event.data or {}
        lines = []
        if data.get("route"):
            lines.append(f"**Decision:** {ROUTE_WORDS.get(data['route'], data['route'])}")
        if data.get("route") == "retrieve" and data.get("supported") is False \
                and data.get("verdict") == "approve":
            lines.append(f"**Check:** {DECLINED_WORDS}")
        elif data.get("verdict"):
            lines.append(f"**Check:** {VERDICT_WORDS.get(data['verdict'], data['verdict'])}")
        if event.error:
            lines.append(f"**Error:** {event.error}")
            step.is_error = event.error != "CancelledError"
        if event.duration_ms is not None:
            lines.append(f"_{format_duration(event.duration_ms)}_")
        step.output = "\n\n".join(lines)
        step.end = utc_now()
        await step.update()

    # --- nodes -----------------------------------------------------------------
    def _parent_for(self, event: Any) -> str | None:
        if event.parent_id and event.parent_id in self.steps:
            return self.steps[event.parent_id].id
        return self.run_step.id if self.run_step else self.parent_id

    async def _on_node_start(self, event: Any) -> None:
        self.run_id = self.run_id or event.run_id
        step = cl.Step(name=step_name(event.node), type=step_type(event.node),  # type: ignore[arg-type]
                       id=str(uuid.uuid4()), parent_id=self._parent_for(event),
                       show_input=True)
        step.start = utc_now()
        raw_input = (event.data or {}).get("input") or {}
        self.inputs[event.step_id] = raw_input
        step.input = describe_input(event.node, raw_input if isinstance(raw_input, dict) else {})
        step.metadata = {"run_id": event.run_id, "node": event.node}
        self.steps[event.step_id] = step
        self.open[event.step_id] = step
        await step.send()

    async def _on_node_end(self, event: Any) -> None:
        log_node(run_id=event.run_id, thread_id=self.thread_id, node=event.node,
                 action=event.action, duration_ms=event.duration_ms, error=event.error)
        step = self.steps.get(event.step_id)
        if step is None:
            return
        self.open.pop(event.step_id, None)
        output = (event.data or {}).get("output")
        step.output = format_node_output(
            event.node, event.action, output, event.duration_ms,
            self.usage.get(event.step_id, []), event.error)
        if event.node == "Retrieve" and isinstance(output, dict):
            step.name = f"{step_name(event.node)} ({retrieve_summary(output)})"
        step.language = None
        step.is_error = bool(event.error) and event.error != "CancelledError"
        step.end = utc_now()
        step.metadata.update({"action": event.action, "duration_ms": event.duration_ms,
                              "error": event.error})
        await step.update()
        await self._details(step, self.inputs.pop(event.step_id, {}), output)

    async def _details(self, parent: cl.Step, raw_input: Any, raw_output: Any) -> None:
        """A collapsed child step holding the raw input and output (ids included)."""
        if not raw_input and not raw_output:
            return
        details = cl.Step(name=DETAILS_NAME, type="tool", parent_id=parent.id,
                          id=str(uuid.uuid4()), default_open=False, show_input=False)
        details.start = details.end = utc_now()
        details.output = details_json({"input": raw_input, "output": raw_output})
        await details.send()

    # --- streaming and extras ----------------------------------------------------
    async def _on_token(self, event: Any) -> None:
        await self.answer.token(event.text)

    async def _on_stream_reset(self, event: Any) -> None:
        await self.answer.reset(event.text)

    async def _on_usage(self, event: Any) -> None:
        text = format_usage((event.data or {}).get("usage"))
        if text:
            self.usage.setdefault(event.step_id, []).append(text)

    async def _on_progress(self, event: Any) -> None:
        step = self.open.get(event.step_id)
        now = time.monotonic()
        if step is None or now - self._progress_at.get(event.step_id, 0.0) < PROGRESS_EVERY_S:
            return
        self._progress_at[event.step_id] = now
        data = event.data or {}
        counts = f" ({data.get('done')}/{data.get('total')})" if data.get("total") else ""
        step.output = f"{event.text}{counts}"
        await step.update()

    async def close(self, reason: str = "Stopped") -> None:
        """Close every step still open (after a cancel or a crash of the run)."""
        for key, step in list(self.open.items()):
            step.output = f"**{reason}**"
            step.end = utc_now()
            await step.update()
            self.open.pop(key, None)
        if self.run_step is not None and not self.run_step.end:
            self.run_step.output = f"**{reason}**"
            self.run_step.end = utc_now()
            await self.run_step.update()
