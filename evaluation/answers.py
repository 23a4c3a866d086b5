"""``python -m agents eval BEIR_DIR [--n N] --json``: does the flow answer honestly?

From a BEIR folder (e.g. the Python FAQ set of scripts/build_faq_beir.py) it builds:

- **answerable** questions: ``n`` queries whose relevant documents are indexed;
- **unanswerable** questions: ``n`` other queries whose relevant documents are withheld
  (no document relevant to them is indexed);
- a **distractor pool**: ``--distractors`` further corpus documents (none relevant to an
  unanswerable question), so the store is not just the answers;
- the **follow-up** dev set (evaluation/followups.jsonl): the documents its pairs need
  are indexed too, and no unanswerable question shares one.

The split is a deterministic function of the folder, ``--n``, ``--distractors`` and
``--seed``. Every question runs through the real flow (real store, real MiniLM, the
router with only the extractive provider: no key, no local model) and the last stdout
line is one JSON object with RESULT_KEYS:

- ``answerable_cited_gold``: share of answerable questions with ``supported`` true and a
  citation of a relevant document;
- ``unanswerable_declined``: share of unanswerable questions with ``supported`` false;
- ``followup_recall@5`` / ``followup_recall@5_no_rewrite``: share of follow-ups whose
  relevant document is among the documents of the 5 best chunks, searching the rewritten
  query (agents.followup, after the first question ran through the flow) / the
  follow-up as typed;
- ``first_token_p50_ms``: question to first answer token, median over all questions.

``--details FILE`` writes one JSON line per question (the support decision's numbers),
which is what calibrates the thresholds of agents.evidence (see README).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evaluation.beir import BeirDataset, BeirFormatError, load_beir
from evaluation.followups import FollowUp, load_followups
from evaluation.retrieval import IndexedCorpus, _settings, index_corpus, percentile

RESULT_KEYS = ("answerable_cited_gold", "unanswerable_declined", "followup_recall@5",
               "followup_recall@5_no_rewrite", "queries", "answerable", "unanswerable",
               "followups", "docs", "chunks", "first_token_p50_ms", "first_token_p95_ms")
EVAL_OWNER = "answers-eval"
DEFAULT_N = 60
DEFAULT_DISTRACTORS = 600


@dataclass(frozen=True)
class Split:
    """Which queries are asked and which corpus entries are indexed."""

    answerable: list[str]     # query ids
    unanswerable: list[str]   # query ids
    indexed: list[str]        # corpus ids, in insertion order


def make_split(dataset: BeirDataset, n: int, distractors: int, followups: list[FollowUp],
               seed: int = 11) -> Split:
    """The answerable/unanswerable split (see the module docstring).

    Raises:
        ValueError: fewer than ``2 * n`` usable queries in the set.
    """
    needed = {f.doc for f in followups}
    relevant = {q: {d for d, s in dataset.qrels[q].items() if s > 0} for q in dataset.queries}
    ids = sorted(dataset.queries)
    random.Random(seed).shuffle(ids)
    usable_unanswerable = [q for q in ids if not relevant[q] & needed]
    if len(ids) < 2 * n or len(usable_unanswerable) < n:
        raise ValueError(f"the set has {len(ids)} judged queries; --n {n} needs {2 * n}")
    unanswerable = usable_unanswerable[:n]
    answerable = [q for q in ids if q not in unanswerable][:n]
    withheld = set().union(*(relevant[q] for q in unanswerable))
    gold = [d for q in answerable for d in sorted(relevant[q])] + sorted(needed)
    pool = [d for d in sorted(dataset.corpus) if d not in withheld and d not in gold]
    random.Random(seed + 1).shuffle(pool)
    indexed = list(dict.fromkeys([d for d in gold if d not in withheld] + pool[:distractors]))
    return Split(answerable, unanswerable, indexed)


class FirstToken:
    """Observer noting the time of the first answer token."""

    def __init__(self) -> None:
        self.at: float | None = None

    async def __call__(self, event: Any) -> None:
        if event.kind == "token" and self.at is None:
            self.at = time.perf_counter()


def extractive_router() -> Any:
    """An LLMRouter whose only provider is the extractive one (no key, no local model)."""
    from agents.llm.providers.extractive import ExtractiveProvider
    from agents.llm.router import LLMRouter
    from agents.llm.settings import LLMSettings

    return LLMRouter(LLMSettings(), {"extractive": ExtractiveProvider()})


async def ask_all(rag: Any, scope: Any, dataset: BeirDataset, split: Split,
                  indexed: IndexedCorpus) -> list[dict[str, Any]]:
    """Run every question of the split through the flow; one row per question."""
    from agents.runner import ask

    router, rows = extractive_router(), []
    await ask("warm-up question", scope=scope, rag=rag, router=router)
    for kind, ids in (("answerable", split.answerable), ("unanswerable", split.unanswerable)):
        for qid in ids:
            timer, started = FirstToken(), time.perf_counter()
            result = await ask(dataset.queries[qid], scope=scope, rag=rag, router=router,
                               observer=timer)
            cited = {cid for c in result.citations for cid in indexed.corpus_ids.get(c.doc_id, [])}
            gold = {d for d, s in dataset.qrels[qid].items() if s > 0}
            evidence = result.evidence or {}
            selected = {cid for doc in evidence.get("selected_docs", [])  # type: ignore[union-attr]
                        for cid in indexed.corpus_ids.get(doc, [])}
            rows.append({"id": qid, "kind": kind, "question": dataset.queries[qid],
                         "supported": result.supported, "cited_gold": bool(cited & gold),
                         "gold_selected": bool(selected & gold),
                         "first_token_ms": ((timer.at or time.perf_counter()) - started) * 1e3,
                         **{k: v for k, v in evidence.items() if k != "selected_docs"},
                         **_gold_documents(evidence, indexed, gold)})
    return rows


def _gold_documents(evidence: dict[str, Any], indexed: IndexedCorpus, gold: set[str]
                    ) -> dict[str, Any]:
    """Which of the evidence's documents are relevant: ``top_doc_gold`` (the nearest
    whole-document vector's document) and ``sentence_gold`` ([relevant, cosine] of each
    reported best sentence), what README's document-vector analysis reads."""
    def relevant(doc: str) -> bool:
        return bool(set(indexed.corpus_ids.get(doc, [])) & gold)

    top = evidence.get("top_docs") or []
    return {"top_doc_gold": relevant(top[0]) if top else False,
            "sentence_gold": [[relevant(d), s] for d, s in evidence.get("sentence_docs", [])]}


async def followup_recall(rag: Any, scope: Any, followups: list[FollowUp],
                          indexed: IndexedCorpus, k: int = 5) -> tuple[float, float]:
    """(recall@k with the rewrite, recall@k without) over the follow-up pairs."""
    from agents.followup import standalone_query
    from agents.runner import ask

    router, hits, plain_hits = extractive_router(), 0, 0
    for pair in followups:
        first = await ask(pair.question, scope=scope, rag=rag, router=router)
        query = standalone_query(pair.followup, first.memory)
        for text, is_rewrite in ((query, True), (pair.followup, False)):
            found = await rag.search(text, scope, k=k)
            docs = {cid for h in found for cid in indexed.corpus_ids.get(h.doc_id, [])}
            if pair.doc in docs:
                hits, plain_hits = (hits + 1, plain_hits) if is_rewrite else (hits, plain_hits + 1)
    n = max(1, len(followups))
    return hits / n, plain_hits / n


async def evaluate_answers(beir_dir: str | Path, n: int = DEFAULT_N,
                           distractors: int = DEFAULT_DISTRACTORS, seed: int = 11,
                           followups_path: Path | None = None,
                           data_dir: Path | None = None) -> tuple[dict[str, Any], list[dict]]:
    """Build the split, index it, run the flow; returns (the JSON result, per-question rows).

    Raises:
        BeirFormatError: not a valid BEIR folder. ValueError: too few queries, or a
            follow-up names a document that is not in the corpus.
    """
    from rag.models import Scope
    from rag.service import RagService

    dataset = await asyncio.to_thread(load_beir, beir_dir)
    followups = load_followups(followups_path)
    missing = [f.doc for f in followups if f.doc not in dataset.corpus]
    if missing:
        raise ValueError(f"follow-up documents not in {beir_dir}: {', '.join(missing[:5])}")
    split = make_split(dataset, n, distractors, followups, seed)
    subset = replace(dataset, corpus={d: dataset.corpus[d] for d in split.indexed})
    scope = Scope(owner=EVAL_OWNER)
    with tempfile.TemporaryDirectory(prefix="docchat-answers-", ignore_cleanup_errors=True) as tmp:
        update: dict[str, Any] = {
            # one owner indexes the whole set at once: lift the per-user pending quota
            "user_max_pending_files": len(split.indexed) + 1, "user_max_pending_mb": 1e6}
        if data_dir is not None:  # a fixed collection: the next run finds the documents
            update["collection"] = f"answers{n}d{distractors}s{seed}"  # (skipped as duplicates)
        settings = _settings(data_dir or Path(tmp)).model_copy(update=update)
        rag = await RagService.open(settings)
        try:
            indexed = await index_corpus(rag, subset, scope)
            if indexed.failed:
                print(f"{len(indexed.failed)} documents failed to index, first: "
                      f"{indexed.failed[0]}", file=sys.stderr)
            rows = await ask_all(rag, scope, dataset, split, indexed)
            recall, plain = await followup_recall(rag, scope, followups, indexed)
        finally:
            await rag.close()
    return summarise(rows, recall, plain, followups, indexed, len(split.indexed)), rows


def summarise(rows: list[dict], recall: float, plain: float, followups: list[FollowUp],
              indexed: IndexedCorpus, docs: int) -> dict[str, Any]:
    """The RESULT_KEYS object."""
    answerable = [r for r in rows if r["kind"] == "answerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    ttft = [r["first_token_ms"] for r in rows]
    result = {
        "answerable_cited_gold": _share(r["supported"] and r["cited_gold"] for r in answerable),
        "unanswerable_declined": _share(not r["supported"] for r in unanswerable),
        "followup_recall@5": round(recall, 4), "followup_recall@5_no_rewrite": round(plain, 4),
        "queries": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "followups": len(followups), "docs": docs, "chunks": indexed.chunks,
        "first_token_p50_ms": round(percentile(ttft, 50), 1),
        "first_token_p95_ms": round(percentile(ttft, 95), 1)}
    return {key: result[key] for key in RESULT_KEYS}


def _share(flags: Any) -> float:
    values = [bool(f) for f in flags]
    return round(sum(values) / len(values), 4) if values else 0.0


def add_eval_parser(commands: Any) -> None:
    """Register the ``eval`` subcommand of ``python -m agents``."""
    parser = commands.add_parser("eval", help="answerable/unanswerable/follow-up evaluation "
                                              "of the flow on a BEIR folder")
    parser.add_argument("beir_dir", help="BEIR folder (scripts/build_faq_beir.py builds one)")
    parser.add_argument("--n", type=int, default=DEFAULT_N,
                        help=f"answerable and unanswerable questions each (default {DEFAULT_N})")
    parser.add_argument("--distractors", type=int, default=DEFAULT_DISTRACTORS,
                        help=f"distractor documents indexed (default {DEFAULT_DISTRACTORS})")
    parser.add_argument("--seed", type=int, default=11, help="split seed (default 11)")
    parser.add_argument("--followups", type=Path, default=None,
                        help="follow-up pairs JSONL (default evaluation/followups.jsonl)")
    parser.add_argument("--details", type=Path, default=None,
                        help="write one JSON line per question (decision numbers) here")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the eval store here and reuse it on the next run "
                             "(default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")


async def run_eval(args: argparse.Namespace) -> int:
    """Run the evaluation for parsed arguments; prints the result; returns the exit code."""
    try:
        result, rows = await evaluate_answers(args.beir_dir, args.n, args.distractors,
                                              args.seed, args.followups, args.data_dir)
    except (BeirFormatError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.details:
        args.details.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if not args.json:
        for key, value in result.items():
            print(f"{key:<32} {value}")
    else:
        print(json.dumps(result))
    return 0
