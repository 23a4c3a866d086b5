"""Structured decisions the nodes ask the LLM for, and heuristic defaults for each.

The defaults are what the router's extractive provider (no language model configured)
returns for a structured call, so each one must be a sensible decision on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from agents.citations import invalid_numbers
from agents.memory import Memory
from agents.meta import is_about_conversation, is_meta, is_small_talk

Route = Literal["retrieve", "direct", "need_docs", "clarify"]

_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|hallo|good (morning|afternoon|evening)|thanks?( you)?|thank you|"
    r"ok(ay)?|cool|great|bye|goodbye|who are you|what can you do)\b[\s!.?]*$", re.IGNORECASE)
_ABOUT_CONVERSATION = re.compile(
    r"\b(what did (i|you) (just )?(ask|say)|(summari[sz]e|recap) (our|this|the) "
    r"(conversation|chat)|your (last|previous) (answer|reply)|repeat that)\b", re.IGNORECASE)
_QUESTION_WORDS = re.compile(
    r"^(what|which|who|when|where|why|how)('s)?( (is|are|was|were|do|does|did|can|could|"
    r"should|would|much|many))?( (the|a|an))?\s+", re.IGNORECASE)


class RouteDecision(BaseModel):
    """Supervisor's decision: where the question goes next."""

    route: Route
    reason: str = ""


class Rewrite(BaseModel):
    """A follow-up question rewritten to stand on its own."""

    query: str


class ReviewDecision(BaseModel):
    """Review's check of a draft answer against the chunks it cites.

    ``decline``: the sources do not contain the answer (the reply becomes the decline
    sentence with the closest passages as related, not an answer).
    """

    verdict: Literal["approve", "retry", "decline"]
    unsupported: list[int] = Field(default_factory=list)  # citation numbers not supported
    refined_query: str = ""  # a better search query, when the chunks miss the answer
    feedback: str = ""       # what the next draft must fix


class DocsRequest(BaseModel):
    """need_docs: which kind of document would help."""

    document_kinds: list[str] = Field(default_factory=list)
    message: str


class ClarifyingQuestion(BaseModel):
    """clarify: one short question back to the user."""

    question: str


def default_route(question: str, memory: Memory, chunk_count: int) -> RouteDecision:
    """Heuristic route: questions about the app (agents.meta.is_meta), about the
    conversation and small talk go direct; with no chunks in scope ask for documents;
    an empty question asks back; else retrieve."""
    text = question.strip()
    if is_meta(text):
        return RouteDecision(route="direct", reason="a question about the app itself")
    if is_about_conversation(text) or _ABOUT_CONVERSATION.search(text):
        return RouteDecision(route="direct", reason="a question about this conversation")
    if _SMALL_TALK.match(text) or is_small_talk(text):
        return RouteDecision(route="direct", reason="small talk")
    if len(re.findall(r"\w+", text)) == 0:
        return RouteDecision(route="clarify", reason="the question is empty")
    if chunk_count == 0:
        return RouteDecision(route="need_docs", reason="no documents are indexed in this scope")
    return RouteDecision(route="retrieve", reason="documents are indexed in this scope")


def default_review(draft: str, n_chunks: int) -> ReviewDecision:
    """Heuristic review: approve when every cited number points at a retrieved chunk."""
    bad = invalid_numbers(draft, n_chunks)
    if bad:
        return ReviewDecision(verdict="retry", unsupported=bad,
                              feedback=f"Cite only the numbered sources [1] to [{n_chunks}].")
    return ReviewDecision(verdict="approve")


def default_docs_request(question: str, documents: Sequence[str]) -> DocsRequest:
    """A need_docs reply that names the topic of the question."""
    topic = _topic(question)
    if documents:
        listed = ", ".join(documents[:5]) + (" and others" if len(documents) > 5 else "")
        intro = f"None of the documents indexed here ({listed}) covers \"{topic}\"."
    else:
        intro = "No documents are indexed here yet, so I have nothing to answer from."
    return DocsRequest(
        document_kinds=[f"a document that covers \"{topic}\""],
        message=(f"{intro} Upload a document about \"{topic}\" (a manual, report, paper or "
                 "notes as PDF, Word, Markdown, HTML or text) and ask again."))


def default_clarifying_question(question: str) -> ClarifyingQuestion:
    """One short question back, quoting what was asked."""
    shown = _topic(question)
    if shown == "this topic":
        return ClarifyingQuestion(question="What would you like to know about your documents?")
    return ClarifyingQuestion(question=f"Could you say a bit more about what you mean by "
                                       f"\"{shown}\"?")


def _topic(question: str) -> str:
    question = _QUESTION_WORDS.sub("", question.strip())
    words = re.findall(r"[\w'-]+", question)
    return " ".join(words[:12]) if words else "this topic"

