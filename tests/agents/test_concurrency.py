"""Shared flow objects under concurrency, cancellation, and the step budget."""

from __future__ import annotations

import asyncio

import pytest

from agents.graph import get_flow
from agents.nodes.base import FlowNode
from agents.runner import BUDGET_EXHAUSTED, ask
from bench.fake_llm import ScriptedLLM


def echo_answer(messages, context, default):
    """Answer with the run's own question tag, cited, in several tokens."""
    tag = messages[-1].content.split()[-1]
    return f"Answer for {tag} part one part two [1]."


async def test_fifty_concurrent_runs_share_nothing(rag, scope, new_recorder):
    flow = get_flow()  # the process-wide flow every session uses
    llm = ScriptedLLM({"answer": [echo_answer] * 50}, delay=0.0005)  # one router for all
    recorders = [new_recorder() for _ in range(50)]
    questions = [f"What is the pressure of the Zorblat-9? tag-{i:02d}" for i in range(50)]
    results = await asyncio.gather(*(
        ask(q, scope=scope, rag=rag, router=llm, observer=r, flow=flow)
        for q, r in zip(questions, recorders)))
    run_ids, step_ids = set(), set()
    for i, (result, recorder) in enumerate(zip(results, recorders)):
        expected = f"Answer for tag-{i:02d} part one part two [1]."
        assert result.answer == expected and recorder.text() == expected
        ids = {e.run_id for e in recorder.events}
        assert len(ids) == 1 and not ids & run_ids
        run_ids |= ids
        steps = {e.step_id for e in recorder.of("node_start")}
        assert len(steps) == 5 and not steps & step_ids
        step_ids |= steps
        assert {e.step_id for e in recorder.events if e.step_id} == steps
        assert result.memory.turns[0].content == questions[i]
    assert flow.params == {} and get_flow() is flow


async def test_cancellation_reports_node_end_and_leaves_no_task(rag, scope, flow, recorder):
    first_token = asyncio.Event()

    async def observer(event):
        await recorder(event)
        if event.kind == "token":
            first_token.set()

    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": [" ".join(["word"] * 200)]}, delay=0.01)
    before = asyncio.all_tasks()
    task = asyncio.create_task(ask("Zorblat-9 pressure?", scope=scope, rag=rag, router=llm,
                                   observer=observer, flow=flow))
    await asyncio.wait_for(first_token.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ends = recorder.of("node_end")
    assert (ends[-1].node, ends[-1].error, ends[-1].action) == ("Answer", "CancelledError", None)
    assert recorder.events[-1].kind == "run_end"
    assert recorder.events[-1].error == "CancelledError"
    assert len(recorder.of("token")) < 200
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


class Ping(FlowNode):
    """Loops forever with Pong (a broken graph the step budget must stop)."""

    async def post_async(self, shared, prep, result):
        return "again"


class Pong(Ping):
    pass


async def test_the_step_budget_stops_a_looping_graph(rag, scope, recorder):
    from agents.graph import AnswerFlow

    ping, pong = Ping(), Pong()
    ping - "again" >> pong
    pong - "again" >> ping
    result = await ask("loop", scope=scope, rag=rag, router=ScriptedLLM(), observer=recorder,
                       flow=AnswerFlow(start=ping), max_rounds=2)
    assert result.answer == BUDGET_EXHAUSTED
    assert len(result.trace) == 10  # 3 * max_rounds + 4 nodes
    assert recorder.events[-1].error.startswith("StepBudgetExceeded")
