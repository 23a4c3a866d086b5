"""Whole sentences of a chunk, for extractive answers and the support decision.

A chunk's text is wrapped prose (reST, Markdown, PDF lines), lists, code and headings.
:func:`split_sentences` turns it into the units an extractive answer may quote:

- paragraphs are re-joined across line wraps and split at sentence ends (``.!?``
  followed by a capital, a digit or a quote), not after common abbreviations;
- a sentence ending in ``:`` keeps the list or code block that follows it (a lead-in
  without its items is not an answer); a lead-in whose block is cut off by the chunk's
  end is dropped;
- headings (Markdown ``#``, reST over/underlines, a short line without end punctuation
  standing alone) are never units;
- the chunk's first paragraph is dropped when it starts mid-sentence (chunk overlap), and
  a last sentence without end punctuation is dropped (cut off by the chunk's end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-z][.)])\s+\S")
_UNDERLINE = re.compile(r"""^\s*([=\-~^"'`#*+.:_<>])\1{2,}\s*$""")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(`])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf|Mr|Mrs|Dr|No|Fig|approx|resp)\.$",
                           re.IGNORECASE)
_ENDS = (".", "!", "?", ".)", '."', ".'", ":")
MAX_BLOCK_LINES = 8   # lines of a list or code block kept with its lead-in
STOPWORDS = frozenset(
    ["the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "is", "are", "was", "were", "be", "been", "by", "at", "as", "it", "its", "this", "that", "these", "those", "what", "which", "who", "whom", "how", "why", "when", "where", "do", "does", "did", "can", "could", "should", "would", "from", "about", "into", "than", "then", "there", "their", "they", "them", "you", "your", "our", "we", "i", "me", "my", "not", "no", "yes", "please", "tell", "explain", "will", "shall", "may", "might", "must", "have", "has", "had", "if", "so", "any", "some", "all", "one", "get", "use", "used", "using"])


@dataclass(frozen=True)
class Block:
    """A paragraph, list or code block of a chunk, in reading order."""

    kind: str          # "prose" | "list" | "code" | "heading"
    lines: tuple[str, ...]


def terms(text: str) -> set[str]:
    """Content words, lower-cased, a plural "s" dropped ("files" matches "file")."""
    words = (w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS)
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words}


def blocks(text: str) -> list[Block]:
    """Split ``text`` at blank lines (and Markdown heading lines) into typed blocks."""
    out: list[Block] = []
    for raw in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        segment: list[str] = []
        for line in raw.split("\n"):
            if _MD_HEADING.match(line):
                out.extend(_classify("\n".join(segment)))
                out.append(Block("heading", (line.strip(),)))
                segment = []
            else:
                segment.append(line)
        out.extend(_classify("\n".join(segment)))
    return out


def _classify(raw: str) -> list[Block]:
    lines = [line.rstrip() for line in raw.split("\n") if line.strip()]
    lines = [line for line in lines if not _UNDERLINE.match(line)]
    if not lines:
        return []
    if _is_heading(raw, lines):
        return [Block("heading", tuple(lines))]
    if all(line.startswith(("   ", "\t", ">>>", "...")) for line in lines):
        return [Block("code", tuple(lines))]
    if _LIST_ITEM.match(lines[0]):
        return [Block("list", tuple(lines))]
    # prose, possibly followed by a list without a blank line between
    first = next((n for n, line in enumerate(lines) if _LIST_ITEM.match(line)), len(lines))
    prose = [Block("prose", tuple(lines[:first]))]
    return prose + ([Block("list", tuple(lines[first:]))] if first < len(lines) else [])


def _is_heading(raw: str, lines: list[str]) -> bool:
    underlined = any(_UNDERLINE.match(line) for line in raw.split("\n") if line.strip())
    single = len(lines) == 1 and len(lines[0].split()) <= 10 and \
        not lines[0].rstrip().endswith(_ENDS)
    return (underlined and len(lines) == 1) or single


def split_sentences(text: str) -> list[str]:
    """The quotable units of a chunk, in reading order (see the module docstring)."""
    units: list[str] = []
    parts = blocks(text)
    for i, block in enumerate(parts):
        if block.kind in ("heading", "code", "list"):
            continue  # a block counts only as the items of the lead-in before it
        sentences = _prose_sentences(" ".join(line.strip() for line in block.lines))
        if i == 0 and sentences and sentences[0][:1].islower():
            sentences = sentences[1:]  # the chunk starts mid-sentence
        for j, sentence in enumerate(sentences):
            last = j == len(sentences) - 1
            if sentence.endswith(":"):
                follow = parts[i + 1] if last and i + 1 < len(parts) else None
                if follow is not None and follow.kind in ("list", "code"):
                    units.append(sentence + "\n" + _block_text(follow))
                continue  # a lead-in without its items is not an answer
            if last and not sentence.endswith(_ENDS) and i == len(parts) - 1:
                continue  # cut off by the chunk's end
            if len(_WORD.findall(sentence)) >= 4:
                units.append(sentence)
    return units


def _prose_sentences(paragraph: str) -> list[str]:
    pieces = _SENTENCE_END.split(" ".join(paragraph.split()))
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATION.search(merged[-1]):
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    return [p.strip() for p in merged if p.strip()]


def _block_text(block: Block) -> str:
    lines = list(block.lines[:MAX_BLOCK_LINES])
    if len(block.lines) > MAX_BLOCK_LINES:
        lines.append("…")
    if block.kind == "code":
        return "\n".join(lines)
    return "\n".join(line.strip() for line in lines)


def near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """True when the word sets of ``a`` and ``b`` overlap by Jaccard >= ``threshold``.

    0.8 collapses the same sentence from near-identical files (a version number or a
    word changed) while keeping two different sentences on one topic apart.
    """
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not wa or not wb:
        return a.strip() == b.strip()
    return len(wa & wb) / len(wa | wb) >= threshold
