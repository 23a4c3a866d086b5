"""Who owns a thread, step or feedback: the checks every write of the data layer makes.

Step, element and feedback ids come from the browser, so they are never trusted to choose
a thread: a write goes only to a thread the writer authored (or a new one), and an
existing row is never moved to another thread (see data_rows.upsert_sql ``same_thread``).
The writer is the user of the current Chainlit session (socket handlers and the REST
routes that open a session context); without a session (CLI, tests) only the
no-move rule applies.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class NotOwnerError(PermissionError):
    """The caller does not own the thread a write or read would touch."""


def writer_identifier() -> str | None:
    """The identifier of the current Chainlit session's user, or None outside a session."""
    try:
        from chainlit.context import context

        user = context.session.user
    except Exception:  # noqa: BLE001 - no Chainlit context: not a user's write
        return None
    return getattr(user, "identifier", None)


async def thread_author(data_layer: Any, thread_id: str) -> str | None:
    """The author identifier of a thread; "" for a thread without author yet; None when
    the thread does not exist."""
    rows = await data_layer.execute_sql(
        'SELECT "userIdentifier" FROM threads WHERE "id" = :id', {"id": thread_id})
    return (rows[0].get("userIdentifier") or "") if rows else None


def may_write(author: str | None, writer: str | None) -> bool:
    """The write rule for a thread whose author is ``author`` ("" or None: no author
    yet, or no such thread): its author, anyone while it has none, or no session user
    at all (CLI, tests)."""
    return writer is None or not author or author == writer


async def may_write_thread(data_layer: Any, thread_id: str, writer: str | None) -> bool:
    """True when ``writer`` may add to ``thread_id`` (:func:`may_write`, one read)."""
    if writer is None:
        return True
    return may_write(await thread_author(data_layer, thread_id), writer)


async def step_author(data_layer: Any, step_id: str) -> str | None:
    """The author identifier of the thread holding step ``step_id``, or None if unknown."""
    rows = await data_layer.execute_sql(
        'SELECT t."userIdentifier" AS author FROM steps s JOIN threads t '
        'ON t."id" = s."threadId" WHERE s."id" = :id', {"id": step_id})
    return (rows[0].get("author") or None) if rows else None


async def feedback_author(data_layer: Any, feedback_id: str) -> str | None:
    """The author identifier of the thread whose step feedback ``feedback_id`` rates, or
    None when the feedback does not exist."""
    rows = await data_layer.execute_sql(
        'SELECT t."userIdentifier" AS author FROM feedbacks f JOIN steps s ON s."id" = f."forId" '
        'JOIN threads t ON t."id" = s."threadId" WHERE f."id" = :id', {"id": feedback_id})
    return (rows[0].get("author") or "") if rows else None


async def feedback_exists(data_layer: Any, feedback_id: str) -> bool:
    """True when a feedback row with this id exists (whatever its step)."""
    rows = await data_layer.execute_sql(
        'SELECT "id" FROM feedbacks WHERE "id" = :id', {"id": feedback_id})
    return bool(rows)


async def check_feedback_write(data_layer: Any, user: str, for_id: str,
                               feedback_id: str | None) -> None:
    """Raise NotOwnerError unless ``user`` authored the thread of step ``for_id`` and, for
    an existing ``feedback_id``, the thread of the step that feedback rates."""
    if await step_author(data_layer, for_id) != user:
        raise NotOwnerError("feedback on a step of another user's thread")
    if (feedback_id and await feedback_exists(data_layer, feedback_id)
            and await feedback_author(data_layer, feedback_id) != user):
        raise NotOwnerError("feedback of another user's thread")
