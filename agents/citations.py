"""Citation markers in answer text: parse ``[1]``, ``[1, 2]``, ``[1][3]`` and map them to chunks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agents.memory import Citation

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+(?:\s*\[[\d,;\s]+\])*|\n|$)")


def cited_numbers(text: str) -> list[int]:
    """The citation numbers in ``text`` in order of first appearance, without repeats.

    >>> cited_numbers("A [2]. B [1, 2][3].")
    [2, 1, 3]
    """
    seen: dict[int, None] = {}
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            seen.setdefault(int(part), None)
    return list(seen)


def invalid_numbers(text: str, n_chunks: int) -> list[int]:
    """Cited numbers that point at no chunk (outside ``1..n_chunks``)."""
    return [n for n in cited_numbers(text) if not 1 <= n <= n_chunks]


def build_citations(text: str, chunks: Sequence[Any]) -> list[Citation]:
    """Citations for the numbers actually cited in ``text``, in order of appearance.

    Args:
        text: answer text with ``[n]`` markers (n is the 1-based position in ``chunks``).
        chunks: ``rag.models.SearchResult``-like objects (chunk_id, doc_id, source, page,
            heading, text).
    Returns:
        one :class:`Citation` per valid cited number; numbers outside the chunks are dropped.
    """
    citations = []
    for n in cited_numbers(text):
        if 1 <= n <= len(chunks):
            chunk = chunks[n - 1]
            citations.append(Citation(n=n, chunk_id=chunk.chunk_id, doc_id=chunk.doc_id,
                                      source=chunk.source, page=chunk.page,
                                      heading=chunk.heading, text=chunk.text))
    return citations


def cited_claims(text: str) -> list[tuple[str, list[int]]]:
    """Split ``text`` into sentences that carry citation markers.

    Returns:
        ``[(sentence, [n, ...]), ...]`` for each sentence with at least one marker; the
        markers directly after a sentence's final punctuation belong to that sentence.
    """
    claims = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        numbers = cited_numbers(sentence)
        if sentence and numbers:
            claims.append((sentence, numbers))
    return claims


def renumber(text: str, n_chunks: int) -> tuple[str, list[int]]:
    """Renumber the valid citations of ``text`` in reading order: [1], [2], ... no gaps.

    Args:
        text: answer text with ``[n]`` markers (n is the 1-based position in the chunks).
        n_chunks: how many chunks there are; numbers outside ``1..n_chunks`` are kept
            as written (Review flags them).
    Returns:
        ``(new_text, order)``: ``order[m-1]`` is the old number that became ``[m]``.

    >>> renumber("A [3]. B [1][3]. C [2, 1].", 3)
    ('A [1]. B [2][1]. C [3, 2].', [3, 1, 2])
    """
    order = [n for n in cited_numbers(text) if 1 <= n <= n_chunks]
    new = {old: i for i, old in enumerate(order, start=1)}

    def replace(match: re.Match[str]) -> str:
        parts = re.split(r"(\s*[,;]\s*)", match.group(1))
        return "[" + "".join(str(new.get(int(p), p)) if p.strip().isdigit() else p
                             for p in parts) + "]"

    return _MARKER.sub(replace, text), order
