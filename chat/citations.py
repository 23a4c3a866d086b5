"""Citations of an answer: ``[n]`` chips that open exactly the passage that answer cited.

How a chip works in Chainlit 2.12 (read in its frontend source, ``lib/message.ts`` and
``MessagesContainer``):

- Chainlit links an occurrence of an element's *name* in a message's text only to the
  element whose ``forId`` is that message, so ``"[1]"`` of answer 1 and ``"[1]"`` of
  answer 5 are two chips opening two different elements.
- An element with ``display="side"`` opens the side panel *by itself* whenever a new one
  arrives, stacking every side element of the thread under the last one's name (the
  2.11 regression, Chainlit issue 2911). So citations use ``display="page"``: the chip
  is drawn the same way and nothing opens until it is clicked.
- ``public/docchat.js`` catches the click and opens a passage panel fed by
  ``GET /docchat/passages/<message id>`` (:mod:`chat.ui_routes`), which reads the
  answer's ``docchat_citations`` metadata written here: the panel is titled
  ``"[n] file, page p"``, highlights the sentence that supports the claim and says when
  the document was deleted since. Without the script, the chip opens Chainlit's element
  page with the same passage.

The markers are parsed by :func:`agents.citations.cited_numbers` ("[1]", "[1, 2]",
"[1,2]" and "[1][2]" all count).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import chainlit as cl

from agents.citations import cited_claims, cited_numbers

METADATA_KEY = "docchat_citations"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PASSAGE_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
# Words too common to say which sentence supports a claim.
_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with", "which", "who", "what", "when", "where", "how", "must", "should", "can", "may", "not", "no", "do", "does", "every", "each", "all", "any"])

# ![alt](url "title") and <img ... src=...>: an image the viewer's browser would fetch.
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def without_remote_images(markdown: str) -> str:
    """Markdown with every image that is not ``data:`` or a relative path turned into
    plain text (``[image: alt]``), so showing a passage or an answer never makes the
    viewer's browser fetch a URL a document's author chose (a tracking beacon). The
    app's CSP (``img-src 'self' data:``) blocks them as well."""
    def text_for(match: re.Match) -> str:
        alt, url = match.group(1), match.group(2)
        if url.startswith("data:") or not re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.IGNORECASE):
            return match.group(0)
        return f"[image: {alt}]" if alt else "[image]"

    return _HTML_IMAGE.sub("[image]", _MD_IMAGE.sub(text_for, markdown or ""))


def marker(n: int) -> str:
    """The marker text the answer uses and the element is named after: ``"[n]"``."""
    return f"[{n}]"


def source_label(citation: Any) -> str:
    """``"report.pdf, page 3 — Intro > Scope"``: where a cited chunk comes from."""
    label = str(getattr(citation, "source", "") or "unknown source")
    page = getattr(citation, "page", None)
    if page:
        label += f", page {page}"
    heading = getattr(citation, "heading", None)
    if heading:
        label += f" — {heading}"
    return label


def citation_text(citation: Any) -> str:
    """The element's markdown (Chainlit's element page): source line, then the chunk."""
    body = without_remote_images(str(getattr(citation, "text", "") or "")).strip()
    quoted = "\n".join("> " + line if line else ">" for line in body.splitlines())
    return f"**{marker(citation.n)} {source_label(citation)}**\n\n{quoted}\n"


def _words(text: str) -> set[str]:
    return {w for w in (m.group(0).lower() for m in _WORD.finditer(text))
            if len(w) > 1 and w not in _STOPWORDS}


def supporting_span(passage: str, claims: Iterable[str]) -> tuple[int, int] | None:
    """Character span ``(start, end)`` of the passage sentence that best supports a claim.

    The score is the number of content words (not in a small stop list) a passage
    sentence shares with one of the claims, ties going to the earlier sentence; at least
    two shared words (one when the claim has fewer than three) are needed, else None.

    Args:
        passage: the cited chunk text.
        claims: the answer sentences carrying this citation's marker.
    """
    claim_words = [_words(re.sub(r"\[[\d,;\s]+\]", " ", c)) for c in claims]
    claim_words = [w for w in claim_words if w]
    if not claim_words:
        return None
    best: tuple[int, int, int] | None = None
    for match in _PASSAGE_SENTENCE.finditer(passage):
        sentence = match.group(0)
        words = _words(sentence)
        for claim in claim_words:
            shared = len(words & claim)
            need = 1 if len(claim) < 3 else 2
            if shared >= need and (best is None or shared > best[0]):
                start = match.start() + len(sentence) - len(sentence.lstrip())
                best = (shared, start, match.start() + len(sentence.rstrip()))
    return (best[1], best[2]) if best else None


def _cited(citations: Iterable[Any], answer: str) -> list[Any]:
    citations = list(citations)
    used = set(cited_numbers(answer or ""))
    if used:
        citations = [c for c in citations if c.n in used]
    return sorted(citations, key=lambda c: c.n)


def citation_elements(citations: Iterable[Any], answer: str) -> list[cl.Text]:
    """One ``cl.Text`` per citation the answer refers to (all if none is marked).

    Args:
        citations: ``agents.memory.Citation`` objects (n, source, page, heading, text).
        answer: the final answer text with ``[n]`` markers.
    Returns:
        Elements in citation order, each named ``"[n]"`` with ``display="page"`` (never
        opens by itself; see the module docstring).
    """
    return [cl.Text(name=marker(c.n), content=citation_text(c), display="page")
            for c in _cited(citations, answer)]


def citation_records(citations: Iterable[Any], answer: str) -> list[dict[str, Any]]:
    """What the passage panel shows for each cited number, kept in the answer's metadata.

    Returns:
        ``[{"n", "label", "source", "page", "heading", "text", "doc_id", "highlight"}]``
        where ``label`` is ``"[n] file, page p"`` and ``highlight`` is the
        ``[start, end]`` span of :func:`supporting_span` in ``text`` (or None).
    """
    claims = cited_claims(answer or "")
    records = []
    for c in _cited(citations, answer):
        text = str(getattr(c, "text", "") or "")
        span = supporting_span(text, [s for s, numbers in claims if c.n in numbers])
        records.append({"n": c.n, "label": f"{marker(c.n)} {source_label(c)}",
                        "source": c.source, "page": c.page, "heading": c.heading,
                        "text": text, "doc_id": getattr(c, "doc_id", None),
                        "highlight": list(span) if span else None})
    return records


def sources_footer(citations: Iterable[Any], answer: str) -> str:
    """A ``Sources:`` line naming each cited marker (so every marker is clickable)."""
    items = _cited(citations, answer)
    if not items:
        return ""
    return "\n\n**Sources:** " + ", ".join(
        f"{marker(c.n)} {source_label(c)}" for c in items)
