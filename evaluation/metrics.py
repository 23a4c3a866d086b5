"""Ranking metrics as BEIR computes them (pytrec_eval's ndcg_cut, recall; BEIR's MRR).

A run ranks corpus ids for one query, best first; qrels map corpus id -> graded
relevance (score > 0 means relevant). Sources: trec_eval ``ndcg_cut`` (gain = the
relevance grade, discount log2(rank + 1), ideal ranking from the judged grades),
BEIR ``EvaluateRetrieval.evaluate`` / ``evaluate_custom(..., "mrr")``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: sum of gain_i / log2(i + 1) for 1-based rank i."""
    return sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with graded relevance, in [0, 1]; 0.0 when nothing is relevant.

    Unjudged and negatively judged documents have gain 0. A document repeated in the
    ranking counts only at its first rank.
    """
    ranking = list(dict.fromkeys(ranking))[:k]
    ideal = dcg(sorted((g for g in qrels.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([max(qrels.get(doc_id, 0), 0) for doc_id in ranking]) / ideal


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents (score > 0) found in the top k, in [0, 1]."""
    relevant = {doc_id for doc_id, grade in qrels.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(list(dict.fromkeys(ranking))[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top k; 0.0 if none."""
    for rank, doc_id in enumerate(list(dict.fromkeys(ranking))[:k], start=1):
        if qrels.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def evaluate(runs: Mapping[str, Sequence[str]],
             qrels: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@10, Recall@100 and MRR@10 over every query of qrels.

    Args:
        runs: query id -> ranked corpus ids (a query missing from runs scores 0).
        qrels: query id -> {corpus id: grade}; every query here is averaged.

    Returns:
        {"ndcg@10", "recall@10", "recall@100", "mrr@10"}: means in [0, 1].

    Raises:
        ValueError: qrels is empty.
    """
    if not qrels:
        raise ValueError("no judged queries to evaluate")
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for query_id, judged in qrels.items():
        ranking = list(runs.get(query_id, ()))
        totals["ndcg@10"] += ndcg_at_k(ranking, judged, 10)
        totals["recall@10"] += recall_at_k(ranking, judged, 10)
        totals["recall@100"] += recall_at_k(ranking, judged, 100)
        totals["mrr@10"] += mrr_at_k(ranking, judged, 10)
    return {name: total / len(qrels) for name, total in totals.items()}
