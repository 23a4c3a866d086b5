"""Citations as side elements: the ``[n]`` markers of an answer open the cited chunk.

Chainlit links every occurrence of an element's *name* in a message's text to that
element, so each citation becomes a ``cl.Text`` named exactly ``"[n]"`` with
``display="side"``: a click on ``[2]`` in the answer opens the second source, with its
file, page and heading above the chunk text.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import chainlit as cl

_MARKER = re.compile(r"\[(\d{1,3})\]")


def marker(n: int) -> str:
    """The marker text the answer uses and the element is named after: ``"[n]"``."""
    return f"[{n}]"


def cited_numbers(answer: str) -> set[int]:
    """The citation numbers that appear as ``[n]`` markers in ``answer``."""
    return {int(m) for m in _MARKER.findall(answer or "")}


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
    """The side panel's markdown: the source line, then the chunk quoted as is."""
    body = str(getattr(citation, "text", "") or "").strip()
    quoted = "\n".join("> " + line if line else ">" for line in body.splitlines())
    return f"**{marker(citation.n)} {source_label(citation)}**\n\n{quoted}\n"


def citation_elements(citations: Iterable[Any], answer: str) -> list[cl.Text]:
    """One side ``cl.Text`` per citation the answer refers to (all if none is marked).

    Args:
        citations: ``agents.memory.Citation`` objects (n, source, page, heading, text).
        answer: the final answer text with ``[n]`` markers.
    Returns:
        Elements in citation order, each named ``"[n]"``.
    """
    citations = list(citations)
    used = cited_numbers(answer)
    if used:
        citations = [c for c in citations if c.n in used]
    return [cl.Text(name=marker(c.n), content=citation_text(c), display="side")
            for c in sorted(citations, key=lambda c: c.n)]


def sources_footer(citations: Iterable[Any], answer: str) -> str:
    """A ``Sources:`` line naming each cited marker (so every marker is clickable)."""
    used = cited_numbers(answer)
    items = [c for c in citations if not used or c.n in used]
    if not items:
        return ""
    return "\n\n**Sources:** " + ", ".join(
        f"{marker(c.n)} {source_label(c)}" for c in sorted(items, key=lambda c: c.n))
