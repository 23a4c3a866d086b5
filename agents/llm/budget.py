"""Fit a prompt into a token budget by trimming passages, never the question.

A small local model on 2 cores processes about a few hundred prompt tokens per second, so
every passage costs time to first token. ``fit_messages`` cuts, in order, until the prompt
fits: (1) the oldest remembered turns (the last user message always stays); (2) the
numbered passages of the first system message, each to an equal share of what is left,
at a word boundary, marked with "…". The passages are the blocks after a line ending in
"Sources:" that start with "[n] " (the format ``agents.prompts.sources_text`` writes).
Everything before "Sources:" (the fixed instruction, which the model server keeps in its
prompt cache) is never touched.

Token counts are estimates (``chars_per_token`` characters per token; 3.5 is on the safe
side of Qwen2.5's 4+ on English prose), the server reports the real count.
"""

from __future__ import annotations

import re

from agents.llm.types import Message

_SOURCES = re.compile(r"(?:^|\n)[^\n]*Sources:\n")
_BLOCK = re.compile(r"\n\n(?=\[\d+\] )")
MIN_PASSAGE_CHARS = 160


def estimate(messages: list[Message], chars_per_token: float = 3.5) -> int:
    """Estimated prompt tokens of ``messages`` (4 per message for the chat template)."""
    return int(sum(len(m.content) for m in messages) / chars_per_token) + 4 * len(messages)


def _clip_words(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def _trim_sources(content: str, excess_chars: int) -> str:
    """``content`` with its passages shortened by about ``excess_chars`` in total."""
    match = _SOURCES.search(content)
    if match is None:
        return content
    head, body = content[: match.end()], content[match.end():]
    blocks = _BLOCK.split(body)
    sizes = [len(b) for b in blocks]
    target = max(MIN_PASSAGE_CHARS * len(blocks), sum(sizes) - excess_chars)
    # water-filling: the largest passages give up text first, short ones stay whole
    share = target // len(blocks)
    for _ in range(len(blocks)):
        small = [s for s in sizes if s <= share]
        big = len(sizes) - len(small)
        if big == 0:
            break
        new_share = (target - sum(small)) // big
        if new_share == share:
            break
        share = new_share
    out = []
    for block in blocks:
        first, _, rest = block.partition("\n")  # "[n] (source, page)" header stays whole
        keep = max(MIN_PASSAGE_CHARS, share) - len(first) - 1
        out.append(first + ("\n" + _clip_words(rest, max(40, keep)) if rest else ""))
    return head + "\n\n".join(out)


def fit_messages(messages: list[Message], budget_tokens: int,
                 chars_per_token: float = 3.5) -> list[Message]:
    """``messages`` cut to about ``budget_tokens`` prompt tokens (a new list; may stay over
    when only the instruction and question remain)."""
    if estimate(messages, chars_per_token) <= budget_tokens:
        return messages
    out = list(messages)
    last_user = max((i for i, m in enumerate(out) if m.role == "user"), default=len(out) - 1)
    droppable = [i for i, m in enumerate(out) if i not in (0, last_user)
                 and not (m.role == "system" and i == 0)]
    for i in droppable:  # oldest first
        out[i] = None  # type: ignore[call-overload]
        kept = [m for m in out if m is not None]
        if estimate(kept, chars_per_token) <= budget_tokens:
            return kept
    out = [m for m in out if m is not None]
    excess = int((estimate(out, chars_per_token) - budget_tokens) * chars_per_token)
    first_system = next((i for i, m in enumerate(out) if m.role == "system"), None)
    if first_system is not None and excess > 0:
        m = out[first_system]
        out[first_system] = Message(m.role, _trim_sources(m.content, excess))
    return out
