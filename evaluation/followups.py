"""The hand-written follow-up dev set: evaluation/followups.jsonl.

Each line is ``{"question", "followup", "doc"}``: a question a user asks first, a
follow-up that leans on it (a pronoun, "the first one", an ellipsis like "And in C++?"),
and the corpus id of the document that answers the follow-up in the Python FAQ BEIR set
built by ``scripts/build_faq_beir.py`` (ids like ``faq.design.001``). It is our own
writing, so it is committed; the FAQ text it points at is built from Debian's
python3.11-doc and never committed.

``python -m evaluation.followups BEIR_DIR`` checks every pair against a built set (the
document exists and is an FAQ answer) and prints how many pairs there are.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("followups.jsonl")
MIN_PAIRS = 30


@dataclass(frozen=True)
class FollowUp:
    """One pair: the first question, the follow-up, the relevant document's corpus id."""

    question: str
    followup: str
    doc: str


def load_followups(path: Path | None = None) -> list[FollowUp]:
    """Read the pairs (default: the committed evaluation/followups.jsonl).

    Raises:
        FileNotFoundError: no such file. ValueError: a line is not a JSON object with
            the three non-empty string fields (the message names the file and line).
    """
    path = path or DEFAULT_PATH
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        fields = [row.get(k) if isinstance(row, dict) else None
                  for k in ("question", "followup", "doc")]
        if not all(isinstance(f, str) and f.strip() for f in fields):
            raise ValueError(f'{path}:{number}: needs non-empty strings "question", '
                             '"followup" and "doc"')
        pairs.append(FollowUp(*fields))
    return pairs


def main(argv: list[str]) -> int:
    """Check the pairs against a BEIR folder; exit 0 when all their documents exist."""
    from evaluation.beir import load_corpus

    if len(argv) != 1:
        print("usage: python -m evaluation.followups BEIR_DIR", file=sys.stderr)
        return 2
    corpus = load_corpus(Path(argv[0]) / "corpus.jsonl")
    pairs = load_followups()
    missing = [p.doc for p in pairs if p.doc not in corpus]
    print(f"{len(pairs)} follow-up pairs, {len(missing)} with a missing document"
          + (f": {', '.join(missing)}" if missing else ""))
    return 1 if missing or len(pairs) < MIN_PAIRS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
