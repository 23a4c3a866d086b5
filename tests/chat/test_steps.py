"""FlowRenderer: flow events become nested Chainlit steps and a streamed reply.

Chainlit's mocked-context pattern (as in Chainlit's own backend tests): a
``WebsocketSession`` mock whose ``emit`` records every socket event the real
``ChainlitEmitter`` sends, inside a real ``ChainlitContext``.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from contextlib import asynccontextmanager
from unittest.mock import AsyncMock, Mock

import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.session import WebsocketSession
from chainlit.user import PersistedUser

from agents.observer import FlowEvent
from chat.logging import EVENTS_LOGGER, JsonLineFormatter
from chat.steps import AnswerStream, FlowRenderer, format_node_output, step_type


@asynccontextmanager
async def chainlit_session(user: str = "alice", thread_id: str | None = None,
                           session_id: str | None = None):
    """A real ChainlitContext over a mocked websocket session; yields the session.

    ``session.emit.call_args_list`` holds every ``(event, payload)`` sent to the browser.
    """
    session = Mock(spec=WebsocketSession)
    session.id = session_id or f"session-{uuid.uuid4()}"
    session.thread_id = thread_id or str(uuid.uuid4())
    # as in the app: Chainlit's persisted user, whose stable id owns the documents
    session.user = PersistedUser(id=f"id-{user}", createdAt="2026-01-01T00:00:00Z",
                                 identifier=user)
    session.user_env = {}
    session.chat_settings = {}
    session.chat_profile = None
    session.client_type = "webapp"
    session.languages = ["en"]
    session.has_first_interaction = True
    session.emit = AsyncMock()
    session.persist_file = AsyncMock(side_effect=lambda **kw: {"id": str(uuid.uuid4())})
    token = context_var.set(ChainlitContext(session))
    try:
        yield session
    finally:
        context_var.reset(token)


def emitted(session, *kinds: str) -> list[tuple[str, dict]]:
    """The ``(event, payload)`` pairs emitted so far, optionally only of ``kinds``."""
    calls = [(c.args[0], c.args[1]) for c in session.emit.call_args_list]
    return [c for c in calls if not kinds or c[0] in kinds]


def last_state(session, step_id: str) -> dict:
    """The last full dict sent for a step (new_message / update_message)."""
    states = [p for e, p in emitted(session, "new_message", "update_message")
              if p.get("id") == step_id]
    assert states, f"step {step_id} never sent"
    return states[-1]


def ev(kind: str, **kw) -> FlowEvent:
    return FlowEvent(kind=kind, run_id="run-1", **kw)


SCRIPT = [
    ev("run_start", data={"question": "What is the deadline?"}),
    ev("node_start", node="Supervisor", step_id="s1", data={"input": {"question": "q"}}),
    ev("usage", node="Supervisor", step_id="s1",
       data={"usage": Mock(provider="openai", model="gpt-4.1-nano", input_tokens=120,
                           output_tokens=9, cost_usd=None)}),
    ev("node_end", node="Supervisor", step_id="s1", action="retrieve", duration_ms=12.5,
       data={"output": {"route": "retrieve", "route_reason": "needs the documents"}}),
    ev("node_start", node="ReviewLoopFlow", step_id="f1", data={"input": {}}),
    ev("node_start", node="Retrieve", step_id="s2", parent_id="f1",
       data={"input": {"question": "q"}}),
    ev("node_end", node="Retrieve", step_id="s2", parent_id="f1", action="default",
       duration_ms=40.0, data={"output": {"query": "deadline", "chunks": [
           {"source": "a.pdf", "page": 2, "chunk_id": "c0ffee", "doc_id": "d00d",
            "text": "The deadline is March 3rd.\nSecond line."},
           {"source": "b.md", "page": None, "chunk_id": "beef", "doc_id": "f00d",
            "heading": "Dates", "text": "Plans change."}]}}),
    ev("node_start", node="Answer", step_id="s3", parent_id="f1", data={"input": {}}),
    ev("token", node="Answer", step_id="s3", parent_id="f1", text="Wrong "),
    ev("token", node="Answer", step_id="s3", parent_id="f1", text="start"),
    ev("stream_reset", node="Answer", step_id="s3", parent_id="f1", text="provider failed"),
    ev("token", node="Answer", step_id="s3", parent_id="f1", text="March "),
    ev("token", node="Answer", step_id="s3", parent_id="f1", text="3rd [1]"),
    ev("node_end", node="Answer", step_id="s3", parent_id="f1", action="default",
       duration_ms=1500.0, data={"output": {"draft": "March 3rd [1]"}}),
    ev("node_start", node="Review", step_id="s4", parent_id="f1", data={"input": {}}),
    ev("node_end", node="Review", step_id="s4", parent_id="f1", action="approve",
       duration_ms=5.0, data={"output": {"verdict": "approve"}}),
    ev("node_end", node="ReviewLoopFlow", step_id="f1", action="approve", duration_ms=1600.0),
    ev("run_end", duration_ms=1700.0, data={"route": "retrieve", "verdict": "approve"}),
]


@pytest.fixture
def event_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger(EVENTS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


async def render(script, parent_id="on-message-step"):
    answer = AnswerStream()
    renderer = FlowRenderer(answer, thread_id="thread-1", parent_id=parent_id)
    for event in script:
        await renderer(event)
    return renderer, answer


async def test_nodes_become_nested_typed_steps_with_decision_and_verdict(event_log):
    async with chainlit_session() as session:
        renderer, _ = await render(SCRIPT)
        run = last_state(session, renderer.run_step.id)
        sup = last_state(session, renderer.steps["s1"].id)
        flow = last_state(session, renderer.steps["f1"].id)
        ret = last_state(session, renderer.steps["s2"].id)
        review = last_state(session, renderer.steps["s4"].id)

    assert (run["type"], run["parentId"]) == ("run", "on-message-step")
    assert (sup["type"], sup["parentId"]) == ("llm", run["id"])
    assert (flow["type"], flow["parentId"]) == ("run", run["id"])
    assert (ret["type"], ret["parentId"]) == ("retrieval", flow["id"])
    assert review["parentId"] == flow["id"]
    # plain words: names, decisions, passages as file, page and first line
    assert (run["name"], sup["name"], review["name"]) == (
        "Working on your question", "Deciding how to answer",
        "Checking the answer against the sources")
    assert ret["name"] == "Searching your documents (2 passages from 2 files)"
    assert "**Decision:** search your documents" in sup["output"]
    assert "needs the documents" in sup["output"]
    assert "`openai:gpt-4.1-nano` · 120 in / 9 out tokens" in sup["output"]
    assert "**Verdict:** every claim is supported" in review["output"]
    assert "**Check:** every claim is supported" in run["output"]
    assert sup["input"] == "**Question:** q"
    assert "1. a.pdf, page 2 — “The deadline is March 3rd.”" in ret["output"]
    assert "2. b.md (Dates) — “Plans change.”" in ret["output"]
    # ids only in the collapsed Details child step
    assert "c0ffee" not in ret["output"] and "d00d" not in ret["output"]
    details = [p for e, p in emitted(session, "new_message", "update_message")
               if p.get("name") == "Details" and p.get("parentId") == ret["id"]]
    assert details and '"chunk_id": "c0ffee"' in details[-1]["output"]
    assert sup["start"] and sup["end"] and sup["end"] >= sup["start"]
    assert "1.5 s" in last_state(session, renderer.steps["s3"].id)["output"]

    lines = [json.loads(x) for x in event_log.getvalue().splitlines()]
    assert [x["node"] for x in lines] == ["Supervisor", "Retrieve", "Answer", "Review",
                                          "ReviewLoopFlow"]
    assert lines[0] | {"ts": None} == {
        "ts": None, "event": "node", "run_id": "run-1", "thread_id": "thread-1",
        "node": "Supervisor", "action": "retrieve", "duration_ms": 12.5, "error": None}


async def test_a_declined_run_says_the_documents_do_not_answer_not_that_claims_hold():
    """supported false with an approved check (an extractive decline): the run's check
    line must not claim the answer is supported."""
    script = [*SCRIPT[:-1], ev("run_end", duration_ms=1700.0, data={
        "route": "retrieve", "verdict": "approve", "supported": False})]
    async with chainlit_session() as session:
        renderer, _ = await render(script)
        run = last_state(session, renderer.run_step.id)
    assert "**Check:** your documents do not answer this question" in run["output"]
    assert "every claim is supported" not in run["output"]


async def test_tokens_stream_and_a_reset_rebuilds_the_reply():
    async with chainlit_session() as session:
        _, answer = await render(SCRIPT)
        message_id = answer.message.id
        events = [(e, p) for e, p in emitted(session) if p.get("id") == message_id]

    kinds = [e for e, _ in events]
    # first stream, reset to empty, second stream from scratch
    assert kinds == ["stream_start", "stream_token", "update_message", "stream_start",
                     "stream_token"]
    assert events[0][1]["output"] == "Wrong "
    assert events[2][1]["output"] == ""
    assert events[3][1]["output"] == "March "
    assert answer.message.content == "March 3rd [1]"
    assert answer.resets == 1


async def test_failed_node_is_an_error_step_and_close_ends_open_steps():
    script = [ev("run_start", data={"question": "q"}),
              ev("node_start", node="Supervisor", step_id="s1"),
              ev("node_end", node="Supervisor", step_id="s1", error="LLMError: boom",
                 duration_ms=3.0),
              ev("node_start", node="Retrieve", step_id="s2")]
    async with chainlit_session() as session:
        renderer, _ = await render(script)
        await renderer.close("Stopped")
        failed = last_state(session, renderer.steps["s1"].id)
        stopped = last_state(session, renderer.steps["s2"].id)
        run = last_state(session, renderer.run_step.id)
    assert failed["isError"] is True and "**Error:** LLMError: boom" in failed["output"]
    assert stopped["output"] == "**Stopped**" and stopped["end"]
    assert run["output"] == "**Stopped**"


def test_step_types_and_output_format():
    assert [step_type(n) for n in ("Supervisor", "Retrieve", "Answer", "Review", "Finish",
                                   "AskForDocs", "SubFlow", "HybridSearch")] == [
        "llm", "retrieval", "llm", "llm", "tool", "tool", "run", "retrieval"]
    text = format_node_output("Review", "retry", {"verdict": "retry", "review": {
        "unsupported": [2], "feedback": "missing date"}}, 2400.0, [], None)
    assert text.startswith("**Verdict:** some claims are not supported")
    assert "Not supported: [2]" in text and "missing date" in text and text.endswith("_2.4 s_")
