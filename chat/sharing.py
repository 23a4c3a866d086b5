"""Who may open a shared thread's link.

Chainlit calls ``on_shared_thread_view(thread, viewer)`` for ``/share/<id>``; a True
result lets a viewer who is not the author read the thread. The answer here is True
only when the thread's author has shared it (metadata ``is_shared`` is true) or the
viewer is the author: never unconditionally. Unsharing sets ``is_shared`` to false, so
the link stops working at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chat.session_state import thread_metadata


def is_shared(thread: Mapping[str, Any] | None) -> bool:
    """True when the thread's metadata says its author shared it."""
    return thread_metadata(thread).get("is_shared") is True


def is_author(thread: Mapping[str, Any] | None, viewer: Any) -> bool:
    """True when ``viewer`` (a Chainlit user or None) wrote the thread."""
    author = (thread or {}).get("userIdentifier")
    return bool(viewer is not None and author and getattr(viewer, "identifier", None) == author)


def may_view_shared(thread: Mapping[str, Any] | None, viewer: Any) -> bool:
    """The ``on_shared_thread_view`` decision: shared by its author, or the author."""
    if not thread:
        return False
    return is_shared(thread) or is_author(thread, viewer)
