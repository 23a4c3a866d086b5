"""Questions about the app and about the conversation, answered without the documents.

- A *meta* question ("what can you do?", "help", "which documents do you have?") gets
  :func:`meta_answer`: what the app does and which documents are in the current scope.
- A question about the conversation ("what was the last question I asked?") gets
  :func:`conversation_answer`, read from the thread's :class:`agents.memory.Memory`.
- Small talk ("hello", "thanks") gets :func:`small_talk_answer`.

These are heuristics on purpose: they run with or without a language model, and the
answer (a document list, a question from memory) is a fact of the app, not a generation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agents.memory import Memory

_META = re.compile(
    r"^\s*help( me)?\s*[!?.]*\s*$|"
    r"\b(what can you do|what do you do|what are you( for)?\b|how (do|can) i use (you|this)|"
    r"how does this (app|chat|work)|what is this (app|chat|tool)|"
    r"(which|what) (documents|docs|files)( do you have| are (there|indexed|loaded|available)"
    r"| have i (uploaded|added)| can you see)|"
    r"list (my |the |all )?(documents|docs|files)|"
    r"how (do|can) i (add|upload|index) (a |my |more )?(documents?|docs|files?))", re.IGNORECASE)
_CONVERSATION = re.compile(
    r"\b(what (was|were) (the |my )?(last|previous|first|earlier) (question|thing)s?( i asked)?|"
    r"what did (i|you) (just |last |first )?(ask|say|answer)|"
    r"(my|the) (last|previous|first) question|"
    r"(summari[sz]e|recap) (our|this|the) (conversation|chat|discussion)|"
    r"your (last|previous) (answer|reply)|repeat (that|your (last )?answer))\b", re.IGNORECASE)
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|hallo|good (morning|afternoon|evening)|thanks?( you)?|thank you|"
    r"ok(ay)?|cool|great|bye|goodbye)\b[\s!.?]*$", re.IGNORECASE)

CAPABILITIES = (
    "I answer questions about the documents you upload (PDF, Word, Markdown, HTML or "
    "text): I search them, answer with numbered citations [1], [2] that link to the "
    "passages, check my answer against those passages, and say so plainly when your "
    "documents do not contain the answer. Add documents by dropping files into the chat "
    "or with the attachment button; follow-up questions keep the thread's context.")


def is_meta(question: str) -> bool:
    """True for questions about the app itself (capabilities, help, the document list)."""
    return bool(_META.search(question))


def is_about_conversation(question: str) -> bool:
    """True for questions about this conversation ("what did I just ask?")."""
    return bool(_CONVERSATION.search(question))


def is_small_talk(question: str) -> bool:
    """True for greetings and thanks."""
    return bool(_SMALL_TALK.match(question))


def meta_answer(documents: Sequence[str]) -> str:
    """What the app does and which documents are in scope (``documents``: file names)."""
    if not documents:
        listing = ("No documents are in this conversation's scope yet: upload one to start.")
    else:
        shown = ", ".join(documents[:20]) + (f" and {len(documents) - 20} more"
                                              if len(documents) > 20 else "")
        listing = f"Documents in scope ({len(documents)}): {shown}."
    return f"{CAPABILITIES}\n\n{listing}"


def conversation_answer(question: str, memory: Memory) -> str:
    """Answer a question about the conversation from ``memory``."""
    questions = [m.content for m in memory.turns if m.role == "user"]
    answers = [m.content for m in memory.turns if m.role == "assistant"]
    if not questions and not memory.summary:
        return "We have not talked yet in this conversation: this is your first question."
    text = question.lower()
    if re.search(r"\b(summari[sz]e|recap)\b", text):
        asked = [f"- {q}" for q in questions]
        earlier = [memory.summary] if memory.summary else []
        return "So far you asked:\n" + "\n".join(earlier + asked)
    if re.search(r"\b(you|your)\b", text) and answers:
        return f"My last answer was:\n\n{answers[-1]}"
    if re.search(r"\bfirst\b", text) and questions:
        return f"Your first question (in the turns I remember) was: “{questions[0]}”"
    if questions:
        return f"Your last question was: “{questions[-1]}”"
    return "Earlier in this conversation:\n" + memory.summary


def small_talk_answer(question: str) -> str:
    """A short, friendly reply that points at what the app can do."""
    if re.search(r"\b(thanks?|thank you)\b", question, re.IGNORECASE):
        return "You're welcome. Ask me anything else about your documents."
    if re.search(r"\b(bye|goodbye)\b", question, re.IGNORECASE):
        return "Goodbye!"
    return "Hello! Ask me a question about your documents, or ask \"what can you do?\"."
