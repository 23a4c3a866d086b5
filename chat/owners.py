"""Who owns a user's documents: the ``rag.models.Scope`` owner of a logged-in user.

Documents are keyed by the user's stable Chainlit ``users.id``, never by the login
name: a name can be removed and given to a new account, an id never comes back. The
chat UI (``PersistedUser.id``), the headless API (``Principal.user_id``) and
``python -m chat users remove`` all call :func:`document_owner`.

Data indexed before this (keyed by the login name) is moved to the id at start-up by
:func:`migrate_name_owners`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

log = logging.getLogger(__name__)


def document_owner(user_id: str | None) -> str:
    """The rag ``Scope.owner`` of the user with this stable id.

    Args:
        user_id: the Chainlit ``users.id`` of the user (``PersistedUser.id``).
    Returns:
        The owner string their documents are indexed under (the id itself).
    Raises:
        PermissionError: no id (nobody is logged in, or the user row could not be read).
    """
    if not user_id:
        raise PermissionError("log in first (your account could not be loaded: reload "
                              "the page)")
    return str(user_id)


async def migrate_name_owners(rag: Any, engine: Any) -> dict[str, int]:
    """Move documents keyed by a login name to that user's stable id (start-up step).

    For every row of the Chainlit ``users`` table, documents whose owner is the user's
    identifier move to ``document_owner(id)`` (``RagService.rename_owners``). Idempotent
    and crash-safe: a second run finds nothing to move, an interrupted one is finished.
    An identifier that equals some user's id is skipped (it would move that user's
    documents to another account).

    Args:
        rag: the ``rag.service.RagService``.
        engine: the chat database's SQLAlchemy AsyncEngine.
    Returns:
        {identifier: documents moved} of the users whose data moved.
    """
    async with engine.connect() as conn:
        rows = (await conn.execute(text('SELECT "id", "identifier" FROM users'))).all()
    ids = {str(r[0]) for r in rows}
    mapping = {str(r[1]): document_owner(str(r[0])) for r in rows if str(r[1]) not in ids}
    moved = await rag.rename_owners(mapping)
    for name, count in moved.items():
        log.info("documents of %r now keyed by their user id (%d documents)", name, count)
    return moved
