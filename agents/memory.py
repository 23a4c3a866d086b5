"""Conversation memory of a thread, and what a run returns.

A :class:`Memory` is passed into ``agents.runner.ask`` and a new one comes back in the
:class:`RunResult`; the caller stores it with its thread (it is JSON-serialisable), so
runs of different threads and users share nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agents.llm.types import Message

MAX_TURNS = 12            # messages kept verbatim (6 question/answer exchanges)
MAX_SUMMARY_CHARS = 2000  # the running summary keeps its most recent lines within this


@dataclass
class Memory:
    """Per-thread conversation memory: recent turns plus a running summary of older ones.

    Attributes:
        turns: the most recent messages, oldest first (roles "user" / "assistant").
        summary: one line per exchange folded out of ``turns``, oldest first.
    """

    turns: list[Message] = field(default_factory=list)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{"turns": [{"role": str, "content": str}], "summary": str}``."""
        return {"turns": [{"role": m.role, "content": m.content} for m in self.turns],
                "summary": self.summary}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Memory:
        """Inverse of :meth:`to_dict`; None or ``{}`` gives an empty memory.

        Raises:
            KeyError / TypeError: a turn without ``role`` or ``content``.
        """
        data = data or {}
        turns = [Message(role=t["role"], content=t["content"]) for t in data.get("turns", [])]
        return cls(turns=turns, summary=str(data.get("summary", "")))

    def copy(self) -> Memory:
        """An independent copy (no list or message is shared)."""
        return Memory.from_dict(self.to_dict())

    def with_exchange(self, question: str, answer: str) -> Memory:
        """A new memory with one question/answer exchange appended.

        When more than ``MAX_TURNS`` messages would be kept, the oldest exchanges are
        folded into the summary as one line each; the summary keeps its newest lines
        within ``MAX_SUMMARY_CHARS``.
        """
        turns = [*self.copy().turns, Message(role="user", content=question),
                 Message(role="assistant", content=answer)]
        lines = [line for line in self.summary.splitlines() if line.strip()]
        while len(turns) > MAX_TURNS:
            old, turns = turns[:2], turns[2:]
            lines.append(_summary_line(old))
        while lines and sum(len(line) + 1 for line in lines) > MAX_SUMMARY_CHARS:
            lines.pop(0)
        return Memory(turns=turns, summary="\n".join(lines))

    def is_empty(self) -> bool:
        """True when there is no earlier conversation."""
        return not self.turns and not self.summary


def _summary_line(exchange: list[Message]) -> str:
    question = next((m.content for m in exchange if m.role == "user"), "")
    answer = next((m.content for m in exchange if m.role == "assistant"), "")
    return f"- User asked: {_clip(question, 160)} Answer: {_clip(_first_sentence(answer), 200)}"


def _first_sentence(text: str) -> str:
    match = re.search(r"(.+?[.!?])(\s|$)", text.strip(), re.DOTALL)
    return match.group(1) if match else text.strip()


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Citation:
    """A source the answer cites as ``[n]``.

    Attributes:
        n: the number used in the answer text (1-based position in the retrieved chunks).
        chunk_id / doc_id: ids in the rag store.
        source: file name; page: 1-based PDF page or None; heading: "A > B" or None.
        text: the chunk text.
    """

    n: int
    chunk_id: str
    doc_id: str
    source: str
    page: int | None
    heading: str | None
    text: str


@dataclass
class RunResult:
    """What one run returns.

    Attributes:
        answer: the final answer text (as streamed, plus an escalation note if any).
        route: the supervisor's route: "retrieve" / "direct" / "need_docs" / "clarify"
            ("error" when the run failed before routing).
        citations: only the sources actually cited in ``answer``, by ``n``.
        memory: the thread's memory including this exchange.
        trace: one ``{"node", "action", "duration_ms", "error"}`` per node execution.
        verdict: review verdict "approve" / "escalate" / "decline", None when nothing
            was reviewed.
        supported: True when the answer rests on cited passages (or, on the direct
            route, on the app's own facts or the thread's memory); False when the reply
            says the documents do not contain the answer, asks for documents or asks back.
        evidence: the numbers of the extractive support decision (best sentence
            similarity, coverage, thresholds), None when a language model answered.
    """

    answer: str
    route: str
    citations: list[Citation]
    memory: Memory
    trace: list[dict[str, Any]]
    verdict: str | None
    supported: bool = False
    evidence: dict[str, Any] | None = None
