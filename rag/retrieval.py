"""Hybrid retrieval: fusion of dense and keyword rankings, and de-duplication.

Two fusion functions:

Convex combination (the default; Bruch, Gai and Ingber, "An Analysis of Fusion
Functions for Hybrid Retrieval", ACM TOIS 2023): each retriever's scores are
min-max normalised over its own candidate list, then
score(d) = alpha * dense(d) + (1 - alpha) * keyword(d), a missing score counting 0.
On the Python-FAQ set (scripts/build_faq_beir.py) it beats dense-only where RRF
with k = 60 loses to it: BM25 is weak there, and RRF's rank-only view lets it pull
good dense hits down.

RRF (Cormack, Clarke and Buettcher, SIGIR 2009): score(d) = sum_i w_i / (k + rank_i(d)),
rank 1-based, k = 60 by default. Documents missing from a ranking get nothing
from it. Ties are broken by the best single rank, then by the order of first
appearance (dense before keyword), so the output is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Candidate:
    """A retrieved chunk before fusion (from either retriever)."""

    chunk_id: str
    score: float
    text: str
    metadata: dict[str, Any]


def rrf_fuse(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None,
             k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists.

    Args:
        rankings: each a list of ids, best first (duplicates inside a list: first counts).
        weights: one per ranking (default 1.0 each).
        k: the RRF constant (> 0).

    Returns:
        (id, fused score) pairs, best first.

    Raises:
        ValueError: weights and rankings differ in length, or k <= 0.
    """
    if k <= 0:
        raise ValueError("rrf k must be positive")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    best: dict[str, int] = {}
    first: dict[str, int] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best[item] = min(best.get(item, rank), rank)
            first.setdefault(item, len(first))
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], first[kv[0]]))


def convex_fuse(scored: Sequence[Sequence[tuple[str, float]]],
                weights: Sequence[float]) -> list[tuple[str, float]]:
    """Fuse scored lists by a weighted sum of min-max normalised scores.

    Args:
        scored: each a list of (id, score) pairs, higher score better, best first
            (a repeated id inside a list: its first pair counts).
        weights: one per list, e.g. (alpha, 1 - alpha); need not sum to 1.

    Returns:
        (id, fused score) pairs, best first; ties keep the order of first appearance.
        A list whose scores are all equal normalises to 1.0 for each of its ids.

    Raises:
        ValueError: weights and lists differ in length.
    """
    if len(weights) != len(scored):
        raise ValueError("one weight per scored list")
    fused: dict[str, float] = {}
    for pairs, weight in zip(scored, weights):
        first: dict[str, float] = {}
        for item, score in pairs:
            first.setdefault(item, score)
        if not first:
            continue
        low, high = min(first.values()), max(first.values())
        span = high - low
        for item, score in first.items():
            norm = (score - low) / span if span > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * norm
    order = {item: i for i, item in enumerate(fused)}
    return sorted(fused.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Keep the first (best) candidate of each (doc_id, chunk_index).

    The same document indexed by one owner in two threads is stored once per
    thread; an owner-wide search must show each chunk once.
    """
    out: list[Candidate] = []
    seen: set[tuple[Any, ...]] = set()
    for cand in candidates:
        doc_id = cand.metadata.get("doc_id")
        key = (doc_id, cand.metadata.get("chunk_index")) if doc_id else (cand.chunk_id, None)
        if key in seen:
            continue
        seen.add(key)
        out.append(cand)
    return out


#: Query terms that an exact keyword match finds better than a sentence embedding:
#: snake_case / dunder names, `::` `->` `=>`, sigil variables ($x @ARGV %ENV $_),
#: calls `f()`, dotted names (os.path, file.txt), --flags and -f, camelCase,
#: acronyms and constants (CPAN, PERL5LIB), letter+digit mixes (utf8, x86),
#: paths (/usr/bin), quoted strings and `code`.
EXACT_TERM = re.compile(
    r"\w_|_\w|::|->|=>"
    r"|[$@%][\w^{:]"
    r"|\w\(|\(\)"
    r"|[A-Za-z_]\w*\.\w{2,}"
    r"|(?:^|\s)--?[A-Za-z]"
    r"|\b[a-z]+[A-Z]"
    r"|\b(?!I\b)[A-Z][A-Z0-9]+\b"
    r"|\b[A-Za-z]+\d|\b\d+[A-Za-z]"
    r"|(?:^|\s)/\w|\w/\w"
    r"|\"[^\"]+\"|'[^'\s][^']*'|`[^`]+`"
)


def has_exact_terms(query: str) -> bool:
    """True if the query holds a term shaped like an identifier, flag, path, constant or
    quoted string (``EXACT_TERM``): where BM25 helps a dense retriever (the gate of
    ``hybrid_bm25="exact_terms"``; numbers in README, "Fusion")."""
    return EXACT_TERM.search(query) is not None


def document_aware(scored: Sequence[tuple[Candidate, float]], share: float = 0.0,
                   first_prior: float = 0.0) -> list[tuple[Candidate, float]]:
    """Re-rank chunks with what their document's other chunks say.

    s'(c) = s(c) + first_prior if c is its document's first chunk (chunk_index 0);
    then each chunk gains ``share`` times the best s' among the other chunks of its
    document in ``scored``. A document's best chunk so scores best + share * next best
    (a "best plus a share of the next" reduction), and still leads its document.

    Args:
        scored: (candidate, score) pairs, higher is better (one retriever's or fused);
            candidates carry metadata "doc_id" and "chunk_index".
        share: 0..1; first_prior: in the unit of the scores (0 turns it off).

    Returns:
        (candidate, adjusted score) pairs, best first; ties keep the input order.
    """
    if share <= 0 and first_prior <= 0:
        return list(scored)
    adjusted = [(c, s + (first_prior if c.metadata.get("chunk_index") == 0 else 0.0))
                for c, s in scored]
    top: dict[str, list[tuple[float, str]]] = {}  # doc -> best two (score, chunk id)
    for c, s in adjusted:
        best = top.setdefault(str(c.metadata.get("doc_id", c.chunk_id)), [])
        best.append((s, c.chunk_id))
        best.sort(key=lambda pair: -pair[0])
        del best[2:]
    out = []
    for c, s in adjusted:
        others = [v for v, cid in top[str(c.metadata.get("doc_id", c.chunk_id))]
                  if cid != c.chunk_id]
        out.append((c, s + share * (others[0] if others else 0.0)))
    order = {id(c): i for i, (c, _) in enumerate(out)}
    return sorted(out, key=lambda pair: (-pair[1], order[id(pair[0])]))


def add_document_scores(scored: Sequence[tuple[Candidate, float]],
                        documents: Sequence[tuple[str, float]], weight: float
                        ) -> list[tuple[Candidate | str, float]]:
    """Fuse a document-level ranking into a chunk ranking: the whole-document vector.

    Each document's cosine to the query (one vector per document: title + text cut at
    the embedder's 256 tokens, what README's baseline-dense embeds) is min-max
    normalised over ``documents`` (1.0 = the best document, 0.0 = the last candidate) and
    ``weight`` times it is added to every chunk of that document:
    s'(c) = s(c) + weight * doc(c). A document among ``documents`` with no chunk in
    ``scored`` enters as its document id with score ``weight * doc(d)`` (a chunk with
    fused score 0, as convex fusion counts a missing score); the caller cites its best
    chunk.

    Args:
        scored: (chunk candidate, score) pairs, higher is better, after fusion and the
            first-chunk prior (rag.retrieval.document_aware); candidates carry "doc_id".
        documents: (doc_id, cosine) pairs, best first (a repeated doc_id: the first
            counts), e.g. the nearest document vectors of the scope.
        weight: >= 0; 0 (or no documents) returns ``scored`` unchanged.

    Returns:
        (candidate or doc_id, score) pairs, best first; ties keep chunks before entering
        documents and each list's own order.
    """
    if weight <= 0 or not documents:
        return list(scored)
    cosine: dict[str, float] = {}
    for doc_id, score in documents:
        cosine.setdefault(doc_id, score)
    low, high = min(cosine.values()), max(cosine.values())
    span = high - low
    norm = {d: (s - low) / span if span > 0 else 1.0 for d, s in cosine.items()}
    out: list[tuple[Candidate | str, float]] = []
    seen: set[str] = set()
    for cand, score in scored:
        doc_id = str(cand.metadata.get("doc_id", ""))
        seen.add(doc_id)
        out.append((cand, score + weight * norm.get(doc_id, 0.0)))
    out.extend((doc_id, weight * value) for doc_id, value in norm.items()
               if doc_id not in seen)
    ranked = sorted(enumerate(out), key=lambda pair: (-pair[1][1], pair[0]))
    return [pair for _, pair in ranked]
