"""Build a BEIR-format retrieval set from the Python FAQ shipped by Debian's python3.11-doc.

Each FAQ question (a section heading at the deepest heading level of a ``faq/*.rst.txt``
file) becomes a query; its answer (the section body, without the question heading) is
the one relevant document. Sections of every other reST source, split at headings, are
distractors. Inline reST markup is reduced to plain text so that neither side carries
markup the other lacks.

Output (BEIR layout, https://github.com/beir-cellar/beir):
    OUT/corpus.jsonl     {"_id", "title", "text"}  answers first, then distractors
    OUT/queries.jsonl    {"_id", "text"}           "_id" is "q." + the answer's id
    OUT/qrels/test.tsv   query-id <TAB> corpus-id <TAB> score (1)

The output is deterministic: the same sources give byte-identical files.

Usage:
    python scripts/build_faq_beir.py --out /tmp/faq_beir
    python scripts/build_faq_beir.py --src /usr/share/doc/python3.11/html/_sources \
        --out /tmp/faq_beir --max-distractors 1000   # a smaller, faster set
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from evaluation.faq_sets import builder_main, write_faq_beir

DEFAULT_SRC = Path("/usr/share/doc/python3.11/html/_sources")
SUFFIX = ".rst.txt"

_ADORNMENT = re.compile(r"""([=\-~^"'`#*+.:_<>!$%&,;?@\\/|])\1{2,}""")
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:.+-]+)::\s*(.*)$")
_TARGET = re.compile(r"^\s*\.\.\s+(_[^:]*|\|[^|]+\|\s+\w+)::?(\s|$)")
_FOOTNOTE = re.compile(r"^(\s*)\.\.\s+\[[^\]]+\]\s*(.*)$")
_META_FIELD = re.compile(r"^:(tocdepth|orphan|nosearch):")
_TABLE_RULE = re.compile(r"^\s*[=+\-|: ]{3,}$")
_OPTION = re.compile(r"^\s+:[\w-]+:")

_ROLE = re.compile(r":([\w:+.-]+):`([^`]*)`")
_LITERAL = re.compile(r"``(.+?)``")
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`_{0,2}")
_REFERENCE = re.compile(r"`([^`]+)`_{1,2}")
_INTERPRETED = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(.+?)\*\*")

# Directives whose whole block is navigation, layout or build machinery, not prose.
_DROP_BLOCK = {
    "toctree", "index", "contents", "literalinclude", "include", "image", "figure",
    "raw", "tabularcolumns", "testsetup", "testcleanup", "highlight", "highlightlang",
    "audit-event-table", "sectionauthor", "moduleauthor", "codeauthor", "default-role",
    "currentmodule", "program", "rst-class", "cssclass", "role",
}
# Directives shown by Sphinx as a label before their argument.
_LABELS = {"versionadded": "New in version", "versionchanged": "Changed in version",
           "deprecated": "Deprecated since version",
           "deprecated-removed": "Deprecated since version", "availability": "Availability:"}
# Directives whose argument is layout (the block itself is kept).
_DROP_ARGS = {"only", "ifconfig", "impl-detail", "code-block", "sourcecode", "code",
              "doctest", "testcode", "testoutput", "productionlist", "audit-event"}


@dataclass(frozen=True)
class Section:
    """One reST section: its heading path (document title first) and body lines."""

    path: tuple[str, ...]
    level: int
    body: tuple[str, ...]

    @property
    def heading(self) -> str:
        return self.path[-1]


def _heading_at(lines: list[str], i: int) -> tuple[str, str, bool] | None:
    """Return (title, style, overlined) if lines[i] is the underline of a section title."""
    rule = lines[i]
    if i == 0 or not _ADORNMENT.fullmatch(rule):
        return None
    title = lines[i - 1]
    if not title.strip() or _ADORNMENT.fullmatch(title.strip()):
        return None
    overlined = i >= 2 and lines[i - 2] == rule
    if not overlined and (title[0].isspace() or (i >= 2 and lines[i - 2].strip())):
        return None
    if len(rule) < len(title.rstrip()):
        return None
    return title.strip(), rule[0], overlined


def split_sections(text: str) -> list[Section]:
    """Split one reST document at its section titles.

    Levels follow reST: each adornment style (character, with or without overline)
    gets the next level the first time it appears in the document.

    Returns:
        Sections in document order; text before the first title is dropped.
    """
    lines = text.splitlines()
    styles: list[tuple[str, bool]] = []
    heads: list[tuple[int, int, int, str]] = []  # (first line, body start, level, title)
    for i in range(len(lines)):
        found = _heading_at(lines, i)
        if found is None:
            continue
        title, char, overlined = found
        if (char, overlined) not in styles:
            styles.append((char, overlined))
        first = i - 2 if overlined else i - 1
        heads.append((first, i + 1, styles.index((char, overlined)), title))
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for n, (_, body_start, level, title) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        path = tuple(plain_inline(t) for _, t in stack)
        sections.append(Section(path, level, tuple(lines[body_start:end])))
    return sections


def _role_text(match: re.Match[str]) -> str:
    role, text = match.groups()
    if text.endswith(">") and "<" in text:
        text = text[: text.rindex("<")].strip()
    text = text.lstrip("!")
    if text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    if role in ("pep", "rfc") and text.isdigit():
        text = f"{role.upper()} {text}"  # as Sphinx renders :pep:`8`
    return text


def plain_inline(text: str) -> str:
    """Reduce reST inline markup (roles, literals, links, strong) to its visible text."""
    text = _ROLE.sub(_role_text, text)
    text = _LITERAL.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REFERENCE.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    return _STRONG.sub(r"\1", text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_to_text(lines: list[str] | tuple[str, ...]) -> str:
    """Turn a section body of reST into plain text (see module docstring).

    Returns:
        The text with blank-line-separated paragraphs, stripped; "" if nothing is left.
    """
    out: list[str] = []
    skip_deeper: int | None = None  # drop lines indented deeper than this
    options_of: int | None = None  # directive indent whose :option: lines follow
    for line in lines:
        if skip_deeper is not None:
            if not line.strip() or _indent(line) > skip_deeper:
                continue
            skip_deeper = None
        if options_of is not None:
            if _OPTION.match(line) and _indent(line) > options_of:
                continue
            options_of = None
        directive = _DIRECTIVE.match(line)
        if directive:
            indent, name, args = directive.groups()
            name = name.split(":")[-1]
            if name in _DROP_BLOCK:
                skip_deeper = len(indent)
                continue
            options_of = len(indent)
            if name in _LABELS:
                out.append(f"{indent}{_LABELS[name]} {plain_inline(args)}".rstrip())
            elif args and name not in _DROP_ARGS:
                out.append(indent + plain_inline(args))
            continue
        footnote = _FOOTNOTE.match(line)
        if footnote:
            out.append(footnote.group(1) + plain_inline(footnote.group(2)))
            continue
        if _TARGET.match(line) or line.strip().startswith(".."):
            skip_deeper = _indent(line)  # a target or a comment, with its continuation
            continue
        if _META_FIELD.match(line) or _TABLE_RULE.fullmatch(line) or line.strip() == "::":
            continue
        line = plain_inline(line.rstrip())
        if line.endswith("::"):
            line = line[:-3] if line.endswith(" ::") else line[:-1]
        out.append(line)
    text = plain_inline("\n".join(out))  # markup that spans lines
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def _doc_stem(src: Path, path: Path) -> str:
    return path.relative_to(src).as_posix()[: -len(SUFFIX)].replace("/", ".")


def faq_pairs(src: Path, min_words: int) -> tuple[list[dict], list[dict]]:
    """Questions and answers from src/faq: (corpus entries, queries), in file order.

    An answer shorter than min_words words is dropped with its question: those are
    pure cross-references ("See the next question.") that no retriever can match.
    """
    corpus: list[dict] = []
    queries: list[dict] = []
    for path in sorted((src / "faq").glob("*" + SUFFIX)):
        sections = split_sections(path.read_text(encoding="utf-8"))
        deepest = max((s.level for s in sections), default=0)
        for n, section in enumerate(sections):
            if section.level == 0 or section.level != deepest:
                continue
            answer = rst_to_text(section.body)
            if len(answer.split()) < min_words:
                continue
            doc_id = f"{_doc_stem(src, path)}.{n:03d}"
            corpus.append({"_id": doc_id, "title": " > ".join(section.path[:-1]),
                           "text": answer})
            queries.append({"_id": "q." + doc_id, "text": section.heading})
    return corpus, queries


def distractors(src: Path, min_words: int) -> list[dict]:
    """Every section of every non-FAQ source with at least min_words words, in path order."""
    docs: list[dict] = []
    for path in sorted(src.rglob("*" + SUFFIX)):
        if path.relative_to(src).parts[0] == "faq":
            continue
        for n, section in enumerate(split_sections(path.read_text(encoding="utf-8"))):
            text = rst_to_text(section.body)
            if len(text.split()) < min_words:
                continue
            docs.append({"_id": f"{_doc_stem(src, path)}.{n:03d}",
                         "title": " > ".join(section.path), "text": text})
    return docs


def build(src: Path, out: Path, max_distractors: int = 0, min_words: int = 20,
          min_answer_words: int = 5) -> dict[str, int]:
    """Write the BEIR folder and return its counts.

    Raises:
        FileNotFoundError: src/faq holds no *.rst.txt file.
    """
    if not sorted((src / "faq").glob("*" + SUFFIX)):
        raise FileNotFoundError(f"no faq/*{SUFFIX} under {src} (apt-get install python3.11-doc)")
    answers, queries = faq_pairs(src, min_answer_words)
    return write_faq_beir(out, answers, queries, distractors(src, min_words),
                          max_distractors)


def main(argv: list[str] | None = None) -> int:
    return builder_main(argv, description=__doc__.split("\n\n")[0], default_src=DEFAULT_SRC,
                        src_help="Sphinx _sources folder", build=build)


if __name__ == "__main__":
    sys.exit(main())
