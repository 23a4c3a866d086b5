"""The answer without a language model: quote the sentences that answer, or decline.

:func:`compose` turns :class:`agents.evidence.Evidence` into the Markdown that follows
the :data:`NOTICE` line (streamed first, before the sentences are scored, so the first
token does not wait for the scoring; it is true of both replies). Supported: up to
``MAX_SENTENCES`` whole sentences, grouped by chunk into quotes, the chunk of the first
selected sentence first (the nearest whole document's best sentence, else the best one:
agents.evidence.select). Not supported: one plain sentence saying the documents do not
contain the answer, then the closest sentences as "related, not an answer". Either way the citation
numbers are in reading order ([1], [2], ... without gaps): ``order`` gives, for each
number, the index of its chunk in the retrieved list, so the caller can reorder the chunks
and keep ``[n] = chunks[n-1]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.evidence import Evidence, ScoredSentence
from agents.llm.providers.extractive import NOTICE
from agents.sentences import split_sentences
from rag.models import SearchResult

__all__ = ["DECLINE", "FALLBACK_NOTICE", "NOTICE", "RELATED", "ExtractiveReply", "compose",
           "decline_reply", "declines", "reorder"]

DECLINE = "Your documents do not contain an answer to this question."
# said instead of NOTICE when models are configured but none of them answered
FALLBACK_NOTICE = ("No language model answered (the configured ones failed), so this answer "
                   "quotes your documents directly.")
RELATED = "Related passages (related, not an answer):"
MAX_RELATED = 2


@dataclass(frozen=True)
class ExtractiveReply:
    """The composed reply: its text, the support decision and the citation order."""

    text: str
    supported: bool
    order: list[int]   # order[n-1] = index in the retrieved chunks of citation [n]


def compose(evidence: Evidence, chunks: Sequence[SearchResult]) -> ExtractiveReply:
    """The Markdown reply for ``evidence`` over ``chunks`` (see the module docstring)."""
    if evidence.supported:
        quotes, order = _quotes(evidence.selected, chunks)
        return ExtractiveReply(quotes, True, order)
    related = [s for s in evidence.sentences[:MAX_RELATED]]
    if not related:
        return ExtractiveReply(DECLINE + "\n", False, [])
    quotes, order = _quotes(related, chunks)
    return ExtractiveReply(f"{DECLINE}\n\n{RELATED}\n\n{quotes}", False, order)


def _quotes(sentences: Sequence[ScoredSentence],
            chunks: Sequence[SearchResult]) -> tuple[str, list[int]]:
    order: list[int] = []
    for sentence in sentences:  # in selection order: the first one's chunk is [1]
        if sentence.chunk not in order:
            order.append(sentence.chunk)
    parts = []
    for n, chunk_index in enumerate(order, start=1):
        own = sorted((s for s in sentences if s.chunk == chunk_index), key=lambda s: s.position)
        chunk = chunks[chunk_index]
        where = chunk.source + (f", page {chunk.page}" if chunk.page else "")
        body = " ".join(s.text for s in own).replace("\n", "\n> ")
        parts.append(f"> {body} [{n}]\n>\n> — {where}\n")
    return "\n".join(parts), order


def reorder(chunks: Sequence[SearchResult], order: Sequence[int]) -> list[SearchResult]:
    """``chunks`` with the cited ones first, in citation order, the rest after."""
    rest = [c for i, c in enumerate(chunks) if i not in order]
    return [chunks[i] for i in order] + rest


_DECLINES = re.compile(r"\b(do not|don't|does not|doesn't|did not)\s+(contain|include|cover|"
                       r"mention|say)\b[^.]*\b(answer|information)", re.IGNORECASE)


def declines(text: str) -> bool:
    """True when a model's reply says the sources do not contain the answer."""
    return DECLINE in text or bool(_DECLINES.search(text[:400]))


def decline_reply(chunks: Sequence[SearchResult]) -> str:
    """The decline sentence and the first whole sentence of the top chunks as related
    passages (used when Review declines a model's draft); citations in reading order."""
    related = []
    for c, chunk in enumerate(chunks[:MAX_RELATED]):
        sentences = split_sentences(chunk.text)
        if sentences:
            related.append(ScoredSentence(c, 0, sentences[0], 0.0))
    if not related:
        return DECLINE + "\n"
    quotes, _ = _quotes(related, chunks)
    return f"{DECLINE}\n\n{RELATED}\n\n{quotes}"
