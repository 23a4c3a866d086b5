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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass
class Candidate:
    """A retrieved chunk before fusion (from either retriever)."""

    chunk_id: str
    score: float
    text: str
    metadata: dict


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
    seen: set[tuple] = set()
    for cand in candidates:
        doc_id = cand.metadata.get("doc_id")
        key = (doc_id, cand.metadata.get("chunk_index")) if doc_id else (cand.chunk_id, None)
        if key in seen:
            continue
        seen.add(key)
        out.append(cand)
    return out
