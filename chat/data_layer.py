"""Chainlit's SQLAlchemyDataLayer with the 2.12 bugs fixed, for SQLite and PostgreSQL.

Fixes (see DESIGN.md "Known traps"):
- steps: create/update is one upsert, serialised per step, that never replaces a stored
  non-empty output/input/metadata/generation with an empty one (Chainlit issue 2789);
  command, modes, defaultOpen, autoCollapse are stored.
- tags are stored as JSON on both engines (SQLite cannot bind a list, issue 2528).
- JSON columns come back decoded; SQLite 0/1 come back as booleans.
- execute_sql logs and re-raises database errors instead of returning None.
- create_element persists the element row without a storage provider.
- thread metadata merges under a per-thread lock and round-trips (sharing, memory, scope).
The schema comes from the Alembic migrations in chat/migrations (chat.db.upgrade_database).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import uuid
import weakref
from pathlib import Path
from typing import Any

import aiofiles
from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.types import PageInfo, PaginatedResponse, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User
from sqlalchemy import bindparam, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import TextClause

from chat import data_rows as rows
from chat.data_rows import queue_until_user_message, utc_timestamp
from chat.db import configure_engine, ensure_sqlite_dir

log = logging.getLogger(__name__)


class DocChatDataLayer(SQLAlchemyDataLayer):
    """Chainlit data layer over SQLAlchemy (aiosqlite or asyncpg) with 2.12's bugs fixed.

    Args:
        database_url: SQLAlchemy async URL (`sqlite+aiosqlite:///...`, `postgresql+asyncpg://...`).
        storage_provider: element storage (chat.storage.LocalStorageClient or Chainlit's S3).
        user_thread_limit: most threads returned for one user.
    Raises (every method): sqlalchemy.exc.SQLAlchemyError when the database fails.
    """

    def __init__(
        self,
        database_url: str,
        storage_provider: BaseStorageClient | None = None,
        user_thread_limit: int = 1000,
        show_logger: bool = False,
    ):
        ensure_sqlite_dir(database_url)
        super().__init__(
            conninfo=database_url,
            storage_provider=storage_provider,
            user_thread_limit=user_thread_limit,
            show_logger=show_logger,
        )
        configure_engine(self.engine)
        self._step_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._thread_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # ---- SQL helpers ----
    async def execute_sql(self, query: str | TextClause, parameters: dict) -> list[dict] | int:
        """Run one statement in its own transaction.

        Returns: the rows as dicts (UUIDs as str) for a query, else the affected row count.
        Raises: SQLAlchemyError (logged first); 2.12's version returned None instead.
        """
        statement = text(query) if isinstance(query, str) else query
        async with self.async_session() as session:
            try:
                async with session.begin():
                    result = await session.execute(statement, parameters)
                    if result.returns_rows:
                        return self.clean_result([dict(r._mapping) for r in result.fetchall()])
                    return result.rowcount
            except SQLAlchemyError as error:
                log.error("SQL failed: %s", error)
                raise

    async def _execute_many(self, statements: list[tuple[str | TextClause, dict]]) -> None:
        """Run several statements in one transaction (all or nothing)."""
        async with self.async_session() as session:
            try:
                async with session.begin():
                    for query, params in statements:
                        stmt = text(query) if isinstance(query, str) else query
                        await session.execute(stmt, params)
            except SQLAlchemyError as error:
                log.error("SQL failed: %s", error)
                raise

    async def get_current_timestamp(self) -> str:
        return utc_timestamp()

    def _lock(self, locks: weakref.WeakValueDictionary, key: str) -> asyncio.Lock:
        lock = locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            locks[key] = lock
        return lock

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
        """
        async with self._lock(self._thread_locks, thread_id):
            existing = await self.execute_sql(
                'SELECT "metadata" FROM threads WHERE "id" = :id', {"id": thread_id}
            )
            has_updates = any(v is not None for v in (name, user_id, metadata, tags))
            if existing and not has_updates:
                return
            params: dict[str, Any] = {"id": thread_id}
            if not existing:
                params["createdAt"] = utc_timestamp()
            if metadata is not None or not existing:
                stored = rows.decode_json(existing[0]["metadata"], {}) if existing else {}
                update = rows.guard_sharing(stored or {}, metadata or {}, utc_timestamp())
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
            sql = rows.upsert_sql("threads", params, [k for k in params if k != "id"])
            await self.execute_sql(sql, params)

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
        """Insert or merge a step; per-step FIFO lock; never blank a stored output."""
        if not step_dict.get("id") or not step_dict.get("threadId"):
            raise ValueError("a step needs an id and a threadId")
        params = rows.step_params(step_dict)
        update_keys = [
            k
            for k in params
            if k != "id" and not (k in rows.KEEP_NON_EMPTY and rows.is_empty(step_dict.get(k)))
        ]
        insert = {"name": "", "type": "undefined", "streaming": False, **params}
        query = rows.upsert_sql("steps", insert, update_keys)
        thread = {"thread_id": step_dict["threadId"], "thread_created": utc_timestamp()}
        async with self._lock(self._step_locks, step_dict["id"]):
            await self._execute_many([(rows.ENSURE_THREAD_SQL, thread), (query, insert)])

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
        query = rows.upsert_sql("elements", params, [k for k in params if k != "id"])
        await self._execute_many([(rows.ENSURE_THREAD_SQL, thread), (query, params)])

    @staticmethod
    async def _element_content(element) -> bytes | None:
        if element.path:
            async with aiofiles.open(Path(element.path), "rb") as f:
                return await f.read()
        if element.content is not None:
            c = element.content
            return c.encode("utf-8") if isinstance(c, str) else bytes(c)
        return None

    async def close(self) -> None:
        """Close the storage client (errors logged: Chainlit's S3 close awaits None) and engine."""
        if self.storage_provider is not None:
            try:
                await self.storage_provider.close()
            except Exception as error:  # noqa: BLE001
                log.warning("storage close failed: %s", error)
        await self.engine.dispose()

    async def ping(self) -> dict:
        """Readiness check: one round-trip to the database. Returns {"database": dialect}."""
        await self.execute_sql("SELECT 1", {})
        return {"database": self.engine.dialect.name}


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
