"""Load a retrieval test set in the BEIR folder layout.

Layout (https://github.com/beir-cellar/beir/wiki/Load-your-custom-dataset):
    corpus.jsonl        one JSON object a line: "_id", "text", optional "title"
    queries.jsonl       one JSON object a line: "_id", "text"
    qrels/<split>.tsv   header "query-id<TAB>corpus-id<TAB>score", then one judgement a line

Every problem raises BeirFormatError naming the file (and the line, 1-based) so that a
hand-made or converted set can be fixed without reading this code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

QRELS_HEADER = ("query-id", "corpus-id", "score")


class BeirFormatError(ValueError):
    """The folder is not a valid BEIR data set; the message names the file and line."""


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus document: its BEIR "_id", "title" ("" when absent) and "text"."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    """A loaded BEIR split.

    Attributes:
        corpus: every corpus entry, in file order, keyed by "_id".
        queries: the queries judged in this split (at least one score > 0), keyed by
            "_id", in queries.jsonl order; query text as given.
        qrels: query id -> {corpus id: graded relevance}, for those queries.
        split: the qrels split name, e.g. "test".
    """

    corpus: dict[str, CorpusEntry]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    split: str


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line of a JSON Lines file."""
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BeirFormatError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise BeirFormatError(f"{path}:{number}: expected a JSON object")
                yield number, row
    except UnicodeDecodeError as exc:
        raise BeirFormatError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _string_field(path: Path, number: int, row: dict, key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (key == "_id" and not value):
        raise BeirFormatError(f'{path}:{number}: "{key}" must be a non-empty string'
                              if key == "_id" else f'{path}:{number}: "{key}" must be a string')
    return value


def _require(path: Path) -> Path:
    if not path.is_file():
        raise BeirFormatError(f"{path}: missing (a BEIR folder holds corpus.jsonl, "
                              "queries.jsonl and qrels/<split>.tsv)")
    return path


def _rows_by_id(path: Path, fields: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Read a JSON Lines file keyed by "_id": "_id" -> the string values of `fields`.

    "title" may be absent (read as ""); every other field is required.
    """
    rows: dict[str, tuple[str, ...]] = {}
    for number, row in _jsonl(_require(path)):
        row_id = _string_field(path, number, row, "_id")
        if row_id in rows:
            raise BeirFormatError(f'{path}:{number}: duplicate "_id" {row_id!r}')
        rows[row_id] = tuple(_string_field(path, number, row, key, key != "title")
                             for key in fields)
    return rows


def load_corpus(path: Path) -> dict[str, CorpusEntry]:
    """Read corpus.jsonl. Raises BeirFormatError on a bad line, a repeated "_id" or no line."""
    corpus = {doc_id: CorpusEntry(doc_id, title, text)
              for doc_id, (title, text) in _rows_by_id(path, ("title", "text")).items()}
    if not corpus:
        raise BeirFormatError(f"{path}: no documents")
    return corpus


def load_queries(path: Path) -> dict[str, str]:
    """Read queries.jsonl. Raises BeirFormatError on a bad line or a repeated "_id"."""
    return {query_id: text for query_id, (text,) in _rows_by_id(path, ("text",)).items()}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read qrels/<split>.tsv: query id -> {corpus id: integer score}.

    Raises:
        BeirFormatError: wrong header, a row without three tab-separated fields, a
            score that is not an integer, or a repeated (query, document) pair.
    """
    qrels: dict[str, dict[str, int]] = {}
    with _require(path).open(encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if tuple(header) != QRELS_HEADER:
            raise BeirFormatError(f"{path}:1: header must be "
                                  f"{chr(9).join(QRELS_HEADER)!r} (tab-separated), "
                                  f"got {chr(9).join(header)!r}")
        for number, line in enumerate(f, start=2):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 3 or not fields[0] or not fields[1]:
                raise BeirFormatError(f"{path}:{number}: expected 3 tab-separated fields "
                                      "query-id, corpus-id, score")
            query_id, doc_id, score = fields
            try:
                grade = int(score)
            except ValueError:
                raise BeirFormatError(f"{path}:{number}: score {score!r} is not an integer") \
                    from None
            judged = qrels.setdefault(query_id, {})
            if doc_id in judged:
                raise BeirFormatError(f"{path}:{number}: {query_id!r} judges {doc_id!r} twice")
            judged[doc_id] = grade
    return qrels


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """Load and cross-check a BEIR folder.

    Only queries with at least one judgement of score > 0 in the split are kept
    (BEIR's qrels list relevant documents; a query without any cannot be scored).

    Raises:
        BeirFormatError: a file is missing or malformed, the qrels name a query or a
            document that does not exist, or no query of the split has a relevant document.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BeirFormatError(f"{folder}: not a folder")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise BeirFormatError(f"{qrels_path}: missing (splits found: {', '.join(splits) or 'none'})")
    corpus = load_corpus(folder / "corpus.jsonl")
    all_queries = load_queries(folder / "queries.jsonl")
    qrels = load_qrels(qrels_path)
    for query_id, judged in qrels.items():
        if query_id not in all_queries:
            raise BeirFormatError(f"{qrels_path}: query {query_id!r} is not in queries.jsonl")
        for doc_id in judged:
            if doc_id not in corpus:
                raise BeirFormatError(f"{qrels_path}: document {doc_id!r} (query {query_id!r}) "
                                      "is not in corpus.jsonl")
    judged_queries = {q: text for q, text in all_queries.items()
                      if any(score > 0 for score in qrels.get(q, {}).values())}
    if not judged_queries:
        raise BeirFormatError(f"{qrels_path}: no query has a relevant document (score > 0)")
    return BeirDataset(corpus, judged_queries,
                       {q: qrels[q] for q in judged_queries}, split)
