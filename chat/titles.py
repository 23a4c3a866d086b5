"""A short title for each new thread, saved as the thread's name.

The router's ``title`` task writes it (a small model when one is configured; the
extractive provider returns the question's first words). Any failure falls back to the
question's first words, so a thread always gets a name.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

MAX_CHARS = 80
TIMEOUT_S = 20.0
INSTRUCTION = ("Write a title of at most six words for a conversation that starts with "
               "the user's message below. Reply with the title only, no quotes.")


def first_words(text: str, words: int = 6) -> str:
    """The first ``words`` words of ``text`` (``…`` when cut), or "" for blank text."""
    tokens = text.split()
    return " ".join(tokens[:words]) + ("…" if len(tokens) > words else "")


def clean_title(text: str) -> str:
    """One line, no surrounding quotes or markdown, at most ``MAX_CHARS`` characters."""
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^[#>*\-\s]+", "", line).strip().strip("\"'“”‘’`*").strip()
    line = re.sub(r"^title:\s*", "", line, flags=re.IGNORECASE)
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1].rstrip() + "…"


def files_title(filenames: Sequence[str]) -> str:
    """The title of a thread that starts with uploads only: ``"Documents: a.pdf, b.md"``."""
    return clean_title("Documents: " + ", ".join(filenames)) if filenames else "New chat"


async def make_title(question: str, router: Any) -> str:
    """Ask the router's ``title`` task for a title; the first words on any failure.

    Args:
        question: the thread's first question.
        router: an ``LLMRouter``.
    Returns:
        A non-empty title of at most ``MAX_CHARS`` characters.
    """
    from agents.llm.types import Message

    fallback = clean_title(first_words(question)) or "New chat"
    try:
        completion = await asyncio.wait_for(
            router.complete("title", [Message(role="system", content=INSTRUCTION),
                                      Message(role="user", content=question)]),
            TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a title is a nicety: never fail the turn for it
        log.warning("title generation failed: %s", exc)
        return fallback
    return clean_title(completion.text) or fallback
