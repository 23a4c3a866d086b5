"""Rewrite a follow-up into a standalone search query without a language model.

A follow-up "leans on" the previous question when it points back at it: a pronoun or
demonstrative ("it", "they", "this", "those"), an ordinal reference ("the first", "the
second one"), an ellipsis ("and for lists?", "what about tuples?") or too few content
words to be searched on their own. Then the previous question's subject (its content
words that the follow-up does not already contain) is appended to the follow-up, so the
search sees both. A follow-up that stands alone is returned unchanged: carrying the old
subject into a new topic would only hurt retrieval.

With a language model the Retrieve node asks it to rewrite instead; this is the
structured call's default (what the extractive provider gives).
"""

from __future__ import annotations

import re

from agents.memory import Memory
from agents.sentences import STOPWORDS

_WORD = re.compile(r"[\w.'-]+", re.UNICODE)
_LEANS = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|she|him|her|one|ones|"
    r"former|latter|same|such|there|then|first|second|third|last|other|another|above|"
    r"previous|aforementioned)\b", re.IGNORECASE)
_ELLIPSIS = re.compile(r"^\s*(and|or|but|also|what about|how about|and what about|same for"
                       r"|why|how so|why not|really|example|for example)\b", re.IGNORECASE)
MIN_OWN_TERMS = 3   # a follow-up with fewer content words cannot be searched alone


def content_words(text: str) -> list[str]:
    """The content words of ``text`` in order, without repeats (stopwords dropped)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text):
        word = word.strip(".'-")
        if len(word) > 1 and word.lower() not in STOPWORDS and _LEANS.fullmatch(word) is None:
            seen.setdefault(word, None)
    return list(seen)


def leans_on_context(question: str) -> bool:
    """True when ``question`` points back at the conversation (see the module docstring)."""
    return bool(_LEANS.search(question) or _ELLIPSIS.match(question)
                or len(content_words(question)) < MIN_OWN_TERMS)


def previous_question(memory: Memory) -> str:
    """The last question the user asked in this thread ("" when none)."""
    return next((m.content for m in reversed(memory.turns) if m.role == "user"), "")


def standalone_query(question: str, memory: Memory) -> str:
    """``question`` made searchable on its own (unchanged when it already is).

    >>> m = Memory().with_exchange("What are the two types of Debian packages?", "...")
    >>> standalone_query("What file extension does the first type use?", m)
    'What file extension does the first type use? two Debian packages'
    """
    previous = previous_question(memory)
    if not previous or not leans_on_context(question):
        return question
    own = {w.lower() for w in content_words(question)}
    carried = [w for w in content_words(previous) if w.lower() not in own
               and w.lower().rstrip("s") not in own]
    return f"{question.strip()} {' '.join(carried)}".strip() if carried else question
