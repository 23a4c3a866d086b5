"""The variants `python -m rag eval --sweep` scores beside the modes: the settings the
retrieval defaults were chosen from, on the two dev sets together (README, "Retrieval
quality"). Each is (RagService.search arguments, settings fields), absolute values so
that a row means the same whatever the defaults are.

Names: ``hyb-<bm25 use>-a<alpha>-p<prior>`` are convex hybrids with BM25 always fused
or only for queries with exact terms (rag.retrieval.has_exact_terms), with a document's
first chunk raised by <prior> (rag.retrieval.document_aware); ``share<x>-p0.06`` adds
the best-plus-a-share-of-the-next reduction to the always-fused hybrid at alpha 0.8;
``doc<w>-a<alpha>-p<prior>`` adds the whole-document vector at weight <w>
(rag.retrieval.add_document_scores); every other variant has it off.
"""

from __future__ import annotations


def _hybrid(bm25: str, alpha: float, share: float = 0.0, prior: float = 0.0,
            doc: float = 0.0) -> tuple[dict, dict]:
    return ({"mode": "hybrid", "fusion": "convex"},
            {"hybrid_bm25": bm25, "convex_alpha": alpha, "doc_share": share,
             "first_chunk_prior": prior, "doc_vector_weight": doc})


SWEEP: dict[str, tuple[dict, dict]] = {
    f"hyb-{'always' if bm25 == 'always' else 'exact'}-a{alpha}-p{prior}":
        _hybrid(bm25, alpha, prior=prior)
    for bm25 in ("always", "exact_terms") for alpha in (0.6, 0.7, 0.8, 0.9)
    for prior in (0.0, 0.03, 0.06, 0.1, 0.15, 0.2, 0.25, 0.3)
}
SWEEP.update({f"share{share}-p0.06": _hybrid("always", 0.8, share, 0.06)
              for share in (0.05, 0.1)})
SWEEP.update({f"doc{doc}-a{alpha}-p{prior}": _hybrid("always", alpha, prior=prior, doc=doc)
              for alpha in (0.5, 0.55, 0.6, 0.7) for prior in (0.0, 0.1, 0.2, 0.3)
              for doc in (0.2, 0.3, 0.5, 0.7, 1.0)})
