"""Retrieval metrics against hand-computed values (cross-checked once with pytrec_eval 0.5.11)."""

import math

import pytest

from evaluation.metrics import dcg, evaluate, mrr_at_k, ndcg_at_k, recall_at_k

# d1 is highly relevant (2), d2 and d3 relevant (1), d9 judged not relevant (0).
QRELS = {"d1": 2, "d2": 1, "d3": 1, "d9": 0}
RANKING = ["d4", "d1", "d9", "d3", "d5"]


def test_dcg_uses_linear_gain_and_log2_discount() -> None:
    # 3/log2(2) + 0/log2(3) + 1/log2(4) = 3 + 0 + 0.5
    assert dcg([3, 0, 1]) == 3.5


def test_ndcg_at_10_hand_computed() -> None:
    # DCG  = 2/log2(3) + 1/log2(5)          = 1.2618595071429148 + 0.43067655807339306
    #      = 1.6925360652163082              (ranks 2 and 4; d9 has gain 0)
    # IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.6309297535714574 + 0.5
    #      = 3.1309297535714578
    # nDCG = 1.6925360652163082 / 3.1309297535714578 = 0.5405857679450102
    assert ndcg_at_k(RANKING, QRELS, 10) == pytest.approx(0.5405857679450102, abs=1e-15)
    assert 2 / math.log2(3) + 1 / math.log2(5) == pytest.approx(1.6925360652163082, abs=1e-15)


def test_ndcg_cut_ignores_ranks_beyond_k() -> None:
    # Only d4, d1 in the top 2: DCG = 2/log2(3) = 1.2618595071429148
    # IDCG@2 = 2/1 + 1/log2(3) = 2.6309297535714574 -> 0.4796249331362629
    assert ndcg_at_k(RANKING, QRELS, 2) == pytest.approx(0.4796249331362629, abs=1e-15)


def test_ndcg_perfect_and_empty() -> None:
    assert ndcg_at_k(["d1", "d2", "d3"], QRELS) == pytest.approx(1.0, abs=1e-15)
    assert ndcg_at_k(["d1"], {"d1": 0}) == 0.0
    assert ndcg_at_k([], QRELS) == 0.0


def test_recall_at_k() -> None:
    assert recall_at_k(RANKING, QRELS, 10) == 2 / 3  # d1, d3 of {d1, d2, d3}
    assert recall_at_k(RANKING, QRELS, 2) == 1 / 3  # d1 only
    assert recall_at_k(RANKING, QRELS, 1) == 0.0


def test_mrr_at_k() -> None:
    assert mrr_at_k(RANKING, QRELS, 10) == 0.5  # first relevant (d1) at rank 2
    assert mrr_at_k(RANKING, QRELS, 1) == 0.0
    assert mrr_at_k(["d9", "d5", "d3"], QRELS, 10) == 1 / 3  # d9 is judged 0: not relevant


def test_repeated_document_counts_once() -> None:
    assert ndcg_at_k(["d1", "d1", "d2"], {"d1": 1, "d2": 1}) == pytest.approx(1.0, abs=1e-15)


def test_evaluate_averages_over_every_judged_query() -> None:
    runs = {
        "q1": RANKING,
        # q2's only relevant document sits at rank 11: outside @10, inside @100.
        "q2": [f"x{i}" for i in range(10)] + ["r"],
    }
    qrels = {"q1": QRELS, "q2": {"r": 1}, "q3": {"z": 1}}  # q3 was never run: scores 0
    assert evaluate(runs, qrels) == pytest.approx(
        {
            "ndcg@10": 0.5405857679450102 / 3,
            "recall@10": (2 / 3) / 3,
            "recall@100": (2 / 3 + 1) / 3,
            "mrr@10": 0.5 / 3,
        },
        abs=1e-15,
    )
    with pytest.raises(ValueError, match="no judged queries"):
        evaluate(runs, {})
