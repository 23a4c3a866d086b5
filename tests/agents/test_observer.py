"""The observer mixin: event order, nesting, failing observers, the exact events of a run."""

from __future__ import annotations

import asyncio

import pytest
from pocketflow import AsyncFlow, AsyncNode

from agents.observer import Observed, bind_run, emit, emit_token
from agents.runner import ask
from bench.fake_llm import ScriptedLLM


class Say(Observed, AsyncNode):
    """Emits its name as a token and records it in shared["said"]."""

    async def exec_async(self, prep):
        await emit_token(type(self).__name__)

    async def post_async(self, shared, prep, result):
        shared.setdefault("said", []).append(type(self).__name__)
        return "next"


class First(Say):
    pass


class Second(Say):
    pass


class Inner(Observed, AsyncFlow):
    pass


class Outer(Observed, AsyncFlow):
    pass


def nested_flow() -> Outer:
    first, second = First(), Second()
    inner = Inner(start=second)
    first - "next" >> inner
    return Outer(start=first)


async def run_flow(flow, observer) -> dict:
    shared: dict = {"trace": []}
    with bind_run(observer, run_id="r1"):
        await flow.run_async(shared)
    return shared


async def test_nested_flow_steps_name_their_parent(recorder):
    await run_flow(nested_flow(), recorder)
    rows = [(e.kind, e.node) for e in recorder.events]
    assert rows == [("node_start", "First"), ("token", "First"), ("node_end", "First"),
                    ("node_start", "Inner"), ("node_start", "Second"), ("token", "Second"),
                    ("node_end", "Second"), ("node_end", "Inner")]
    first, inner, second = (recorder.of("node_start")[i] for i in range(3))
    assert first.parent_id is None and inner.parent_id is None  # the root flow is no step
    assert second.parent_id == inner.step_id
    assert recorder.of("token")[1].step_id == second.step_id
    assert len({first.step_id, inner.step_id, second.step_id}) == 3
    assert {e.run_id for e in recorder.events} == {"r1"}


async def test_a_failing_observer_does_not_break_the_run(caplog):
    calls = []

    async def broken(event):
        calls.append(event.kind)
        raise RuntimeError("observer bug")

    shared = await run_flow(nested_flow(), broken)
    assert shared["said"] == ["First", "Second"]
    assert len(calls) == 8
    assert "observer failed on node_start event of First" in caplog.text


async def test_sync_observers_and_no_observer_work():
    seen = []
    shared = await run_flow(nested_flow(), seen.append)
    assert [e.kind for e in seen][:3] == ["node_start", "token", "node_end"]
    shared = await run_flow(nested_flow(), None)
    assert shared["said"] == ["First", "Second"]
    assert [t["node"] for t in shared["trace"]] == ["First", "Second", "Inner"]


async def test_emit_outside_a_run_is_a_no_op(recorder):
    await emit("progress", text="nobody listens")
    assert recorder.events == []


async def test_node_end_reports_the_exception_of_a_failing_node(recorder):
    class Boom(Observed, AsyncNode):
        async def exec_async(self, prep):
            raise ValueError("bad input")

    with pytest.raises(ValueError), bind_run(recorder):
        await AsyncFlow(start=Boom()).run_async({})
    end = recorder.of("node_end")[0]
    assert (end.node, end.action, end.error) == ("Boom", None, "ValueError: bad input")


async def test_exact_event_sequence_of_a_run(rag, scope, flow, recorder):
    llm = ScriptedLLM({"route": [{"route": "retrieve"}], "answer": ["Rated for 41 bar [1]."],
                       "review": [{"verdict": "approve"}]})
    result = await ask("Maximum pressure of the Zorblat-9?", scope=scope, rag=rag, router=llm,
                       observer=recorder, flow=flow)
    assert recorder.shape() == [
        ("run_start", ""),
        ("node_start", "Supervisor"), ("usage", "Supervisor"),
        ("node_end", "Supervisor", "retrieve"),
        ("node_start", "Retrieve"), ("progress", "Retrieve"), ("progress", "Retrieve"),
        ("node_end", "Retrieve", "answer"),
        ("node_start", "Answer"), ("token", "Answer"), ("usage", "Answer"),
        ("node_end", "Answer", "review"),
        ("node_start", "Review"), ("usage", "Review"), ("node_end", "Review", "approve"),
        ("node_start", "Finish"), ("node_end", "Finish", "done"),
        ("run_end", "")]
    tokens = [e.text for e in recorder.of("token")]
    assert tokens == ["Rated", " for", " 41", " bar", " [1]."]
    starts, ends = recorder.of("node_start"), recorder.of("node_end")
    assert [s.step_id for s in starts] == [e.step_id for e in ends]
    assert all(e.parent_id is None for e in starts)
    assert {e.run_id for e in recorder.events} == {recorder.events[0].run_id}
    assert starts[0].data == {"input": {"question": "Maximum pressure of the Zorblat-9?"}}
    assert ends[0].data["output"]["route"] == "retrieve"
    assert all(e.duration_ms >= 0 and e.error is None for e in ends)
    run_end = recorder.events[-1]
    assert run_end.data == {"route": "retrieve", "verdict": "approve", "steps": 5,
                            "supported": True}
    assert result.trace == [{"node": e.node, "action": e.action,
                             "duration_ms": round(e.duration_ms, 3), "error": None}
                            for e in ends]


async def test_observer_is_awaited_in_order_even_when_slow(rag, scope, flow):
    kinds = []

    async def slow(event):
        await asyncio.sleep(0.001 if event.kind == "token" else 0)
        kinds.append(event.kind)

    llm = ScriptedLLM({"route": [{"route": "direct"}], "answer": ["one two three"]})
    await ask("hi", scope=scope, rag=rag, router=llm, observer=slow, flow=flow)
    i = kinds.index("token")
    assert kinds[i:i + 4] == ["token", "token", "token", "usage"]
