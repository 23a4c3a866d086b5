"""Retrieval evidence for an extractive answer, and the support decision made from it.

With no language model the flow cannot ask a model whether the passages answer the
question, so it decides from two measurements (kept few on purpose: the held-out checks
use unseen data, and every added, tuned feature is one more way to overfit the dev set):

- ``best_similarity``: the highest cosine similarity between the question and one whole
  sentence of the retrieved chunks, both embedded with the store's own embedder
  (MiniLM; vectors L2-normalised, so the dot product is the cosine);
- ``distinctness``: how far the best chunk of a dense search stands out, the cosine of
  the best chunk minus that of the ``DISTINCT_K``-th (a question the documents answer
  has one place that matches it; one they do not answer matches many places about
  equally). A scope with fewer chunks counts the missing ones as unrelated (cosine 0).

Measured, not deciding (README, "Honest answers": on the Python FAQ dev set they
separate no better than the two above and add nothing to them): the cosines of the whole-document vectors nearest to
the question (rag's document vectors, ``DOC_SCORES_K`` of them): ``doc_best`` (the
nearest document's cosine) and ``doc_distinctness`` (the nearest minus the ``DOC_K``-th,
the document-level twin of ``distinctness``). The nearest document does choose what is
quoted: its best sentence comes first (:func:`select`), because it is the relevant
document more often than the best sentence's.

The answer is supported when both deciding measurements reach their thresholds.
``coverage`` (the share of the question's content words in the quoted sentences) is
reported but no longer decides: on the dev set it added nothing once distinctness was
in (README). The thresholds were
chosen on the Python FAQ dev set only (``python -m agents eval``; the numbers that chose
them are in README.md, "Honest answers") and checked, not tuned, on the Perl FAQ set.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from agents.protocols import SentenceEncoder
from agents.sentences import near_duplicate, split_sentences, terms
from rag.models import SearchResult

#: best question/sentence cosine needed to answer (dev-set calibration, README)
MIN_SIMILARITY = 0.56
#: best minus DISTINCT_K-th dense chunk cosine needed to answer (dev-set calibration)
MIN_DISTINCTNESS = 0.08
DISTINCT_K = 5
#: whole-document cosines read per question (measured, not deciding) and the rank whose
#: cosine the document-level distinctness subtracts
DOC_SCORES_K = 10
DOC_K = 5
#: scored sentences reported in the decision's numbers (doc_id and cosine of each)
REPORTED_SENTENCES = 8
#: a further sentence is quoted when it scores within this of the best one
MARGIN = 0.08
MAX_SENTENCES = 3        # sentences quoted in an answer ("about 3 sentences")
MAX_CANDIDATES = 16      # sentences embedded per question (most shared words first);
#                          48 cost ~240 ms more to the first token (README), 16 ~1/3 of it
EMBED_CHARS = 300        # of a sentence embedded (a lead-in's list is cut; cost ~ length)
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of ``chunks[chunk]`` (0-based) and its cosine to the question."""

    chunk: int
    position: int
    text: str
    similarity: float


@dataclass(frozen=True)
class Evidence:
    """What the support decision reads.

    Attributes:
        sentences: unique sentences (near-duplicates collapsed to the first, by chunk
            rank), best similarity first.
        selected: the sentences an answer quotes (at most ``MAX_SENTENCES``).
        best_similarity: cosine of the best sentence (0.0 when there is none).
        distinctness: best minus ``DISTINCT_K``-th dense chunk cosine (None: not
            measured, then only ``best_similarity`` decides).
        coverage: share (0..1) of the question's content words in ``selected``
            (reported, not deciding).
        doc_scores: ``(doc_id, cosine)`` of the nearest whole-document vectors, best
            first (None: not measured; reported, not deciding).
        sentence_docs: doc_id of the chunk of each sentence of ``sentences``.
    """

    sentences: list[ScoredSentence] = field(default_factory=list)
    selected: list[ScoredSentence] = field(default_factory=list)
    best_similarity: float = 0.0
    coverage: float = 0.0
    selected_docs: list[str] = field(default_factory=list)  # doc_id of each selected
    distinctness: float | None = None
    doc_scores: list[tuple[str, float]] | None = None
    sentence_docs: list[str] = field(default_factory=list)

    @property
    def doc_best(self) -> float | None:
        """Cosine of the nearest whole document (None: not measured; 0.0: no document)."""
        if self.doc_scores is None:
            return None
        return self.doc_scores[0][1] if self.doc_scores else 0.0

    @property
    def doc_distinctness(self) -> float | None:
        """Nearest minus ``DOC_K``-th document cosine (a missing one counts as 0.0)."""
        if self.doc_scores is None:
            return None
        return distinctness([score for _, score in self.doc_scores], DOC_K)

    @property
    def supported(self) -> bool:
        """The support decision: both measurements reach their thresholds."""
        return bool(self.selected) and self.best_similarity >= MIN_SIMILARITY \
            and (self.distinctness is None or self.distinctness >= MIN_DISTINCTNESS)

    def as_dict(self) -> dict[str, object]:
        """The decision's numbers, for the step output and the evaluation."""
        return {"supported": self.supported, "best_similarity": round(self.best_similarity, 4),
                "distinctness": None if self.distinctness is None
                else round(self.distinctness, 4),
                "coverage": round(self.coverage, 4), "min_similarity": MIN_SIMILARITY,
                "min_distinctness": MIN_DISTINCTNESS, "selected_docs": list(self.selected_docs),
                **self._document_numbers()}

    def _document_numbers(self) -> dict[str, object]:
        """The measured, not deciding, numbers: whole-document cosines and the best
        sentences' documents (what README's "Honest answers" analyses read)."""
        if self.doc_scores is None:
            docs: dict[str, object] = {"doc_best": None, "doc_distinctness": None}
        else:
            docs = {"doc_best": round(self.doc_best or 0.0, 4),
                    "doc_distinctness": round(self.doc_distinctness or 0.0, 4),
                    "doc_cosines": [round(c, 4) for _, c in self.doc_scores],
                    "top_docs": [d for d, _ in self.doc_scores]}
        docs["sentence_docs"] = [[d, round(s.similarity, 4)] for d, s in zip(
            self.sentence_docs, self.sentences[:REPORTED_SENTENCES], strict=False)]
        return docs


class _VectorCache:
    """Sentence text -> unit vector, least recently used evicted (chunks recur often)."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self.size, self.rows = size, OrderedDict[str, np.ndarray]()

    async def encode(self, encoder: SentenceEncoder, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if missing:
            vectors = np.asarray(await encoder.embed_texts(missing), dtype=np.float32)
            for text, row in zip(missing, vectors, strict=True):
                self.rows[text] = row / max(float(np.linalg.norm(row)), 1e-12)
        for text in texts:
            self.rows.move_to_end(text)
        while len(self.rows) > self.size:
            self.rows.popitem(last=False)
        return np.stack([self.rows[t] for t in texts])


_CACHE = _VectorCache()


def candidate_sentences(question: str, chunks: Sequence[SearchResult]
                        ) -> list[tuple[int, int, str]]:
    """``(chunk index, position, text)`` of the unique sentences worth embedding.

    A sentence that nearly duplicates one of a better-ranked chunk is dropped, so the
    answer cites the first file it appears in. Embedding is the cost of this step, so
    only ``MAX_CANDIDATES`` are kept: those sharing the most content words with the
    question, then by chunk rank and position.
    """
    kept: list[tuple[int, int, str]] = []
    for c, chunk in enumerate(chunks):
        for p, sentence in enumerate(split_sentences(chunk.text)):
            if not any(near_duplicate(sentence, other) for _, _, other in kept):
                kept.append((c, p, sentence))
    wanted = terms(question)
    ranked = sorted(kept, key=lambda row: (-len(wanted & terms(row[2])), row[0], row[1]))
    return ranked[:MAX_CANDIDATES]


def distinctness(dense_scores: Sequence[float], k: int = DISTINCT_K) -> float:
    """Best minus ``k``-th of ``dense_scores`` (cosines, best first); a missing k-th
    counts as 0.0 (an unrelated chunk); 0.0 when there is no score at all."""
    if not dense_scores:
        return 0.0
    kth = dense_scores[k - 1] if len(dense_scores) >= k else 0.0
    return float(dense_scores[0]) - float(kth)


async def gather_evidence(question: str, chunks: Sequence[SearchResult],
                          encoder: SentenceEncoder,
                          dense_scores: Sequence[float] | None = None,
                          doc_scores: Sequence[tuple[str, float]] | None = None) -> Evidence:
    """Score every sentence of ``chunks`` against ``question`` and select the answer.

    Args:
        question: the standalone query (what was searched).
        chunks: the retrieved chunks, best first.
        encoder: embeds texts with the store's embedder (off the event loop).
        dense_scores: cosines of the ``DISTINCT_K`` best chunks of a dense search for
            ``question`` in the same scope, best first (None: distinctness not used).
        doc_scores: ``(doc_id, cosine)`` of the nearest whole-document vectors of the
            scope, best first (None: not measured); reported, not deciding.
    Returns:
        the :class:`Evidence` (empty when the chunks hold no whole sentence).
    """
    docs = None if doc_scores is None else [(d, float(c)) for d, c in doc_scores]
    candidates = candidate_sentences(question, chunks)
    if not candidates:
        return Evidence(doc_scores=docs)
    vectors = await _CACHE.encode(encoder, [question] + [text[:EMBED_CHARS]
                                                         for _, _, text in candidates])
    similarities = vectors[1:] @ vectors[0]
    scored = sorted((ScoredSentence(c, p, text, float(s))
                     for (c, p, text), s in zip(candidates, similarities, strict=True)),
                    key=lambda s: -s.similarity)
    selected = select(scored, [chunks[s.chunk].doc_id for s in scored],
                      docs[0][0] if docs else None)
    return Evidence(sentences=scored, selected=selected,
                    best_similarity=scored[0].similarity,
                    coverage=coverage(question, [s.text for s in selected]),
                    selected_docs=[chunks[s.chunk].doc_id for s in selected],
                    distinctness=None if dense_scores is None else distinctness(dense_scores),
                    doc_scores=docs,
                    sentence_docs=[chunks[s.chunk].doc_id
                                   for s in scored[:REPORTED_SENTENCES]])


def select(scored: Sequence[ScoredSentence], docs: Sequence[str] = (),
           nearest_doc: str | None = None) -> list[ScoredSentence]:
    """The best sentence plus those within ``MARGIN`` of it, at most ``MAX_SENTENCES``;
    when ``nearest_doc`` (the document of the nearest whole-document vector) has a
    sentence in ``scored``, its best one is quoted first, with the first
    ``MAX_SENTENCES - 1`` others (README, "Honest answers": the nearest document is the
    relevant one more often than the best sentence's).

    Args:
        scored: sentences, best similarity first.
        docs: the doc_id of each of ``scored`` (same length; empty: no preference).
        nearest_doc: doc_id of the nearest whole document (None: no preference).
    """
    if not scored:
        return []
    best = scored[0].similarity
    picked = [s for s in scored if s.similarity >= best - MARGIN][:MAX_SENTENCES]
    own = next((s for s, d in zip(scored, docs, strict=True) if d == nearest_doc), None) \
        if nearest_doc is not None and docs else None
    if own is None:
        return picked
    return [own] + [s for s in picked if s is not own][:MAX_SENTENCES - 1]


def coverage(question: str, sentences: Sequence[str]) -> float:
    """Share (0..1) of the question's content words found in ``sentences`` (1.0 if none)."""
    wanted = terms(question)
    if not wanted:
        return 1.0
    found = set().union(*(terms(s) for s in sentences)) if sentences else set()
    return len(wanted & found) / len(wanted)
