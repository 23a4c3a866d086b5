"""Streaming through the observer: provider failure mid-stream, retries that reset."""

from __future__ import annotations

from agents.llm.errors import LLMError
from agents.llm.types import StreamEvent
from agents.runner import ask
from bench.fake_llm import ScriptedLLM, reset, token, usage

Q = "Maximum pressure of the Zorblat-9?"


def answer_events(recorder):
    return [(e.kind, e.text) for e in recorder.events
            if e.node == "Answer" and e.kind in ("token", "stream_reset", "usage")]


async def test_provider_failing_mid_stream_resets_then_streams_the_fallback(
        rag, scope, flow, recorder):
    mid_stream_failure = [
        token("The pump"), token(" takes 60"),
        reset("openai:gpt-4.1-mini: connection reset after 2 tokens", "openai:gpt-4.1-mini"),
        token("Quote: rated for 41 bar"), token(" [1]"),
        StreamEvent(kind="usage", usage=usage("Quote: rated for 41 bar [1]"),
                    provider="extractive:quotes")]
    llm = ScriptedLLM({"route": [{"route": "retrieve"}], "answer": [mid_stream_failure]})
    result = await ask(Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    assert answer_events(recorder) == [
        ("token", "The pump"), ("token", " takes 60"),
        ("stream_reset", "openai:gpt-4.1-mini: connection reset after 2 tokens"),
        ("token", "Quote: rated for 41 bar"), ("token", " [1]"), ("usage", "")]
    assert result.answer == "Quote: rated for 41 bar [1]"
    assert recorder.text() == result.answer
    assert [c.n for c in result.citations] == [1]


async def test_a_node_retry_after_streaming_starts_with_a_reset(rag, scope, flow, recorder):
    broken_stream = [token("Half an"), LLMError("stream dropped", provider="x:y")]
    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": [broken_stream, "Rated for 41 bar [1]."]})
    result = await ask(Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    events = answer_events(recorder)
    assert events[0] == ("token", "Half an")
    assert events[1] == ("stream_reset", "a new draft replaces the previous one")
    assert "".join(text for kind, text in events[2:] if kind == "token") == result.answer
    assert result.answer == "Rated for 41 bar [1]."
    answer_end = next(e for e in recorder.of("node_end") if e.node == "Answer")
    assert answer_end.error is None  # recovered by the retry


async def test_usage_events_carry_the_router_usage(rag, scope, flow, recorder):
    llm = ScriptedLLM({"route": [{"route": "direct"}], "answer": ["Hello there"]})
    await ask("hi", scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    answer_usage = [e for e in recorder.of("usage") if e.node == "Answer"]
    assert len(answer_usage) == 1
    assert answer_usage[0].data["usage"].provider == "fake"
    assert answer_usage[0].data["usage"].output_tokens == len("Hello there") // 4


async def test_a_failing_decision_falls_back_to_the_heuristic_and_reports_it(
        rag, scope, flow, recorder):
    llm = ScriptedLLM(fail={"route": LLMError("route model unreachable", provider="x:y"),
                            "review": LLMError("review model unreachable", provider="x:y")})
    result = await ask(Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    errors = {e.node: e.error for e in recorder.of("node_end")}
    assert errors["Supervisor"] == "LLMError: x:y: route model unreachable"
    assert errors["Review"] == "LLMError: x:y: review model unreachable"
    assert errors["Answer"] is None and errors["Finish"] is None
    assert result.route == "retrieve"  # chunks exist in scope
    assert result.verdict == "approve" and result.citations  # default review: valid [1]
