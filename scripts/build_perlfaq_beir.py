"""Build a BEIR-format retrieval set from the Perl FAQ shipped by Debian's perl-doc.

Each question of perlfaq1-9 (a ``=head2`` heading) becomes a query; its answer (the
section body, without the question) is the one relevant document. Sections of every
other Perl manual page, split at ``=head1``/``=head2``, are distractors; left out are
perltoc and perlfaq.pod (they list every question verbatim) and the perl5*delta
change logs. POD is rendered to plain text by Perl's own ``pod2text`` (Pod::Text):
its output puts ``=head1`` titles at column 0, ``=head2`` at 2, ``=head3``/``=head4``
at 3 and every body line at 4 or more, so sections split on indentation alone.

Output (BEIR layout, as scripts/build_faq_beir.py):
    OUT/corpus.jsonl     {"_id", "title", "text"}  answers first, then distractors;
                         title: "<page NAME line> > <head1>" (the heading path)
    OUT/queries.jsonl    {"_id", "text"}           "_id" is "q." + the answer's id
    OUT/qrels/test.tsv   query-id <TAB> corpus-id <TAB> score (1)

Deterministic: the same sources give byte-identical files.

Usage:
    apt-get install perl-doc
    python scripts/build_perlfaq_beir.py --out /tmp/perlfaq_beir --max-distractors 2400
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from evaluation.faq_sets import builder_main, write_faq_beir

DEFAULT_SRC = Path("/usr/share/perl")  # searched for */pod/perlfaq1.pod
_FAQ = re.compile(r"perlfaq[1-9]$")
_SKIP = re.compile(r"perlfaq.*|perltoc|perl\d+delta")
BODY_INDENT = 4  # pod2text's default body indent


@dataclass(frozen=True)
class Section:
    """One rendered section: heading path (page NAME first), level (1 or 2) and text."""

    path: tuple[str, ...]
    level: int
    text: str


def find_pod_dir(src: Path) -> Path:
    """The folder holding perlfaq1.pod: src, src/pod or the newest src/*/pod.

    Raises:
        FileNotFoundError: none found (perl-doc is not installed).
    """
    for folder in (src, src / "pod"):
        if (folder / "perlfaq1.pod").is_file():
            return folder
    found = sorted(src.glob("*/pod/perlfaq1.pod"))
    if not found:
        raise FileNotFoundError(f"no perlfaq1.pod under {src} (apt-get install perl-doc)")
    return found[-1].parent


def render(pod: Path) -> str:
    """pod2text's plain-text rendering of one POD file (UTF-8)."""
    run = subprocess.run(["pod2text", "--utf8", str(pod)], capture_output=True, check=True)
    return run.stdout.decode("utf-8", errors="replace")


def _dedent(lines: list[str]) -> str:
    body = [line[BODY_INDENT:] if line.startswith(" " * BODY_INDENT) else line.strip()
            for line in lines]
    return re.sub(r"\n\s*\n+", "\n\n", "\n".join(body)).strip()


def split_sections(rendered: str) -> list[Section]:
    """Split pod2text output at ``=head1``/``=head2`` titles (deeper titles stay in the body).

    The NAME section's text ("perlfaq4 - Data Manipulation") names the page and heads
    every path; NAME itself is not returned. Sections with no text are dropped.
    """
    heads: list[tuple[int, int, str]] = []  # (line, level, title)
    lines = rendered.splitlines()
    for i, line in enumerate(lines):
        if line.strip() and len(line) - len(line.lstrip()) < 3:
            heads.append((i, 1 if not line[0].isspace() else 2, line.strip()))
    page, h1, out = "", "", []
    for n, (i, level, title) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        text = _dedent(lines[i + 1:end])
        if level == 1 and title == "NAME":
            page = text.splitlines()[0].strip() if text else ""
            continue
        if level == 1:
            h1 = title
        path = tuple(p for p in (page, h1, title if level == 2 else "") if p)
        if text:
            out.append(Section(path, level, text))
    return out


def faq_pairs(pod_dir: Path, min_words: int) -> tuple[list[dict], list[dict]]:
    """(answers, queries) from perlfaq1-9 in page order; answers shorter than
    min_words words are dropped with their question (pure cross-references)."""
    corpus, queries = [], []
    for pod in sorted(p for p in pod_dir.glob("*.pod") if _FAQ.fullmatch(p.stem)):
        for n, section in enumerate(split_sections(render(pod))):
            if section.level != 2 or len(section.text.split()) < min_words:
                continue
            doc_id = f"{pod.stem}.{n:03d}"
            corpus.append({"_id": doc_id, "title": " > ".join(section.path[:-1]),
                           "text": section.text})
            queries.append({"_id": "q." + doc_id, "text": section.path[-1]})
    return corpus, queries


def distractors(pod_dir: Path, min_words: int) -> list[dict]:
    """Every section (head1 or head2) of the other pages with at least min_words words."""
    docs = []
    for pod in sorted(pod_dir.glob("*.pod")):
        if _SKIP.fullmatch(pod.stem):
            continue
        for n, section in enumerate(split_sections(render(pod))):
            if len(section.text.split()) >= min_words:
                docs.append({"_id": f"{pod.stem}.{n:03d}", "title": " > ".join(section.path),
                             "text": section.text})
    return docs


def build(src: Path, out: Path, max_distractors: int = 0, min_words: int = 20,
          min_answer_words: int = 5) -> dict[str, int]:
    """Write the BEIR folder and return its counts.

    Raises:
        FileNotFoundError: no perlfaq1.pod under src.
        subprocess.CalledProcessError: pod2text failed on a page.
    """
    pod_dir = find_pod_dir(src)
    answers, queries = faq_pairs(pod_dir, min_answer_words)
    return write_faq_beir(out, answers, queries, distractors(pod_dir, min_words),
                          max_distractors)


def main(argv: list[str] | None = None) -> int:
    return builder_main(argv, description=__doc__.split("\n\n")[0], default_src=DEFAULT_SRC,
                        src_help="folder with the .pod files, or a parent of */pod", build=build)


if __name__ == "__main__":
    sys.exit(main())
