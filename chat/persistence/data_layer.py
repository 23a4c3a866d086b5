# Typed against Chainlit 2.12's own hints: its execute_sql returns `list[dict] | int` and
# its getters promise TypedDicts this layer builds as plain dicts (issue 9 reworks them).
# mypy: disable-error-code="index,union-attr,arg-type,override"
"""Chainlit's SQLAlchemyDataLayer with the 2.12 bugs fixed, for SQLite and PostgreSQL.

Fixes (each a trap measured against Chainlit 2.12):
- steps: create/update is one upsert, in call order per step, that never replaces a stored
  non-empty output/input/metadata/generation with an empty one (Chainlit issue 2789);
  the steps written meanwhile share one transaction (chat.persistence.step_writes);
  command, modes, defaultOpen, autoCollapse are stored.
- tags are stored as JSON on both engines (SQLite cannot bind a list, issue 2528).
- JSON columns come back decoded; SQLite 0/1 come back as booleans.
- execute_sql logs and re-raises database errors instead of returning None, and retries
  while the database is unreachable or locked (chat.persistence.sql_layer).
- writes never move a step or element between threads, nor touch another user's thread
  (chat.persistence.ownership).
- create_element persists the element row without a storage provider.
- thread metadata merges under a per-thread lock and round-trips (sharing, memory, scope).
The schema comes from the Alembic migrations in chat/persistence/migrations
(chat.persistence.db.upgrade_database).
"""

from __future__ import annotations

import logging
import mimetypes
import uuid
from pathlib import Path
from typing import Any

import aiofiles
from chainlit.types import PageInfo, PaginatedResponse, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User
from sqlalchemy import bindparam, text

from chat.persistence import data_rows as rows
from chat.persistence import ownership
from chat.persistence.data_rows import queue_until_user_message, utc_timestamp
from chat.persistence.sql_layer import RetryingSQLLayer
from chat.persistence.step_writes import StepWrite

log = logging.getLogger(__name__)
#: user id -> identifier pairs a process keeps (``_get_user_identifer_by_id``)
USER_IDS_KEPT = 10_000


class DocChatDataLayer(RetryingSQLLayer):
    """Chainlit data layer over SQLAlchemy (aiosqlite or asyncpg) with 2.12's bugs fixed.

    Args: see chat.persistence.sql_layer.RetryingSQLLayer (URL, storage, limits, retry).
    Raises (every method): sqlalchemy.exc.SQLAlchemyError when the database fails.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: user id -> identifier (never change; ``_get_user_identifer_by_id``)
        self._user_identifiers: dict[str, str] = {}

    # ---- users ----
    async def create_user(self, user: User) -> PersistedUser | None:
        """Insert the user or update its metadata (atomic upsert on identifier)."""
        await self.execute_sql(
            'INSERT INTO users ("id", "identifier", "createdAt", "metadata") '
            "VALUES (:id, :identifier, :createdAt, :metadata) "
            'ON CONFLICT ("identifier") DO UPDATE SET "metadata" = EXCLUDED."metadata"',
            {
                "id": str(uuid.uuid4()),
                "identifier": str(user.identifier),
                "createdAt": utc_timestamp(),
                "metadata": rows.encode_json(user.metadata or {}),
            },
        )
        return await self.get_user(user.identifier)

    async def _get_user_identifer_by_id(self, user_id: str) -> str:
        """The identifier of user ``user_id`` (Chainlit's spelling), read once per process:
        a user's id and identifier never change, and every first message of a thread
        asked for it (``update_thread``). Up to USER_IDS_KEPT users are kept.

        Raises: AssertionError for an unknown id (as Chainlit's), SQLAlchemyError.
        """
        found = self._user_identifiers.get(user_id)
        if found is None:
            found = await super()._get_user_identifer_by_id(user_id)
            if len(self._user_identifiers) >= USER_IDS_KEPT:
                self._user_identifiers.clear()
            self._user_identifiers[user_id] = found
        return found

    # ---- threads ----
    async def get_thread_author(self, thread_id: str) -> str:
        """The author's identifier, or "" when the thread does not exist (Chainlit: 404)."""
        result = await self.execute_sql(
            'SELECT "userIdentifier" FROM threads WHERE "id" = :id', {"id": thread_id}
        )
        return (result[0].get("userIdentifier") or "") if result else ""

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict | None = None,
        tags: list[str] | None = None,
    ):
        """Create or update a thread; metadata merges into the stored one (None deletes a key).

        Serialised per thread so concurrent metadata updates do not lose each other.
        Without ``metadata`` (Chainlit's first message of a thread: name and user) it is
        one statement, an upsert that sets the creation time and empty metadata only
        when it inserts; with it, the stored metadata is read and merged first.
        """
        async with self._lock(self._thread_locks, thread_id):
            if metadata is None:
                await self._upsert_thread(thread_id, name, user_id, tags)
                return
            existing = await self.execute_sql(
                'SELECT "metadata" FROM threads WHERE "id" = :id', {"id": thread_id}
            )
            params: dict[str, Any] = {"id": thread_id}
            if not existing:
                params["createdAt"] = utc_timestamp()
            stored = rows.decode_json(existing[0]["metadata"], {}) if existing else {}
            update = rows.guard_sharing(stored or {}, metadata, utc_timestamp())
            merged = rows.merge_metadata(stored or {}, update)
            params["metadata"] = rows.encode_json(merged)
            if name is None and merged.get("name"):
                name = merged["name"]
            if name is not None:
                params["name"] = name
            if user_id is not None:
                params["userId"] = user_id
                params["userIdentifier"] = await self._get_user_identifer_by_id(user_id)
            if tags is not None:
                params["tags"] = rows.encode_json(list(tags))
            await self._write_thread(params, [k for k in params if k != "id"])

    async def _upsert_thread(self, thread_id: str, name: str | None, user_id: str | None,
                             tags: list[str] | None) -> None:
        """``update_thread`` without metadata: insert the thread (created now, empty
        metadata) or set only the given columns of the existing one."""
        params: dict[str, Any] = {"id": thread_id, "createdAt": utc_timestamp(),
                                  "metadata": rows.encode_json({})}
        updated = []
        if name is not None:
            params["name"] = name
            updated.append("name")
        if user_id is not None:
            params["userId"] = user_id
            params["userIdentifier"] = await self._get_user_identifer_by_id(user_id)
            updated += ["userId", "userIdentifier"]
        if tags is not None:
            params["tags"] = rows.encode_json(list(tags))
            updated.append("tags")
        await self._write_thread(params, updated)

    async def _write_thread(self, params: dict[str, Any], updated: list[str]) -> None:
        """Upsert a thread row; when it names a user, an existing thread of another
        author is left as it is (logged): a thread never changes hands."""
        sql = rows.upsert_sql("threads", params, updated,
                              same_author="userIdentifier" in params)
        if not await self.execute_sql(sql, params) and "userIdentifier" in params:
            log.warning("refused a write of thread %s by %s: another user's thread",
                        params["id"], params["userIdentifier"])

    async def delete_thread(self, thread_id: str):
        """Delete a thread with its steps, elements, feedbacks and stored element files."""
        elements = await self.execute_sql(
            'SELECT "objectKey" FROM elements WHERE "threadId" = :id', {"id": thread_id}
        )
        params = {"id": thread_id}
        await self._execute_many(
            [
                (
                    (
                        'DELETE FROM feedbacks WHERE "forId" IN '
                        '(SELECT "id" FROM steps WHERE "threadId" = :id) OR "threadId" = :id'
                    ),
                    params,
                ),
                ('DELETE FROM elements WHERE "threadId" = :id', params),
                ('DELETE FROM steps WHERE "threadId" = :id', params),
                ('DELETE FROM threads WHERE "id" = :id', params),
            ]
        )
        if self.storage_provider is not None:
            for element in elements:
                if element.get("objectKey"):
                    await self.storage_provider.delete_file(object_key=element["objectKey"])

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse:
        """One page of a user's threads, most recently active first.

        `filters.search` matches the thread name or any step output (case-insensitive);
        `filters.feedback` keeps threads with a step rated that value. The cursor is the
        id of the last thread of the previous page. Threads come without steps; their
        `createdAt` is the last activity (as in Chainlit's own data layer).
        Raises: ValueError without filters.userId.
        """
        if not filters.userId:
            raise ValueError("userId is required")
        sql, params = rows.thread_list_sql(
            filters.userId, filters.search, filters.feedback, self.user_thread_limit or 1000
        )
        ordered = await self.execute_sql(sql, params)
        ids = [r["id"] for r in ordered]
        start = ids.index(pagination.cursor) + 1 if pagination.cursor in ids else 0
        page = ordered[start : start + pagination.first]
        threads = {t["id"]: t for t in await self._thread_rows([r["id"] for r in page])}
        data = []
        for r in page:
            thread = threads[r["id"]]
            thread["createdAt"] = r["updatedAt"] or thread["createdAt"]
            data.append(thread)
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=len(ordered) > start + pagination.first,
                startCursor=data[0]["id"] if data else None,
                endCursor=data[-1]["id"] if data else None,
            ),
            data=data,
        )

    async def _thread_rows(self, ids: list[str]) -> list[dict]:
        if not ids:
            return []
        query = text('SELECT * FROM threads WHERE "id" IN :ids').bindparams(
            bindparam("ids", expanding=True)
        )
        return [rows.thread_from_row(r) for r in await self.execute_sql(query, {"ids": ids})]

    async def get_thread(self, thread_id: str) -> dict | None:
        """The thread with every step (oldest first), feedback and element, or None."""
        threads = await self._thread_rows([thread_id])
        if not threads:
            return None
        thread = threads[0]
        steps = await self.execute_sql(
            'SELECT s.*, f."value" AS feedback_value, f."comment" AS feedback_comment, '
            'f."id" AS feedback_id FROM steps s LEFT JOIN feedbacks f ON s."id" = f."forId" '
            'WHERE s."threadId" = :id ORDER BY s."createdAt" ASC, s."start" ASC',
            {"id": thread_id},
        )
        thread["steps"] = [rows.step_from_row(r, rows.feedback_from_row(r)) for r in steps]
        elements = await self.execute_sql(
            'SELECT * FROM elements WHERE "threadId" = :id', {"id": thread_id}
        )
        thread["elements"] = [rows.element_from_row(r, await self._read_url(r)) for r in elements]
        return thread

    async def get_all_user_threads(self, user_id=None, thread_id=None):
        """Threads of a user (with steps), or the one thread `thread_id` (Chainlit's API)."""
        if thread_id:
            thread = await self.get_thread(thread_id)
            return [thread] if thread else []
        ids = await self.execute_sql(
            'SELECT "id" FROM threads WHERE "userId" = :user_id LIMIT :limit',
            {"user_id": user_id, "limit": self.user_thread_limit or 1000},
        )
        return [t for r in ids if (t := await self.get_thread(r["id"]))]

    # ---- steps ----
    @queue_until_user_message()
    async def create_step(self, step_dict: dict):
        await self._upsert_step(step_dict)

    @queue_until_user_message()
    async def update_step(self, step_dict: dict):
        await self._upsert_step(step_dict)

    async def _upsert_step(self, step_dict: dict) -> None:
        """Insert or merge a step, committed with the other steps written meanwhile
        (chat.persistence.step_writes); returns once committed; never blanks a stored
        output; refused (logged) for another user's thread or another thread's step.

        Raises: ValueError without an id or threadId; SQLAlchemyError when it fails.
        """
        write = StepWrite.from_step(step_dict, ownership.writer_identifier())
        await self.step_writes.submit(write)

    async def get_step(self, step_id: str) -> dict | None:
        result = await self.execute_sql(
            'SELECT s.*, f."value" AS feedback_value, f."comment" AS feedback_comment, '
            'f."id" AS feedback_id FROM steps s LEFT JOIN feedbacks f ON s."id" = f."forId" '
            'WHERE s."id" = :id',
            {"id": step_id},
        )
        return rows.step_from_row(result[0], rows.feedback_from_row(result[0])) if result else None

    async def get_favorite_steps(self, user_id: str) -> list[dict]:
        result = await self.execute_sql(
            'SELECT s.* FROM steps s JOIN threads t ON s."threadId" = t."id" '
            'WHERE t."userId" = :user_id AND CAST(s."metadata" AS TEXT) LIKE :pattern '
            'ORDER BY s."createdAt" DESC',
            {"user_id": user_id, "pattern": '%"favorite"%'},
        )
        steps = [rows.step_from_row(r) for r in result]
        return [s for s in steps if s["metadata"].get("favorite") is True]

    # ---- elements ----
    async def _read_url(self, row: dict) -> str | None:
        key = row.get("objectKey")
        if self.storage_provider is not None and isinstance(key, str) and key.strip():
            try:
                return await self.storage_provider.get_read_url(object_key=key)
            except Exception as error:  # noqa: BLE001 - fall back to the stored URL
                log.warning("no read URL for %r: %s", key, error)
        return row.get("url")

    async def get_element(self, thread_id: str, element_id: str) -> dict | None:
        result = await self.execute_sql(
            'SELECT * FROM elements WHERE "threadId" = :thread_id AND "id" = :element_id',
            {"thread_id": thread_id, "element_id": element_id},
        )
        return rows.element_from_row(result[0], await self._read_url(result[0])) if result else None

    async def get_element_by_object_key(self, object_key: str) -> dict | None:
        """The element row stored under `object_key` (used by the file route), or None."""
        result = await self.execute_sql(
            'SELECT * FROM elements WHERE "objectKey" = :key', {"key": object_key}
        )
        return rows.element_from_row(result[0], result[0].get("url")) if result else None

    async def thread_visibility(self, thread_id: str) -> tuple[str, bool] | None:
        """(author identifier, shared by its author?) of a thread, or None if it does not exist."""
        threads = await self._thread_rows([thread_id])
        if not threads:
            return None
        return threads[0]["userIdentifier"] or "", bool(threads[0]["metadata"].get("is_shared"))

    @queue_until_user_message()
    async def create_element(self, element):
        """Store the element's bytes (when a storage provider is set) and its row.

        Without a storage provider the row is kept with the element's own URL (2.12 dropped
        it). External URLs are not downloaded. Elements without `for_id` are skipped.
        Raises: ValueError when the storage provider fails to store the bytes.
        """
        if not element.for_id:
            return
        writer = ownership.writer_identifier()
        if not await ownership.may_write_thread(self, element.thread_id, writer):
            log.warning("element %s refused: thread %s is not %r's", element.id,
                        element.thread_id, writer)
            return
        element_dict = dict(element.to_dict())
        content = await self._element_content(element)
        if content is not None and self.storage_provider is not None:
            key = f"{element.thread_id}/{element.id}/{element.name or 'file'}"
            uploaded = await self.storage_provider.upload_file(
                object_key=key, data=content, mime=_element_mime(element)
            )
            if not uploaded:
                raise ValueError(f"storage provider failed to store element {element.id}")
            element_dict["url"] = uploaded.get("url")
            element_dict["objectKey"] = uploaded.get("object_key")
        elif content is not None:
            log.warning("no storage provider: element %s content is not persisted", element.id)
        params = rows.element_params(element_dict)
        params.setdefault("name", element.name or "")
        thread = {"thread_id": element.thread_id, "thread_created": utc_timestamp()}
        query = rows.upsert_sql("elements", params, [k for k in params if k != "id"],
                                same_thread=True)
        if await self._execute_many([(rows.ENSURE_THREAD_SQL, thread), (query, params)]) == 0:
            log.warning("element %s refused: it belongs to another thread than %s",
                        element.id, element.thread_id)
            if element_dict.get("objectKey") and self.storage_provider is not None:
                await self.storage_provider.delete_file(object_key=element_dict["objectKey"])

    async def delete_element(self, element_id: str, thread_id: str | None = None):
        """Delete an element of the session's own thread (never another user's)."""
        thread_id = thread_id or _session_thread_id()
        if thread_id is None or not await ownership.may_write_thread(
                self, thread_id, ownership.writer_identifier()):
            log.warning("element %s: delete refused", element_id)
            return
        await self.execute_sql('DELETE FROM elements WHERE "id" = :id AND "threadId" = :thread',
                               {"id": element_id, "thread": thread_id})

    async def delete_step(self, step_id: str):
        """Delete a step (with its feedback and elements) of the session's own thread."""
        thread_id = _session_thread_id()
        if thread_id is None or not await ownership.may_write_thread(
                self, thread_id, ownership.writer_identifier()):
            log.warning("step %s: delete refused", step_id)
            return
        params = {"id": step_id, "thread": thread_id}
        mine = '(SELECT "id" FROM steps WHERE "id" = :id AND "threadId" = :thread)'
        await self._execute_many([
            (f'DELETE FROM feedbacks WHERE "forId" IN {mine}', params),
            (f'DELETE FROM elements WHERE "forId" IN {mine}', params),
            ('DELETE FROM steps WHERE "id" = :id AND "threadId" = :thread', params)])

    @staticmethod
    async def _element_content(element) -> bytes | None:
        if element.path:
            async with aiofiles.open(Path(element.path), "rb") as f:
                return await f.read()
        if element.content is not None:
            c = element.content
            return c.encode("utf-8") if isinstance(c, str) else bytes(c)
        return None



def _session_thread_id() -> str | None:
    """The current Chainlit session's thread id, or None outside a session."""
    try:
        from chainlit.context import context

        return context.session.thread_id
    except Exception:  # noqa: BLE001 - no Chainlit context
        return None


def _element_mime(element) -> str:
    """The element's MIME type; text/plain for text elements; else guessed from its name."""
    if element.mime:
        return element.mime
    if element.type == "text":
        return "text/plain"
    guessed = mimetypes.guess_type(element.name or "")[0]
    return guessed or (
        "text/plain" if isinstance(element.content, str) else "application/octet-stream"
    )
