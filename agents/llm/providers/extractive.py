"""The extractive provider: no language model, the last link of every chain.

It answers by quoting the sentences of the retrieved passages that share the most words
with the question, each followed by its ``[n]`` citation, and says plainly that no
language model is configured. For a ``title`` call it returns the question's first
words. It cannot produce structured output: the router returns the caller's
``default`` instead (see ``LLMRouter.structured``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

from agents.llm.errors import LLMError
from agents.llm.providers.base import (
    CallOptions,
    Provider,
    StreamItem,
    TokenCount,
    estimate_tokens,
)
from agents.llm.types import Message, Passage
from agents.sentences import near_duplicate, split_sentences

NOTICE = "No language model is configured, so this answer quotes your documents directly."
NO_CONTEXT = (
    "No language model is configured and no passage of your documents matches this "
    "question, so I cannot answer it. Upload documents, or configure a provider "
    "(OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or the local model)."
)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    ["the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "is", "are", "was", "were", "be", "been", "by", "at", "as", "it", "its", "this", "that", "these", "those", "what", "which", "who", "whom", "how", "why", "when", "where", "do", "does", "did", "can", "could", "should", "would", "from", "about", "into", "than", "then", "there", "their", "they", "them", "you", "your", "our", "we", "i", "me", "my", "not", "no", "yes", "please", "tell", "explain"]
)
MAX_QUOTED = 3   # sentences quoted in all (about 3 sentences before the sources)
MAX_SENTENCES = 2


def _terms(text: str) -> set[str]:
    """Content words, lower-cased, with a plural "s" dropped ("cats" matches "cat")."""
    words = (w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP)
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words}


def _best_sentences(passage: Passage, terms: set[str]) -> tuple[int, list[str]]:
    """Score a passage and keep its best whole sentences, in their original order
    (agents.sentences: no heading, no fragment, a list kept with its lead-in)."""
    sentences = split_sentences(passage.text)
    scored = [(len(terms & _terms(s)), i) for i, s in enumerate(sentences)]
    best = sorted(scored, key=lambda x: (-x[0], x[1]))[:MAX_SENTENCES]
    keep = sorted(i for score, i in best if score > 0) or [0]
    return sum(score for score, _ in best), [sentences[i] for i in keep if sentences]


def extractive_answer(question: str, context: list[Passage] | None) -> str:
    """Build the quoted answer.

    Args:
        question: the last user message.
        context: the retrieved passages, best first.

    Returns:
        Markdown: the notice, then quotes of whole sentences (about 3 in all, no
        near-duplicate twice), each ending with ``[n]`` and its source.
    """
    if not context:
        return NO_CONTEXT
    terms = _terms(question)
    ranked = []
    for rank, passage in enumerate(context):
        score, sentences = _best_sentences(passage, terms)
        if sentences:
            ranked.append((-score, rank, passage, sentences))
    ranked.sort(key=lambda x: (x[0], x[1]))
    if ranked and ranked[0][0] < 0:  # some passage shares words: drop those that share none
        ranked = [r for r in ranked if r[0] < 0]
    parts, quoted = [NOTICE, ""], list[str]()
    for _, _, passage, sentences in ranked:
        if len(quoted) >= MAX_QUOTED:
            break
        sentences = [s for s in sentences if not any(near_duplicate(s, q) for q in quoted)]
        if not sentences:
            continue  # the same text from a near-identical file: cite the first only
        quoted.extend(sentences)
        where = passage.source + (f", page {passage.page}" if passage.page else "")
        body = " ".join(sentences).replace("\n", "\n> ")
        parts.append(f"> {body} [{passage.n}]\n>\n> — {where}\n")
    return "\n".join(parts).rstrip() + "\n"


def title_from(question: str, words: int = 6) -> str:
    """A thread title: the question's first ``words`` words."""
    tokens = question.split()
    return " ".join(tokens[:words]) + ("…" if len(tokens) > words else "")


def _last_user(messages: list[Message]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


class ExtractiveProvider(Provider):
    """Answers from the passages alone; always available, never fails."""

    name = "extractive"

    def models(self) -> list[str]:
        return [""]

    async def stream(
        self, model: str, messages: list[Message], opts: CallOptions
    ) -> AsyncGenerator[StreamItem, None]:
        question = _last_user(messages)
        if opts.task == "title":
            text = title_from(question)
        else:
            text = extractive_answer(question, opts.context)
        # The answer is known in full: send it whole (typing quotes out word by word
        # only made the reader wait); the token count still counts words.
        pieces = re.findall(r"\S+\s*|\s+", text)
        if text:
            yield text
        prompt = "".join(m.content for m in messages)
        yield TokenCount(input_tokens=estimate_tokens(prompt), output_tokens=len(pieces))

    async def structured(
        self,
        model: str,
        messages: list[Message],
        schema: dict[str, Any],
        schema_name: str,
        opts: CallOptions,
    ) -> tuple[str, TokenCount]:
        raise LLMError("the extractive provider cannot produce structured output",
                       provider=self.name)
