"""Each route of the flow end to end, with a scripted LLM and the real rag store."""

from __future__ import annotations

from agents.llm.errors import AllProvidersFailedError, LLMError
from agents.memory import Memory
from agents.nodes.answer import FAILED, NOT_FOUND
from agents.runner import ask
from bench.fake_llm import ScriptedLLM

PUMP_Q = "What is the maximum operating pressure of the Zorblat-9 pump?"


def pump_answer(messages, context, default):
    """Answer from whichever passage mentions the pressure, cited by its number."""
    n = next(p.n for p in context if "41 bar" in p.text)
    return f"The Zorblat-9 is rated for 41 bar [{n}]."


async def test_retrieve_route_answers_with_the_cited_chunk(rag, scope, flow, recorder, doc_ids):
    llm = ScriptedLLM({"route": [{"route": "retrieve", "reason": "about the manual"}],
                       "answer": [pump_answer], "review": [{"verdict": "approve"}]})
    result = await ask(PUMP_Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    assert result.route == "retrieve" and result.verdict == "approve"
    assert result.answer.startswith("The Zorblat-9 is rated for 41 bar [")
    assert len(result.citations) == 1
    assert result.citations[0].doc_id == doc_ids["zorblat-9-manual.md"]
    assert "41 bar" in result.citations[0].text
    assert [t["node"] for t in result.trace] == ["Supervisor", "Retrieve", "Answer", "Review",
                                                 "Finish"]
    assert recorder.text() == result.answer
    answer_call = next(c for c in llm.calls if c["task"] == "answer")
    assert answer_call["context"] and answer_call["context"][0].chunk_id  # passages for extractive


async def test_direct_route_answers_without_retrieval(rag, scope, flow, recorder):
    llm = ScriptedLLM({"route": [{"route": "direct"}], "answer": ["Hi! Ask me about your files."]})
    result = await ask("hello there", scope=scope, rag=rag, router=llm, observer=recorder,
                       flow=flow)
    assert result.route == "direct" and result.citations == []
    assert result.answer == "Hi! Ask me about your files."
    assert [t["node"] for t in result.trace] == ["Supervisor", "Answer", "Review", "Finish"]
    assert [c["task"] for c in llm.calls] == ["route", "answer"]  # no search, no review call
    assert llm.calls[1]["context"] == []


async def test_need_docs_route_names_the_kind_of_document(rag, empty_scope, flow, recorder):
    llm = ScriptedLLM()  # no model: every decision is the heuristic default
    result = await ask(PUMP_Q, scope=empty_scope, rag=rag, router=llm, observer=recorder,
                       flow=flow)
    assert result.route == "need_docs" and result.verdict is None
    assert "No documents are indexed here yet" in result.answer
    assert "Zorblat-9" in result.answer and "Upload" in result.answer
    assert [t["node"] for t in result.trace] == ["Supervisor", "AskForDocs", "Finish"]
    assert recorder.text() == result.answer


async def test_need_docs_overrides_a_retrieve_decision_when_nothing_is_indexed(
        rag, empty_scope, flow):
    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": [{"document_kinds": ["pump manual"],
                                   "message": "Please upload the pump's manual."}]})
    result = await ask(PUMP_Q, scope=empty_scope, rag=rag, router=llm, flow=flow)
    assert result.route == "need_docs"
    assert result.answer == "Please upload the pump's manual."


async def test_clarify_route_asks_one_question_back(rag, scope, flow, recorder):
    llm = ScriptedLLM({"route": [{"route": "clarify", "reason": "which pump?"}],
                       "answer": [{"question": "Which pump do you mean?"}]})
    result = await ask("what about the pump?", scope=scope, rag=rag, router=llm,
                       observer=recorder, flow=flow)
    assert result.route == "clarify"
    assert result.answer == "Which pump do you mean?"
    assert [t["node"] for t in result.trace] == ["Supervisor", "Clarify", "Finish"]
    assert result.memory.turns[-1].content == "Which pump do you mean?"


async def test_review_retry_then_approve(rag, scope, flow, recorder):
    llm = ScriptedLLM({
        "route": [{"route": "retrieve"}],
        "answer": ["The pump handles 60 bar [1].", pump_answer],
        "review": [{"verdict": "retry", "unsupported": [1],
                    "refined_query": "Zorblat-9 maximum pressure bar",
                    "feedback": "[1] does not say 60 bar."},
                   {"verdict": "approve"}]})
    result = await ask(PUMP_Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    assert [(t["node"], t["action"]) for t in result.trace] == [
        ("Supervisor", "retrieve"), ("Retrieve", "answer"), ("Answer", "review"),
        ("Review", "retry"), ("Retrieve", "answer"), ("Answer", "review"),
        ("Review", "approve"), ("Finish", "done")]
    assert result.verdict == "approve" and "41 bar" in result.answer
    searches = [e.text for e in recorder.of("progress") if e.text.startswith("searching")]
    assert searches[1] == "searching: Zorblat-9 maximum pressure bar"
    second_answer_prompt = [c for c in llm.calls if c["task"] == "answer"][1]["messages"][0]
    assert "[1] does not say 60 bar." in second_answer_prompt.content
    assert len(recorder.of("stream_reset")) == 1 and recorder.text() == result.answer


async def test_escalate_after_the_round_budget(rag, scope, flow, recorder):
    unsupported = {"verdict": "retry", "unsupported": [1], "feedback": "not in the source"}
    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": ["It runs at 60 bar [1].", "It runs at 60 bar [1]."],
                       "review": [unsupported, unsupported]})
    result = await ask(PUMP_Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow,
                       max_rounds=2)
    actions = [(t["node"], t["action"]) for t in result.trace]
    assert actions.count(("Answer", "review")) == 2
    assert actions[-2:] == [("Review", "escalate"), ("Finish", "done")]
    assert result.verdict == "escalate"
    assert result.answer.startswith("It runs at 60 bar [1].\n\nNote: [1] could not be verified")
    assert recorder.text() == result.answer


async def test_a_node_whose_llm_keeps_failing_ends_gracefully(rag, scope, flow, recorder):
    down = AllProvidersFailedError("answer", [LLMError("503 from upstream", provider="x:y")])
    llm = ScriptedLLM({"route": [{"route": "retrieve"}]}, fail={"answer": down})
    result = await ask(PUMP_Q, scope=scope, rag=rag, router=llm, observer=recorder, flow=flow)
    assert result.answer == FAILED.format(error="AllProvidersFailedError: " + str(down))
    assert len([c for c in llm.calls if c["task"] == "answer"]) == 2  # max_retries
    answer_end = next(e for e in recorder.of("node_end") if e.node == "Answer")
    assert answer_end.error.startswith("AllProvidersFailedError: ")
    assert "503 from upstream" in answer_end.error and answer_end.action == "review"
    assert result.verdict == "escalate" and result.citations == []


async def test_nothing_found_says_so_instead_of_guessing(rag, scope, flow):
    llm = ScriptedLLM({"route": [{"route": "retrieve"}]})
    result = await ask("qwxz vbnm", scope=scope, rag=rag, router=llm, flow=flow, k=0)
    assert result.answer == NOT_FOUND
    assert [c["task"] for c in llm.calls] == ["route"]


async def test_follow_up_is_rewritten_with_the_history(rag, scope, flow, recorder):
    memory = Memory().with_exchange("Tell me about the Zorblat-9 seal.",
                                    "Replace it every 900 hours [1].")
    llm = ScriptedLLM({"route": [{"route": "retrieve"},
                                 {"query": "Zorblat-9 quillon seal kit part number"}],
                       "answer": ["QS-7731 [1]."]})
    result = await ask("and its part number?", scope=scope, rag=rag, router=llm,
                       observer=recorder, memory=memory, flow=flow)
    rewrite_prompt = llm.calls[1]["messages"][1].content
    assert "Tell me about the Zorblat-9 seal." in rewrite_prompt
    assert "searching: Zorblat-9 quillon seal kit part number" in [
        e.text for e in recorder.of("progress")]
    assert "QS-7731" in result.citations[0].text
    assert len(result.memory.turns) == 4 and len(memory.turns) == 2  # input not modified
