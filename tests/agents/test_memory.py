"""Memory (recent turns plus a running summary), citation parsing, heuristic defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass

from agents.citations import build_citations, cited_claims, cited_numbers, invalid_numbers
from agents.decisions import default_review, default_route
from agents.memory import MAX_SUMMARY_CHARS, MAX_TURNS, Memory


def test_memory_round_trips_through_json():
    memory = Memory().with_exchange("q1", "a1. More.")
    again = Memory.from_dict(json.loads(json.dumps(memory.to_dict())))
    assert again == memory
    assert again.to_dict() == {"turns": [{"role": "user", "content": "q1"},
                                         {"role": "assistant", "content": "a1. More."}],
                               "summary": ""}
    assert Memory.from_dict(None) == Memory() and Memory().is_empty()


def test_long_conversations_fold_into_a_running_summary():
    memory = Memory()
    for i in range(10):
        memory = memory.with_exchange(f"question {i}?", f"Answer {i}. Detail {i}.")
    assert len(memory.turns) == MAX_TURNS
    assert memory.turns[0].content == "question 4?"
    assert memory.summary.splitlines() == [
        f"- User asked: question {i}? Answer: Answer {i}." for i in range(4)]


def test_summary_keeps_its_newest_lines_within_the_limit():
    memory = Memory()
    for i in range(60):
        memory = memory.with_exchange(f"question {i} " + "x" * 100, "y" * 300)
    assert len(memory.summary) <= MAX_SUMMARY_CHARS
    assert "question 53 " in memory.summary.splitlines()[-1]


def test_with_exchange_leaves_the_original_untouched():
    memory = Memory().with_exchange("q", "a")
    memory.with_exchange("q2", "a2")
    assert len(memory.turns) == 2


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str = "d"
    source: str = "f.md"
    page: int | None = None
    heading: str | None = None
    text: str = "t"


def test_citation_markers_are_parsed_in_order_without_repeats():
    assert cited_numbers("A [2]. B [1, 2][3]; C [4;5] and [x] [12]") == [2, 1, 3, 4, 5, 12]
    assert invalid_numbers("A [1] [3] [0]", n_chunks=2) == [3, 0]


def test_only_valid_cited_chunks_become_citations():
    chunks = [Chunk("c1"), Chunk("c2"), Chunk("c3")]
    citations = build_citations("X [3]. Y [1][3]. Z [9].", chunks)
    assert [(c.n, c.chunk_id) for c in citations] == [(3, "c3"), (1, "c1")]


def test_claims_keep_markers_after_the_full_stop():
    assert cited_claims("Made in 1991 [1]. Unsourced. Tabs [2].[3] Tail [4]") == [
        ("Made in 1991 [1].", [1]), ("Tabs [2].[3]", [2, 3]), ("Tail [4]", [4])]


def test_default_route_heuristic():
    empty, talked = Memory(), Memory().with_exchange("q", "a")
    assert default_route("Thanks!", empty, 0).route == "direct"
    assert default_route("what did I ask?", talked, 5).route == "direct"
    # about the conversation even before there is one: memory answers, not documents
    assert default_route("what did I ask?", empty, 5).route == "direct"
    assert default_route("What can you do and how do I add documents?", empty, 0).route \
        == "direct"
    assert default_route("?!", empty, 5).route == "clarify"
    assert default_route("pump pressure", empty, 0).route == "need_docs"
    assert default_route("pump pressure", empty, 3).route == "retrieve"


def test_default_review_approves_only_valid_citations():
    assert default_review("A [1]. B [2].", 2).verdict == "approve"
    retry = default_review("A [1]. B [7].", 2)
    assert (retry.verdict, retry.unsupported) == ("retry", [7])
