"""`python -m rag eval`: score the retriever on a BEIR folder.

The corpus is indexed once into a fresh temporary store (one document per corpus
entry, text = title + blank line + text; long entries are chunked by the normal
pipeline). Every judged query of the split is searched in each requested mode, chunk
hits are reduced to documents by their best chunk, and nDCG@10, Recall@10, Recall@100
and MRR@10 are computed as BEIR does (rag.evaluation.metrics).

Output: a table on stdout, indexing progress on stderr. With --json the last stdout
line is one JSON object: for a single mode exactly RESULT_KEYS; for --mode all an
object {"dense": {...}, "bm25": {...}, "hybrid": {...}} of such objects.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.evaluation.beir import BeirDataset, BeirFormatError, load_beir
from rag.evaluation.metrics import evaluate

MODES = ("dense", "bm25", "hybrid", "hybrid-rrf")
#: eval mode -> RagService.search arguments ("hybrid-rrf": hybrid with RRF fusion, to
#: compare with the default convex fusion in the same run)
SEARCH_ARGS = {"dense": {"mode": "dense"}, "bm25": {"mode": "bm25"},
               "hybrid": {"mode": "hybrid"}, "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"}}
RESULT_KEYS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "queries", "docs",
               "index_s", "query_p50_ms", "query_p95_ms")
DOC_DEPTH = 100  # documents kept per query (Recall@100)
CHUNK_DEPTH = 200  # chunks asked of the store per query, then reduced to documents
EVAL_OWNER = "beir-eval"


@dataclass
class IndexedCorpus:
    """What indexing produced: store doc id -> corpus ids (identical texts share one)."""

    corpus_ids: dict[str, list[str]]
    seconds: float
    chunks: int
    failed: list[str]


@dataclass
class ModeResult:
    """Scores and per-query latencies (ms, query embedding included) of one mode."""

    mode: str
    metrics: dict[str, float]
    latencies_ms: list[float]

    def as_json(self, queries: int, docs: int, index_s: float) -> dict:
        """The --json object: exactly RESULT_KEYS."""
        row = {name: round(value, 4) for name, value in self.metrics.items()}
        row.update(queries=queries, docs=docs, index_s=round(index_s, 2),
                   query_p50_ms=round(percentile(self.latencies_ms, 50), 2),
                   query_p95_ms=round(percentile(self.latencies_ms, 95), 2))
        return {key: row[key] for key in RESULT_KEYS}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation (numpy's default); 0.0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Progress:
    """Prints indexing progress (documents finished, rate, ETA) to stderr.

    On a terminal one line is rewritten every second; otherwise (a log file) a new
    line is written every 10 seconds.
    """

    def __init__(self, total: int) -> None:
        self.total, self.finished, self.shown = total, set(), -1
        self.start = self.last = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.interval = 1.0 if self.tty else 10.0

    def __call__(self, event) -> None:
        if event.stage in ("done", "failed"):
            self.finished.add(event.filename)
        now = time.perf_counter()
        if now - self.last >= self.interval or len(self.finished) == self.total:
            self.last = now
            self.show(now)

    def show(self, now: float) -> None:
        done, elapsed = len(self.finished), now - self.start
        self.shown = done
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        line = (f"indexing: {done}/{self.total} documents, {rate:.1f} docs/s, "
                f"{elapsed:.0f} s elapsed, ETA {eta:.0f} s")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown != len(self.finished):
            self.show(time.perf_counter())
        if self.tty:
            print(file=sys.stderr)


async def index_corpus(service, dataset: BeirDataset, scope) -> IndexedCorpus:
    """Index every corpus entry as one TextDocument named by its "_id"."""
    from rag.models import TextDocument

    documents = [TextDocument(name=e.id, text=f"{e.title}\n\n{e.text}" if e.title else e.text,
                              metadata={"corpus_id": e.id}) for e in dataset.corpus.values()]
    progress = _Progress(len(documents))
    start = time.perf_counter()
    reports = await service.index_texts(documents, scope, on_progress=progress)
    seconds = time.perf_counter() - start
    progress.close()
    corpus_ids: dict[str, list[str]] = {}
    failed = []
    for document, report in zip(documents, reports, strict=True):
        if report.status == "failed" or not report.doc_id:
            failed.append(f"{document.name}: {report.error}")
            continue
        corpus_ids.setdefault(report.doc_id, []).append(document.name)
    chunks = await service.count_chunks(scope)
    return IndexedCorpus(corpus_ids, seconds, chunks, failed)


def rank_documents(hits, corpus_ids: dict[str, list[str]], depth: int = DOC_DEPTH) -> list[str]:
    """Chunk hits (best first) -> corpus ids ranked by their best chunk, at most depth.

    Corpus entries with identical text were stored as one document; each of them
    takes that document's rank (BEIR scores them as separate documents).
    """
    ranking: dict[str, None] = {}
    for hit in hits:
        ids = corpus_ids.get(hit.doc_id) or [hit.metadata.get("corpus_id") or hit.source]
        for corpus_id in ids:
            ranking.setdefault(corpus_id, None)
        if len(ranking) >= depth:
            break
    return list(ranking)[:depth]


async def run_mode(service, dataset: BeirDataset, scope, mode: str,
                   indexed: IndexedCorpus) -> ModeResult:
    """Search every judged query once in `mode` (after one untimed warm-up search)."""
    first = next(iter(dataset.queries.values()))
    args = SEARCH_ARGS[mode]
    await service.search(first, scope, k=CHUNK_DEPTH, **args)  # load lazy state
    runs: dict[str, list[str]] = {}
    latencies: list[float] = []
    for query_id, text in dataset.queries.items():
        start = time.perf_counter()
        hits = await service.search(text, scope, k=CHUNK_DEPTH, **args)
        latencies.append((time.perf_counter() - start) * 1000)
        runs[query_id] = rank_documents(hits, indexed.corpus_ids)
    return ModeResult(mode, evaluate(runs, dataset.qrels), latencies)


def _settings(data_dir: Path):
    """Settings for a private local store: the data dir given, never a Chroma server."""
    from rag.config import RagSettings

    overrides = {"chroma_host": None} if "chroma_host" in RagSettings.model_fields else {}
    return RagSettings(data_dir=data_dir, **overrides)


async def evaluate_beir(beir_dir: str | Path, split: str = "test",
                        modes: Sequence[str] = ("hybrid",)) -> tuple[BeirDataset, IndexedCorpus,
                                                                     list[ModeResult]]:
    """Index the corpus of a BEIR folder into a temporary store and score each mode.

    Raises:
        BeirFormatError: the folder is not valid BEIR (see rag.evaluation.beir).
    """
    from rag.models import Scope
    from rag.service import RagService

    dataset = await asyncio.to_thread(load_beir, beir_dir, split)
    scope = Scope(owner=EVAL_OWNER)
    with tempfile.TemporaryDirectory(prefix="docchat-eval-",
                                     ignore_cleanup_errors=True) as tmp:
        service = await RagService.open(_settings(Path(tmp)))
        try:
            indexed = await index_corpus(service, dataset, scope)
            results = [await run_mode(service, dataset, scope, mode, indexed) for mode in modes]
        finally:
            await service.close()
    return dataset, indexed, results


def format_report(beir_dir: str | Path, dataset: BeirDataset, indexed: IndexedCorpus,
                  results: Sequence[ModeResult]) -> str:
    """A readable table: one row per mode, with counts and timings above it."""
    lines = [
        (f"BEIR eval of {beir_dir} (split {dataset.split}): {len(dataset.queries)} queries, "
         f"{len(dataset.corpus)} documents, {indexed.chunks} chunks, "
         f"indexed in {indexed.seconds:.1f} s"),
        (f"{'mode':<11}{'nDCG@10':>9}{'R@10':>8}{'R@100':>8}{'MRR@10':>8}"
         f"{'p50 ms':>9}{'p95 ms':>9}"),
    ]
    for r in results:
        m = r.metrics
        lines.append(f"{r.mode:<11}{m['ndcg@10']:>9.4f}{m['recall@10']:>8.4f}"
                     f"{m['recall@100']:>8.4f}{m['mrr@10']:>8.4f}"
                     f"{percentile(r.latencies_ms, 50):>9.1f}"
                     f"{percentile(r.latencies_ms, 95):>9.1f}")
    if indexed.failed:
        lines.append(f"{len(indexed.failed)} documents failed to index (they count as misses), "
                     f"first: {indexed.failed[0]}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The eval options, for `python -m rag eval` and this module's own entry point."""
    parser.add_argument("beir_dir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    parser.add_argument("--split", default="test", help="qrels split (default test)")
    parser.add_argument("--mode", default="hybrid", choices=[*MODES, "all"],
                        help="retrieval mode; all = index once, score dense, bm25, hybrid (convex)"
                        " and hybrid-rrf")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the results")


def main(args: argparse.Namespace) -> int:
    """Run the evaluation for parsed CLI arguments; returns the process exit code."""
    modes = MODES if args.mode == "all" else (args.mode,)
    try:
        dataset, indexed, results = asyncio.run(evaluate_beir(args.beir_dir, args.split, modes))
    except BeirFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(args.beir_dir, dataset, indexed, results))
    if args.json:
        rows = {r.mode: r.as_json(len(dataset.queries), len(dataset.corpus), indexed.seconds)
                for r in results}
        print(json.dumps(rows[args.mode] if args.mode != "all" else rows))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m rag.evaluation.runner",
                                      description="Score retrieval on a BEIR folder.")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
