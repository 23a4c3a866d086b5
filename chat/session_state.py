"""What a thread remembers: chat settings, scope and conversation memory.

The values live in Chainlit's user session while the thread is open; Chainlit writes
the user session into the thread's metadata when the socket closes, and
:func:`save_thread_state` writes it explicitly after every answer, so
``on_chat_resume`` finds them in ``thread["metadata"]``.

Sharing flags (``is_shared``, ``shared_at``) are never part of what is saved here: the
share route owns them, and the metadata update merges keys, so saving the memory can
never re-share a thread its author unshared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import chainlit as cl
from chainlit.input_widget import Select, Slider

SCOPE_THREAD = "thread"
SCOPE_ALL = "all"
AUTO_MODEL = "auto"
MAX_K = 20
SHARE_KEYS = ("is_shared", "shared_at")


@dataclass
class ChatPrefs:
    """The user's chat settings for one thread.

    Attributes:
        answer_model: ``"provider:model"`` put first for the answer, None = router default.
        k: chunks retrieved per question (1..20).
        scope: ``"all"`` (all of mine, this thread's files first; the default) or
            ``"thread"`` (this thread's documents only).
    """

    answer_model: str | None = None
    k: int = 5
    scope: str = SCOPE_ALL

    @classmethod
    def from_settings(cls, settings: dict | None, available: list[str],
                      default_k: int = 5) -> ChatPrefs:
        """Read Chainlit chat settings, falling back to defaults for unknown values."""
        settings = settings or {}
        model = settings.get("answer_model")
        if model in (None, "", AUTO_MODEL) or model not in available:
            model = None
        try:
            k = int(float(settings.get("k", default_k)))
        except (TypeError, ValueError):
            k = default_k
        scope = settings.get("scope")
        return cls(answer_model=model, k=max(1, min(MAX_K, k)),
                   scope=scope if scope in (SCOPE_THREAD, SCOPE_ALL) else SCOPE_ALL)

    def to_settings(self) -> dict:
        """The Chainlit chat-settings dict these preferences stand for."""
        return {"answer_model": self.answer_model or AUTO_MODEL, "k": self.k,
                "scope": self.scope}


def settings_widgets(available: list[str], prefs: ChatPrefs) -> cl.ChatSettings:
    """The settings panel: answer model, number of chunks, scope.

    Args:
        available: ``router.available_models()`` (``"provider:model"``).
        prefs: current values.
    """
    answering = prefs.answer_model or (available[0] if available else "extractive")
    auto = f"Automatic (now: {available[0]})" if available else "Automatic (best available)"
    models = {auto: AUTO_MODEL}
    models.update({m: m for m in available if m != AUTO_MODEL})
    return cl.ChatSettings([
        Select(id="answer_model", label=f"Answer model: {answering}", items=models,
               initial_value=prefs.answer_model or AUTO_MODEL,
               description="Which model writes the answer (Automatic: the first available "
                           "of the configured chain). 'extractive' means no language model: "
                           "answers are quotes from your documents."),
        Slider(id="k", label="Number of chunks", initial=prefs.k, min=1, max=MAX_K, step=1,
               description="How many passages are retrieved for each question."),
        Select(id="scope", label="Search in",
               items={"All my documents (this chat's files first)": SCOPE_ALL,
                      "Only this chat's documents": SCOPE_THREAD},
               initial_value=prefs.scope,
               description="A new chat searches all your documents; files attached in "
                           "this chat are preferred."),
    ])


def thread_metadata(thread: Mapping[str, Any] | None) -> dict[str, Any]:
    """A thread's metadata as a dict (Chainlit may hand it over as a JSON string)."""
    metadata = (thread or {}).get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = {}
    return metadata if isinstance(metadata, dict) else {}


def forget_share_flags() -> None:
    """Drop the sharing flags Chainlit copied from the metadata into the user session.

    On resume Chainlit copies the whole metadata into the user session and writes the
    session back when the socket closes: a flag kept there would undo an unshare.
    """
    from chainlit.user_session import user_sessions

    session = user_sessions.get(cl.context.session.id)
    if session is not None:
        for key in SHARE_KEYS:
            session.pop(key, None)


async def save_thread_state(thread_id: str | None, *, memory: dict | None,
                            prefs: ChatPrefs, extra: dict | None = None) -> bool:
    """Write memory and settings into the thread's metadata (merged, not replaced).

    Returns:
        False when there is no data layer or thread to write to.
    """
    from chainlit.data import get_data_layer

    data_layer = get_data_layer()
    if data_layer is None or not thread_id:
        return False
    metadata = {"memory": memory or {}, "chat_settings": prefs.to_settings(),
                "docchat": {"scope": prefs.scope, "k": prefs.k,
                            "answer_model": prefs.answer_model}}
    metadata.update(extra or {})
    await data_layer.update_thread(thread_id=thread_id, metadata=metadata)
    return True
