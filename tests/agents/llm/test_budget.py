"""Prompt budget of the local model: passages are trimmed, the question never is."""

from __future__ import annotations

from dataclasses import dataclass

from agents.llm.budget import estimate, fit_messages
from agents.llm.local_supervisor import choose_threads
from agents.llm.types import Message
from agents.memory import Memory
from agents.prompts import ANSWER_SYSTEM, answer_messages


@dataclass
class Chunk:
    text: str
    source: str
    page: int | None = None
    heading: str | None = None


def chunks(sizes: list[int]) -> list[Chunk]:
    return [Chunk(" ".join(f"w{i}x{j}" for j in range(size // 7)), f"doc{i}.pdf", i)
            for i, size in enumerate(sizes, 1)]


def test_small_prompt_is_untouched() -> None:
    messages = answer_messages("What is it?", Memory(), chunks([300, 300]))
    assert fit_messages(messages, 1024) is messages


def test_passages_are_trimmed_to_the_budget_keeping_headers_prefix_and_question() -> None:
    question = "Which committee met in week 3?"
    messages = answer_messages(question, Memory(), chunks([1900, 1900, 400, 1900, 1900]),
                               feedback="cite [2]")
    assert estimate(messages) > 1500
    fitted = fit_messages(messages, 700)
    system = fitted[0].content
    assert estimate(fitted) <= 700 * 1.05
    assert system.startswith(ANSWER_SYSTEM)  # the cached prefix stays byte for byte
    assert "A reviewer rejected the previous draft: cite [2]" in system
    for i in range(1, 6):
        assert f"[{i}] (doc{i}.pdf, page {i})" in system  # every passage keeps its citation
    assert "w3x56" in system  # the short passage is kept whole (water-filling)
    assert fitted[-1] == Message("user", question)


def test_history_goes_before_passages() -> None:
    memory = Memory().with_exchange("earlier question " * 40, "earlier answer " * 40)
    messages = answer_messages("now?", memory, chunks([1000, 1000]))
    fitted = fit_messages(messages, estimate(messages) - 300)  # both turns must go
    assert [m.role for m in fitted] == ["system", "user"]
    assert fitted[0].content == messages[0].content and fitted[-1].content == "now?"


def test_threads_follow_the_cores_this_process_may_use() -> None:
    assert choose_threads(1) == 1
    assert choose_threads(2) == 1  # 2 threads collapse when the other core is busy
    assert choose_threads(4) == 3
    assert choose_threads(64) == 8
    assert choose_threads() >= 1
