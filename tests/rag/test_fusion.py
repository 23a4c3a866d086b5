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


def _cand(doc: str, index: int) -> Candidate:
    return Candidate(f"{doc}:{index}", 0.0, "", {"doc_id": doc, "chunk_index": index})


def test_document_aware_best_plus_share_of_next():
    from rag.retrieval import document_aware

    # B has one strong chunk; A two good ones: the share of A's next chunk lifts it
    scored = [(_cand("B", 3), 0.80), (_cand("A", 2), 0.75), (_cand("A", 5), 0.70),
              (_cand("C", 1), 0.60)]
    ranked = document_aware(scored, share=0.25)
    assert [(c.chunk_id, round(s, 4)) for c, s in ranked] == [
        ("A:2", 0.75 + 0.25 * 0.70), ("A:5", 0.70 + 0.25 * 0.75), ("B:3", 0.80),
        ("C:1", 0.60)]
    # share 0 and prior 0: the input order, untouched
    assert document_aware(scored) == scored


def test_document_aware_first_chunk_prior():
    from rag.retrieval import document_aware

    scored = [(_cand("B", 4), 0.62), (_cand("A", 0), 0.60), (_cand("A", 1), 0.10)]
    ranked = document_aware(scored, first_prior=0.05)
    assert [(c.chunk_id, round(s, 4)) for c, s in ranked] == [
        ("A:0", 0.65), ("B:4", 0.62), ("A:1", 0.10)]
    # with a share too, chunk 1 of A is lifted by chunk 0's prior-raised score
    ranked = document_aware(scored, share=0.5, first_prior=0.05)
    assert [(c.chunk_id, round(s, 4)) for c, s in ranked] == [
        ("A:0", 0.70), ("B:4", 0.62), ("A:1", 0.425)]


@pytest.mark.parametrize(("query", "exact"), [
    ("How do I copy a list?", False),
    ("Why are Python strings immutable?", False),
    ("What is Perl?", False),
    ("Why doesn't list.sort() return the sorted list?", True),
    ("How do I use Py_BuildValue() to create a tuple?", True),
    ("What is CPAN?", True),
    ("How do I set PERL5LIB for my scripts?", True),
    ("What does $_ hold in a loop?", True),
    ("How do I pass --verbose to pytest?", True),
    ('Why do I get "unexpected EOF" from the parser?', True),
    ("Where is /etc/hosts read?", True),
    ("Is it a good idea to use e.g. threads here?", False),
    ("Can I do it in Perl 5 or 6?", False),
])
def test_exact_terms_gate(query: str, exact: bool):
    from rag.retrieval import has_exact_terms

    assert has_exact_terms(query) is exact


def test_document_vectors_lift_their_chunks_and_let_missing_documents_enter():
    from rag.retrieval import add_document_scores

    scored = [(_cand("A", 3), 0.90), (_cand("B", 0), 0.85), (_cand("A", 4), 0.20)]
    # cosines min-max normalised over the document list: B 1.0, C 0.5, A 0.0
    documents = [("B", 0.60), ("C", 0.50), ("A", 0.40), ("B", 0.10)]
    ranked = add_document_scores(scored, documents, weight=0.2)
    assert [(c if isinstance(c, str) else c.chunk_id, round(s, 4)) for c, s in ranked] == [
        ("B:0", 1.05), ("A:3", 0.90), ("A:4", 0.20), ("C", 0.10)]
    # a large weight lets a document with no chunk candidate pass a chunk's document
    ranked = add_document_scores(scored, documents, weight=2.0)
    assert [c if isinstance(c, str) else c.chunk_id for c, _ in ranked] == [
        "B:0", "C", "A:3", "A:4"]
    # weight 0 or no documents: the chunk ranking, untouched
    assert add_document_scores(scored, documents, 0.0) == scored
    assert add_document_scores(scored, [], 0.5) == scored
