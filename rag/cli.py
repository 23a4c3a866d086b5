"""`python -m rag`: index, search, delete, eval and bench from the command line.

Scope: the CLI acts as owner "cli" (override with --owner or RAG_CLI_OWNER);
``--scope S`` selects thread S of that owner (default: no thread; for search
and delete, no --scope means every document of the owner).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import RagSettings
from rag.models import IndexProgress, Scope

if TYPE_CHECKING:
    from rag.store.document_store import ReconcileReport

DEFAULT_OWNER = RagSettings.model_fields["cli_owner"].default


def expand_paths(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files named or found (recursively, sorted) under the given folders.

    Returns:
        (files, missing): files to index, and arguments that do not exist.
        Hidden files and folders inside a folder are skipped.
    """
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if child.is_file() and not any(p.startswith(".") for p in rel):
                    files.append(child)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(raw)
    return files, missing


def _scope(args: argparse.Namespace) -> Scope:
    return Scope(owner=args.owner, thread_id=args.scope)


def _print_progress(event: IndexProgress) -> None:
    if event.stage in ("embed",):
        print(f"  {event.filename}: embed {event.done}/{event.total}", file=sys.stderr)


async def _index(args: argparse.Namespace) -> int:
    from rag.service import RagService

    files, missing = expand_paths(args.paths)
    for raw in missing:
        print(f"{'FAILED':<10} {raw}: no such file or folder")
    service = await RagService.open()
    try:
        progress = _print_progress if args.verbose else None
        reports = await service.index_files(files, _scope(args), on_progress=progress)
    finally:
        await service.close()
    for r in reports:
        if r.status == "failed":
            print(f"{'FAILED':<10} {r.path}: {r.error}")
        else:
            print(f"{r.status.upper():<10} {r.path}  chunks={r.chunks}  "
                  f"doc_id={r.doc_id}  {r.seconds:.1f}s")
    ok = sum(r.status != "failed" for r in reports)
    print(f"{ok}/{len(reports) + len(missing)} files indexed or already present; "
          f"{sum(r.chunks for r in reports)} new chunks")
    return 0 if ok == len(reports) and not missing else 1


async def _search(args: argparse.Namespace) -> int:
    from rag.service import RagService

    service = await RagService.open()
    try:
        results = await service.search(args.query, _scope(args), k=args.k, mode=args.mode)
    finally:
        await service.close()
    if not results:
        print("no results")
    for r in results:
        where = r.source + (f" p.{r.page}" if r.page else "") + (
            f" [{r.heading}]" if r.heading else "")
        print(f"{r.rank:>2}. {r.score:.4f}  {where}  ({r.doc_id[:12]})")
        snippet = " ".join(r.text.split())
        print(f"    {snippet[:args.width]}{'...' if len(snippet) > args.width else ''}")
    return 0


async def _delete(args: argparse.Namespace) -> int:
    from rag.service import RagService

    service = await RagService.open()
    try:
        removed = await service.delete_document(args.doc_id, _scope(args))
    finally:
        await service.close()
    print(f"deleted {removed} chunks of {args.doc_id}")
    return 0 if removed else 1


async def _reconcile(args: argparse.Namespace) -> int:
    from rag.service import RagService

    service = await RagService.open()
    try:
        report = await service.reconcile(stale_after_s=args.stale_after)
    finally:
        await service.close()
    print_reconcile(report)
    return 0


def print_reconcile(report: ReconcileReport) -> None:
    """Print what ``reconcile`` removed: one line per swept document, then the totals."""
    for owner, thread, doc_id, state in report.documents:
        action = "removed" if state == "deleting" else "marked failed"
        print(f"{action:<14} {state:<9} owner={owner} thread={thread or '-'} doc_id={doc_id}")
    print(f"removed {report.vectors} orphan vectors and {report.keyword_rows} keyword rows;"
          f" {len(report.documents)} unfinished documents swept;"
          f" {report.document_vectors} orphan document vectors", flush=True)


def _worker(args: argparse.Namespace) -> int:
    from rag.queue.worker import run

    return run(burst=args.burst)


def _eval(args: argparse.Namespace) -> int:
    from evaluation import retrieval as runner  # lazy: another module owns the evaluation

    return int(runner.main(args) or 0)


def _bench(args: argparse.Namespace) -> int:
    from bench.rag_bench import main as bench_main

    return int(bench_main(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m rag``."""
    parser = argparse.ArgumentParser(
        prog="python -m rag", description="Index documents and search them (docchat rag).")
    parser.add_argument("--owner", default=RagSettings().cli_owner,
                        help=f"owner (user id) of the scope (default {DEFAULT_OWNER!r})")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--scope", default=None, help="thread id to index into (default none)")
    p.add_argument("-v", "--verbose", action="store_true", help="print embedding progress")

    p = sub.add_parser("search", help="search the indexed chunks")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--scope", default=None, help="thread id (default: all of the owner)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--width", type=int, default=160, help="snippet characters")

    p = sub.add_parser("delete", help="delete a document by id")
    p.add_argument("doc_id")
    p.add_argument("--scope", default=None, help="thread id (default: all of the owner)")

    p = sub.add_parser("reconcile", help="remove chunks of documents that are not indexed"
                       " (left by a stopped process)")
    p.add_argument("--stale-after", type=float, default=3600.0, metavar="SECONDS",
                   help="sweep unfinished documents not updated for this long (default 3600:"
                        " a running app's indexing is left alone; 0 when nothing runs)")

    p = sub.add_parser("worker", help="run indexing jobs from DOCCHAT_QUEUE_URL (reconciles"
                       " first)")
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")

    p = sub.add_parser("eval", help="evaluate retrieval on a BEIR folder")
    p.add_argument("beir_dir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    p.add_argument("--split", default="test")
    p.add_argument("--mode", default="hybrid",
                   choices=["dense", "bm25", "hybrid", "hybrid-rrf", "baseline-dense",
                            "baseline-bm25", "all"],
                   help="all: every mode and both baselines on one index")
    p.add_argument("--sweep", nargs="?", const="", default=None, metavar="NAMES",
                   help="also score the variants the defaults were chosen from (all, or "
                        "a comma-separated list of names)")
    p.add_argument("--context", choices=["on", "off"], default=None,
                   help="context-carrying chunks (default: RAG_CHUNK_CONTEXT, on)")
    p.add_argument("--cache", default=None,
                   help="embedding cache file (default ~/.cache/docchat/"
                        "eval-embeddings.sqlite); '' = none")
    p.add_argument("--json", action="store_true", help="end with one JSON line")

    p = sub.add_parser("bench", help="indexing throughput and query latency")
    p.add_argument("--json", action="store_true", help="end with one JSON line")
    p.add_argument("--chunks", type=int, default=2000, help="chunks for the throughput run")
    p.add_argument("--query-chunks", type=int, default=10000,
                   help="store size for the query latency run")
    p.add_argument("--queries", type=int, default=100, help="queries timed")
    p.add_argument("--docs", default=None, help="folder of real text (default: Python docs)")
    p.add_argument("--keyword-chunks", type=int, default=0, metavar="N",
                   help="also time keyword queries at N chunks on SQLite FTS5 and on "
                        "PostgreSQL (DATABASE_URL or --pg-url), in one run (bench/keyword_bench.py)")
    p.add_argument("--pg-url", default=None, help="PostgreSQL URL of the keyword bench "
                   "(default DATABASE_URL)")
    p.add_argument("--keyword-only", action="store_true",
                   help="only the keyword bench (skip indexing throughput and hybrid latency)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "eval":
        return _eval(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "worker":
        return _worker(args)
    runner = {"index": _index, "search": _search, "delete": _delete,
              "reconcile": _reconcile}[args.command]
    from rag.errors import StoreUnavailableError

    try:
        return asyncio.run(runner(args))
    except StoreUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
