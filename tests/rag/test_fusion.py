"""Reciprocal rank fusion on hand-made rankings, and owner-wide de-duplication."""

from __future__ import annotations

import pytest

from rag.retrieval import Candidate, dedupe, rrf_fuse


def test_rrf_exact_order_and_scores():
    dense = ["a", "b", "c", "d"]
    keyword = ["c", "a", "e"]
    fused = rrf_fuse([dense, keyword], k=60)
    assert [i for i, _ in fused] == ["a", "c", "b", "e", "d"]
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["e"] == pytest.approx(1 / 63)
    assert scores["d"] == pytest.approx(1 / 64)


def test_rrf_weights_change_the_winner():
    dense, keyword = ["x", "y"], ["y", "x"]
    assert [i for i, _ in rrf_fuse([dense, keyword], [2.0, 1.0])] == ["x", "y"]
    assert [i for i, _ in rrf_fuse([dense, keyword], [1.0, 2.0])] == ["y", "x"]
    assert [i for i, _ in rrf_fuse([dense, keyword], [1.0, 0.0])] == ["x", "y"]


def test_rrf_ties_break_by_best_rank_then_first_seen():
    # p: ranks 1 and 3 -> 1/61+1/63 = 0.032266; q: 2 and 2 -> 2/62 = 0.032258
    fused = rrf_fuse([["p", "q", "r"], ["s", "q", "p"]], k=60)
    assert [i for i, _ in fused] == ["p", "q", "s", "r"]
    # exact tie: same ranks in swapped lists -> best rank equal -> first seen wins
    assert [i for i, _ in rrf_fuse([["m", "n"], ["n", "m"]])] == ["m", "n"]


def test_rrf_small_k_favours_top_ranks():
    lists = [["a", "b", "c"], ["c", "b", "a"], ["b", "c", "a"]]
    assert rrf_fuse(lists, k=1)[0][0] == "b"
    assert [i for i, _ in rrf_fuse([["a"], []], k=1)] == ["a"]


def test_rrf_validates_arguments():
    with pytest.raises(ValueError):
        rrf_fuse([["a"]], [1.0, 2.0])
    with pytest.raises(ValueError):
        rrf_fuse([["a"]], k=0)


def test_dedupe_keeps_first_per_doc_chunk():
    def cand(cid, doc, idx):
        return Candidate(cid, 0.0, "t", {"doc_id": doc, "chunk_index": idx})

    out = dedupe([cand("t1:d:0", "d", 0), cand("t2:d:0", "d", 0), cand("t2:d:1", "d", 1),
                  cand("t1:e:0", "e", 0)])
    assert [c.chunk_id for c in out] == ["t1:d:0", "t2:d:1", "t1:e:0"]


def test_convex_exact_scores_and_order():
    from rag.retrieval import convex_fuse

    # dense cosine: a .9, b .5, c .1 -> normalised 1, .5, 0
    # keyword -bm25: c 8, d 4, a 2    -> normalised 1, 1/3, 0
    fused = convex_fuse([[("a", 0.9), ("b", 0.5), ("c", 0.1)],
                         [("c", 8.0), ("d", 4.0), ("a", 2.0)]], [0.7, 0.3])
    expected = {"a": 0.7, "b": 0.35, "c": 0.3, "d": 0.1}
    assert [i for i, _ in fused] == ["a", "b", "c", "d"]
    for item, score in fused:
        assert abs(score - expected[item]) < 1e-12


def test_convex_weight_moves_the_winner_and_constant_lists_count_fully():
    from rag.retrieval import convex_fuse

    dense, keyword = [("x", 0.8), ("y", 0.2)], [("y", 5.0), ("x", 1.0)]
    assert [i for i, _ in convex_fuse([dense, keyword], [0.7, 0.3])] == ["x", "y"]
    assert [i for i, _ in convex_fuse([dense, keyword], [0.3, 0.7])] == ["y", "x"]
    # one candidate (or all equal): normalised to 1.0, not a division by zero
    assert convex_fuse([[("z", 0.4)], []], [0.7, 0.3]) == [("z", 0.7)]
    with pytest.raises(ValueError):
        convex_fuse([dense], [0.5, 0.5])
