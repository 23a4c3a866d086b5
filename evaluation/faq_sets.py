"""What the FAQ dev-set builders share (``scripts/build_faq_beir.py`` for the Python FAQ,
``scripts/build_perlfaq_beir.py`` for the Perl FAQ): the deterministic distractor sample,
writing the BEIR folder, and the command line.

Each builder supplies its own parsing: ``answers`` (corpus rows, one per FAQ answer),
``queries`` (one per question, in the same order) and ``distractors`` (other sections).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

#: build(src, out, max_distractors, min_words, min_answer_words) -> counts
Build = Callable[[Path, Path, int, int, int], dict[str, int]]


def sample(docs: list[dict], limit: int) -> list[dict]:
    """A deterministic spread-out subset of ``docs`` (the ``limit`` lowest SHA-256 of the
    ``_id``), kept in input order; a smaller set is a subset of a larger one.
    ``limit <= 0`` keeps everything."""
    if limit <= 0 or len(docs) <= limit:
        return docs
    ranked = sorted(docs, key=lambda d: hashlib.sha256(d["_id"].encode()).hexdigest())
    keep = {d["_id"] for d in ranked[:limit]}
    return [d for d in docs if d["_id"] in keep]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_faq_beir(out: Path, answers: list[dict], queries: list[dict],
                   distractors: list[dict], max_distractors: int = 0) -> dict[str, int]:
    """Write a BEIR folder: ``corpus.jsonl`` (answers, then the sampled distractors),
    ``queries.jsonl`` and ``qrels/test.tsv`` (the i-th query judges the i-th answer 1).

    Returns:
        counts: answers, distractors, docs, queries.
    """
    others = sample(distractors, max_distractors)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "corpus.jsonl", answers + others)
    _write_jsonl(out / "queries.jsonl", queries)
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8", newline="\n") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for query, answer in zip(queries, answers, strict=True):
            f.write(f"{query['_id']}\t{answer['_id']}\t1\n")
    return {"answers": len(answers), "distractors": len(others),
            "docs": len(answers) + len(others), "queries": len(queries)}


def builder_main(argv: list[str] | None, *, description: str, default_src: Path,
                 src_help: str, build: Build) -> int:
    """The command line of a FAQ builder: parse ``argv``, run ``build``, print the counts.

    Returns:
        0, or 2 when ``build`` raised FileNotFoundError (its message on stderr).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--src", type=Path, default=default_src,
                        help=f"{src_help} (default {default_src})")
    parser.add_argument("--out", type=Path, required=True, help="BEIR folder to write")
    parser.add_argument("--max-distractors", type=int, default=0,
                        help="keep at most this many distractor sections, picked "
                             "deterministically; 0 = all (default)")
    parser.add_argument("--min-words", type=int, default=20,
                        help="skip distractor sections shorter than this (default 20)")
    parser.add_argument("--min-answer-words", type=int, default=5,
                        help="skip FAQ questions whose answer is shorter (default 5)")
    args = parser.parse_args(argv)
    try:
        counts = build(args.src, args.out, args.max_distractors, args.min_words,
                       args.min_answer_words)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"corpus.jsonl: {counts['docs']} documents "
          f"({counts['answers']} answers, {counts['distractors']} distractors)")
    print(f"queries.jsonl: {counts['queries']} queries")
    print(f"qrels/test.tsv: {counts['queries']} judgements")
    print(f"written to {args.out}")
    return 0
