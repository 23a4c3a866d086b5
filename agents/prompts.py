"""Prompt building: plain functions that turn run state into router messages.

Every function returns ``list[Message]`` ready for ``LLMRouter.stream/complete/structured``
(see agents/llm); chunks are ``rag.models.SearchResult``-like objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.llm.types import Message, Passage
from agents.memory import Memory

MAX_CHUNK_CHARS = 2000   # per chunk shown to a model
MAX_TURN_CHARS = 1500    # per remembered message shown to a model

ANSWER_SYSTEM = (
    "You answer questions about the user's documents. Use only the numbered sources "
    "below. Cite every claim with the number of its source in square brackets, like [1] "
    "or [2][3]. If the sources do not contain the answer, reply with exactly this sentence: "
    "\"Your documents do not contain an answer to this question.\" and nothing invented; "
    "do not guess. Be concise.")
DIRECT_SYSTEM = (
    "You are the assistant of a document chat. Answer small talk and questions about "
    "this conversation briefly. Do not invent facts about the user's documents.")


def history_messages(memory: Memory) -> list[Message]:
    """The remembered conversation as messages, the running summary first."""
    messages = []
    if memory.summary:
        messages.append(Message(role="system",
                                content="Summary of the earlier conversation:\n" + memory.summary))
    for turn in memory.turns:
        messages.append(Message(role=turn.role, content=_clip(turn.content, MAX_TURN_CHARS)))
    return messages


def history_text(memory: Memory, limit: int = 6) -> str:
    """The summary and the last ``limit`` messages as plain text ("" when none)."""
    lines = [memory.summary] if memory.summary else []
    lines += [f"{t.role}: {_clip(t.content, 400)}" for t in memory.turns[-limit:]]
    return "\n".join(lines)


def route_messages(question: str, memory: Memory, chunk_count: int,
                   documents: Sequence[str]) -> list[Message]:
    """Supervisor: decide retrieve / direct / need_docs / clarify."""
    listing = ", ".join(documents[:20]) or "none"
    system = (
        "You route questions in a document chat. Reply with one route:\n"
        "- retrieve: the answer should come from the user's documents;\n"
        "- direct: small talk, or a question about this conversation itself;\n"
        "- need_docs: nothing indexed can answer it (say so when no document fits);\n"
        "- clarify: the question is too ambiguous to answer; ask one short question.\n"
        f"Indexed in this scope: {chunk_count} chunks from documents: {listing}.")
    history = history_text(memory)
    user = (f"Conversation so far:\n{history}\n\n" if history else "") + f"Question: {question}"
    return [Message(role="system", content=system), Message(role="user", content=user)]


def rewrite_messages(question: str, memory: Memory) -> list[Message]:
    """Retrieve: rewrite a follow-up into a standalone search query."""
    system = ("Rewrite the user's last question into a standalone search query that can be "
              "understood without the conversation. Keep names and terms; add nothing else.")
    user = f"Conversation:\n{history_text(memory)}\n\nLast question: {question}"
    return [Message(role="system", content=system), Message(role="user", content=user)]


def to_passages(chunks: Sequence[Any]) -> list[Passage]:
    """Chunks as numbered passages ``[1]..[n]`` for the router's ``context``."""
    return [Passage(n=i, text=c.text, source=c.source, page=c.page, chunk_id=c.chunk_id)
            for i, c in enumerate(chunks, start=1)]


def sources_text(chunks: Sequence[Any]) -> str:
    """Numbered sources as shown to the model."""
    blocks = []
    for i, chunk in enumerate(chunks, start=1):
        where = chunk.source + (f", page {chunk.page}" if chunk.page else "")
        where += f", {chunk.heading}" if chunk.heading else ""
        blocks.append(f"[{i}] ({where})\n{_clip(chunk.text, MAX_CHUNK_CHARS)}")
    return "\n\n".join(blocks)


def answer_messages(question: str, memory: Memory, chunks: Sequence[Any],
                    feedback: str = "") -> list[Message]:
    """Answer: grounded in ``chunks`` (or a direct reply when there are none)."""
    if not chunks:
        return [Message(role="system", content=DIRECT_SYSTEM), *history_messages(memory),
                Message(role="user", content=question)]
    # the fixed instruction first (a model server reuses it from its prompt cache), the
    # sources last: agents.llm.budget trims the "[n] " blocks after "Sources:" to fit
    system = ANSWER_SYSTEM
    if feedback:
        system += "\n\nA reviewer rejected the previous draft: " + feedback
    system += "\n\nSources:\n" + sources_text(chunks)
    return [Message(role="system", content=system), *history_messages(memory),
            Message(role="user", content=question)]


def review_messages(question: str, draft: str, claims: Sequence[tuple[str, list[int]]],
                    chunks: Sequence[Any]) -> list[Message]:
    """Review: check each cited claim against the chunk(s) it cites."""
    lines = []
    for i, (claim, numbers) in enumerate(claims, start=1):
        cited = "\n".join(f"  [{n}] {_clip(chunks[n - 1].text, 800)}" if 1 <= n <= len(chunks)
                          else f"  [{n}] (no such source)" for n in numbers)
        lines.append(f"Claim {i}: {claim}\n{cited}")
    system = (
        "You check a draft answer. For each claim, decide whether the cited source supports "
        "it (the cited text exists in the source and says what the claim says). "
        "verdict=approve when all claims are supported (or the draft correctly says the "
        "sources do not contain the answer); verdict=decline when no source contains the "
        "answer to the question; otherwise verdict=retry, list the unsupported "
        "citation numbers, and give feedback for the next draft or a refined_query when "
        "the sources miss the answer.")
    user = (f"Question: {question}\n\nDraft:\n{draft}\n\nClaims and their sources:\n"
            + ("\n\n".join(lines) if lines else "(the draft cites nothing)")
            + "\n\nAll sources:\n" + sources_text(chunks))
    return [Message(role="system", content=system), Message(role="user", content=user)]


def docs_request_messages(question: str, documents: Sequence[str]) -> list[Message]:
    """AskForDocs: which kind of document would answer the question."""
    system = ("No indexed document can answer the user's question. In one or two sentences, "
              "say so and name the kind of document that would help (e.g. a product manual, "
              "an annual report). Indexed now: " + (", ".join(documents[:20]) or "nothing"))
    return [Message(role="system", content=system), Message(role="user", content=question)]


def clarify_messages(question: str, memory: Memory) -> list[Message]:
    """Clarify: one short question back."""
    system = ("The user's question is ambiguous. Ask exactly one short clarifying question "
              "that would let you answer it from their documents.")
    history = history_text(memory)
    user = (f"Conversation:\n{history}\n\n" if history else "") + f"Question: {question}"
    return [Message(role="system", content=system), Message(role="user", content=user)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
