"""Answer: stream a reply grounded in the retrieved chunks, citing them as [n]."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from agents.calls import answers_extractively, emit_text, stream_text
from agents.evidence import DISTINCT_K, DOC_SCORES_K, gather_evidence
from agents.extractive_answer import (
    DECLINE,
    FALLBACK_NOTICE,
    NOTICE,
    compose,
    declines,
    reorder,
)
from agents.memory import Memory
from agents.meta import (
    conversation_answer,
    is_about_conversation,
    is_meta,
    is_small_talk,
    meta_answer,
    small_talk_answer,
)
from agents.nodes.base import FlowNode
from agents.llm.providers.base import estimate_tokens
from agents.llm.router import EXTRACTIVE
from agents.llm.types import Usage
from agents.observer import describe_error, emit_usage, reset_if_needed
from agents.prompts import answer_messages, to_passages
from agents.protocols import DocumentScorer, Retriever, Router, SentenceEncoder
from agents.state import RunState
from rag.models import Scope, SearchResult

NOT_FOUND = ("I couldn't find anything about this in your documents, so I can't answer it "
             "from them. Try rephrasing, or upload a document that covers it.")
FAILED = ("Sorry, I couldn't produce an answer right now: the language model is not "
          "responding ({error}). Please try again in a moment.")


@dataclass(frozen=True)
class AnswerInput:
    """What Answer reads from the run state (its ``prep``; ``exec`` sees only this)."""

    question: str
    query: str
    memory: Memory
    route: str | None
    chunks: list[SearchResult]
    documents: list[str]
    feedback: str
    round: int
    router: Router
    retriever: Retriever
    model: str | None
    scope: Scope | None = None


class Answer(FlowNode):
    """Stream the answer, tokens reaching the observer as they arrive.

    Purpose: answer from the chunks with [1], [2] citations in reading order (the n-th
        chunk is [n]), saying so plainly when the chunks do not contain the answer. With
        no language model (extractive), decide support from retrieval evidence
        (agents.evidence) and quote whole sentences or decline with related passages,
        the same when every configured model failed (with a notice that says so),
        reordering the chunks so the citations read [1], [2], ... On the ``direct``
        route: meta questions get the app's capabilities and document list; questions
        about the conversation (no model) are answered from memory. A review retry
        (round > 1) or a retry after streaming starts with ``stream_reset``.
    Input: question, query, memory, route, chunks, documents, feedback, round, router,
        retriever, answer_model.
    Output: draft, draft_failed (True after the graceful fallback), round (1 for the
        first draft), supported, evidence, chunks (reordered by an extractive answer).
    Actions: "review".
    """

    step_inputs = ("query", "feedback")
    step_outputs = ("draft", "supported", "evidence")

    async def prep_async(self, shared: RunState) -> AnswerInput:
        return AnswerInput(question=shared.question, query=shared.query or shared.question,
                           memory=shared.memory, route=shared.route,
                           chunks=shared.context_chunks, documents=shared.documents,
                           feedback=shared.feedback or "", round=shared.round + 1,
                           router=shared.router, retriever=shared.retriever,
                           model=shared.answer_model, scope=shared.scope)

    async def exec_async(self, prep: AnswerInput) -> dict[str, Any]:
        await reset_if_needed("a new draft replaces the previous one",
                              replacing_earlier=prep.round > 1)
        extractive = answers_extractively(prep.router, prep.model)
        if prep.route == "direct":
            fixed = _direct_reply(prep, extractive)
            if fixed is not None:
                return {"text": await emit_text(fixed), "supported": fixed != DECLINE}
        if prep.route == "retrieve" and not prep.chunks:
            return {"text": await emit_text(NOT_FOUND), "supported": False}
        # the retrieve route answers from retrieval evidence when no model answers
        encoder = (prep.retriever if prep.route == "retrieve"
                   and isinstance(prep.retriever, SentenceEncoder) else None)
        if encoder is not None and extractive:
            return await _from_evidence(prep, encoder, NOTICE)
        messages = answer_messages(prep.question, prep.memory, prep.chunks,
                                   prep.feedback)
        text, provider = await stream_text(prep.router, "answer", messages, model=prep.model,
                                           context=to_passages(prep.chunks),
                                           stop_at_extractive=encoder is not None)
        if encoder is not None and provider is None:  # every model failed: as with none
            return await _from_evidence(prep, encoder, FALLBACK_NOTICE)
        return {"text": text, "supported": prep.route != "retrieve" or not declines(text)}

    async def fallback(self, prep: AnswerInput, exc: Exception) -> dict[str, Any]:
        await reset_if_needed("the answer failed", replacing_earlier=prep.round > 1)
        text = await emit_text(FAILED.format(error=describe_error(exc)))
        return {"text": text, "failed": True, "supported": False}

    async def post_async(self, shared: RunState, prep: AnswerInput,
                         result: dict[str, Any]) -> str:
        shared.draft, shared.draft_failed = result["text"], result.get("failed", False)
        shared.supported, shared.evidence = result["supported"], result.get("evidence")
        if "chunks" in result:
            shared.chunks = result["chunks"]
        shared.round = prep.round
        return "review"


async def _from_evidence(prep: AnswerInput, encoder: SentenceEncoder,
                         notice: str) -> dict[str, Any]:
    """The answer without a model (agents.evidence, agents.extractive_answer): ``notice``,
    then the quoted sentences or the decline with related passages."""
    started = time.perf_counter()
    shown = await emit_text(notice + "\n\n")  # true of either reply: no wait
    dense, docs = await asyncio.gather(_dense_scores(prep), _document_scores(prep))
    evidence = await gather_evidence(prep.query, prep.chunks, encoder, dense, docs)
    reply = compose(evidence, prep.chunks)
    text = shown + await emit_text(reply.text)
    await emit_usage(Usage(provider=EXTRACTIVE, model="", input_tokens=0,
                           output_tokens=estimate_tokens(text),
                           latency_ms=(time.perf_counter() - started) * 1000, ttft_ms=None,
                           cost_usd=None))  # the step says which link answered
    return {"text": text, "supported": reply.supported,
            "evidence": evidence.as_dict(), "chunks": reorder(prep.chunks, reply.order)}


async def _dense_scores(prep: AnswerInput) -> list[float] | None:
    """Cosines of the ``DISTINCT_K`` best chunks of a dense search for the query (what
    agents.evidence's distinctness reads). chat.scope's thread-preferring retriever fuses
    ranks into its scores, so the cosines are read from the retriever it wraps."""
    if prep.scope is None:
        return None
    store = getattr(prep.retriever, "retriever", prep.retriever)
    hits = await store.search(prep.query, prep.scope, k=DISTINCT_K, mode="dense")
    return [float(h.score) for h in hits]


async def _document_scores(prep: AnswerInput) -> list[tuple[str, float]] | None:
    """``(doc_id, cosine)`` of the ``DOC_SCORES_K`` nearest whole-document vectors (the
    evidence's measured document numbers; None when the retriever has none). Runs beside
    the dense search, after the notice line: the first token does not wait for it."""
    store = getattr(prep.retriever, "retriever", prep.retriever)
    if prep.scope is None or not isinstance(store, DocumentScorer):
        return None
    return [(d, float(c)) for d, c in await store.document_scores(prep.query, prep.scope,
                                                                  DOC_SCORES_K)]


def _direct_reply(prep: AnswerInput, extractive: bool) -> str | None:
    """A fixed reply on the direct route, or None to let the model answer."""
    if is_meta(prep.question):
        return meta_answer(prep.documents)
    if extractive and is_about_conversation(prep.question):
        return conversation_answer(prep.question, prep.memory)
    if extractive:
        return small_talk_answer(prep.question) if is_small_talk(prep.question) else DECLINE
    return None
