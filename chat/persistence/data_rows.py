"""Row <-> dict mapping for the chat tables: the columns, JSON encoding, decoding.

Chainlit 2.12's SQLAlchemyDataLayer returns JSON columns as strings and booleans as
0/1 on SQLite, and drops the columns its documented DDL lacks. These helpers give
StepDict/ElementDict/ThreadDict shapes with real dicts, lists and booleans.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from chainlit.context import ChainlitContextException, context
from chainlit.data.utils import queue_until_user_message as _chainlit_queue

log = logging.getLogger(__name__)

STEP_COLUMNS = (
    "id", "name", "type", "threadId", "parentId", "streaming", "waitForAnswer", "isError",
    "metadata", "tags", "input", "output", "createdAt", "command", "start", "end",
    "generation", "showInput", "language", "defaultOpen", "autoCollapse", "modes",
)  # fmt: skip
ELEMENT_COLUMNS = (
    "id", "threadId", "type", "url", "chainlitKey", "name", "display", "objectKey", "size",
    "page", "language", "forId", "mime", "props", "autoPlay", "playerConfig",
)  # fmt: skip
JSON_COLUMNS = frozenset({"metadata", "tags", "generation", "modes", "props", "playerConfig"})
BOOL_COLUMNS = frozenset({"streaming", "waitForAnswer", "isError", "defaultOpen", "autoCollapse",
                          "autoPlay"})  # fmt: skip
# An update never replaces a stored non-empty value of these with an empty one (issue 2789).
KEEP_NON_EMPTY = frozenset({"input", "output", "metadata", "generation"})


def encode_json(value: Any) -> str:
    """JSON text of a value (dicts, lists); non-serialisable leaves become strings."""
    return json.dumps(value, default=str, ensure_ascii=False)


def decode_json(value: Any, default: Any = None) -> Any:
    """A JSON column value as Python: dict/list pass through, text is parsed.

    Args:
        value: the raw column value (str on SQLite and through asyncpg text queries).
        default: returned for NULL or unparseable text.
    """
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        if not value:
            return default
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            log.warning("undecodable JSON column value: %.80r", value)
            return default
    return value


def to_bool(value: Any) -> bool | None:
    """SQLite's 0/1 (and "true"/"false") as bool; None stays None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes")
    return bool(value)


def is_empty(value: Any) -> bool:
    """True for None, "" and empty containers."""
    return value is None or (isinstance(value, (str, dict, list, tuple)) and len(value) == 0)


def step_params(step_dict: dict) -> dict[str, Any]:
    """Bind parameters for a step upsert: known columns only, JSON encoded, None dropped."""
    params: dict[str, Any] = {}
    for column in STEP_COLUMNS:
        value = step_dict.get(column)
        if value is None:
            continue
        if column == "showInput":
            value = str(value).lower()
        elif column in JSON_COLUMNS:
            value = encode_json(value)
        elif column in BOOL_COLUMNS:
            value = bool(value)
        params[column] = value
    return params


def element_params(element_dict: dict) -> dict[str, Any]:
    """Bind parameters for an element upsert: known columns only, JSON encoded, None dropped."""
    params: dict[str, Any] = {}
    for column in ELEMENT_COLUMNS:
        value = element_dict.get(column)
        if value is None:
            continue
        if column in JSON_COLUMNS:
            value = encode_json(value)
        elif column in BOOL_COLUMNS:
            value = bool(value)
        elif column == "page":
            value = int(value)
        params[column] = value
    return params


def step_from_row(row: dict, feedback: dict | None = None) -> dict:
    """A StepDict from a `steps` row (columns by their own names)."""
    show_input = row.get("showInput")
    return {
        "id": row["id"],
        "name": row.get("name") or "",
        "type": row.get("type") or "undefined",
        "threadId": row.get("threadId"),
        "parentId": row.get("parentId"),
        "streaming": bool(to_bool(row.get("streaming"))),
        "waitForAnswer": to_bool(row.get("waitForAnswer")),
        "isError": to_bool(row.get("isError")),
        "metadata": decode_json(row.get("metadata"), {}) or {},
        "tags": decode_json(row.get("tags")),
        "input": (row.get("input") or "") if show_input not in (None, "false") else "",
        "output": row.get("output") or "",
        "createdAt": row.get("createdAt"),
        "command": row.get("command"),
        "start": row.get("start"),
        "end": row.get("end"),
        "generation": decode_json(row.get("generation")) or None,
        "showInput": show_input,
        "language": row.get("language"),
        "defaultOpen": to_bool(row.get("defaultOpen")),
        "autoCollapse": to_bool(row.get("autoCollapse")),
        "modes": decode_json(row.get("modes")),
        "feedback": feedback,
    }


def feedback_from_row(row: dict) -> dict | None:
    """The FeedbackDict joined onto a step row (columns feedback_*), or None."""
    if row.get("feedback_value") is None:
        return None
    return {
        "forId": row["id"],
        "id": row.get("feedback_id"),
        "value": row["feedback_value"],
        "comment": row.get("feedback_comment"),
    }


def element_from_row(row: dict, url: str | None) -> dict:
    """An ElementDict from an `elements` row; `url` is the read URL to show."""
    return {
        "id": row["id"],
        "threadId": row.get("threadId"),
        "type": row.get("type"),
        "chainlitKey": row.get("chainlitKey"),
        "url": url,
        "objectKey": row.get("objectKey"),
        "name": row.get("name"),
        "display": row.get("display"),
        "size": row.get("size"),
        "language": row.get("language"),
        "page": row.get("page"),
        "props": decode_json(row.get("props"), {}) or {},
        "autoPlay": to_bool(row.get("autoPlay")),
        "playerConfig": decode_json(row.get("playerConfig")),
        "forId": row.get("forId"),
        "mime": row.get("mime"),
    }


def thread_from_row(row: dict) -> dict:
    """A ThreadDict (without steps/elements) from a `threads` row."""
    return {
        "id": row["id"],
        "createdAt": row.get("createdAt"),
        "name": row.get("name"),
        "userId": row.get("userId"),
        "userIdentifier": row.get("userIdentifier"),
        "tags": decode_json(row.get("tags")),
        "metadata": decode_json(row.get("metadata"), {}) or {},
        "steps": [],
        "elements": [],
    }


def merge_metadata(base: dict, update: dict) -> dict:
    """Chainlit's merge rule: keys with value None are deleted, others replace."""
    deleted = {k for k, v in update.items() if v is None}
    merged = {k: v for k, v in base.items() if k not in deleted}
    merged.update({k: v for k, v in update.items() if v is not None})
    return merged


def guard_sharing(stored: dict, incoming: dict, now: str) -> dict:
    """Stop a stale metadata copy from re-sharing a thread its author unshared.

    Chainlit copies thread metadata into the session on resume and writes it back at
    disconnect; a copy taken while the thread was shared would undo an unshare made in
    between. Unsharing records `unshared_at`; a later `is_shared: true` is accepted only
    with a `shared_at` newer than that.

    Args:
        stored: metadata in the database.  incoming: the update (not mutated).  now: ISO time.
    Returns:
        The update to apply.
    """
    update = dict(incoming)
    was_shared = bool(stored.get("is_shared"))
    if "is_shared" not in update or update["is_shared"] is None:
        return update
    wants_shared = bool(update["is_shared"])
    if wants_shared and not was_shared:
        revoked = stored.get("unshared_at")
        shared_at = update.get("shared_at")
        if revoked and (not shared_at or str(shared_at) <= str(revoked)):
            log.info("ignored a stale is_shared=true (unshared at %s)", revoked)
            update.pop("is_shared")
            update.pop("shared_at", None)
    elif was_shared and not wants_shared:
        update["unshared_at"] = now
        update["shared_at"] = None
    return update


def columns_sql(columns: Iterable[str]) -> str:
    """Quoted, comma-separated column names."""
    return ", ".join(f'"{c}"' for c in columns)


def upsert_sql(table: str, insert_columns: Iterable[str], update_columns: Iterable[str],
               same_thread: bool = False, same_author: bool = False) -> str:
    """`INSERT ... ON CONFLICT ("id") DO UPDATE SET col = EXCLUDED.col` (SQLite and PostgreSQL).

    Binds one `:column` parameter per insert column; with no update columns, DO NOTHING.
    With ``same_thread`` an existing row is updated only when it already belongs to the
    written ``threadId`` (a client-chosen id never moves a row to another thread); with
    ``same_author`` (threads) only when it has no author yet or the written
    ``userIdentifier`` is its author (a thread never changes hands, as
    ``ownership.may_write``). A refused update affects 0 rows.
    """
    cols = list(insert_columns)
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update_columns)
    action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
    if sets and same_thread:
        action += f' WHERE {table}."threadId" = EXCLUDED."threadId"'
    if sets and same_author:
        action += (f' WHERE COALESCE({table}."userIdentifier", \'\') IN '
                   f'(\'\', EXCLUDED."userIdentifier")')
    values = ", ".join(f":{c}" for c in cols)
    return (
        f'INSERT INTO {table} ({columns_sql(cols)}) VALUES ({values}) ON CONFLICT ("id") {action}'
    )


def flagged_upsert_sql(table: str, columns: Iterable[str], same_thread: bool = False) -> str:
    """One `INSERT ... ON CONFLICT ("id") DO UPDATE` for every write to ``table``, whatever
    columns it sets: binds ``:column`` for each of ``columns`` (None inserts NULL) and a
    boolean ``:set_<column>`` for each but ``id``; an existing row takes ``EXCLUDED``'s
    value where the flag is true and keeps its own where it is false. ``same_thread`` as
    in :func:`upsert_sql`.

    One SQL text means one prepared statement per connection (asyncpg prepares each
    distinct text once per connection) and one ``executemany`` per batch; a text per
    column subset gave 15 step statements in the load bench, each prepared on every
    connection that ran it.
    """
    cols = list(columns)
    sets = ", ".join(f'"{c}" = CASE WHEN :set_{c} THEN EXCLUDED."{c}" ELSE {table}."{c}" END'
                     for c in cols if c != "id")
    where = f' WHERE {table}."threadId" = EXCLUDED."threadId"' if same_thread else ""
    values = ", ".join(f":{c}" for c in cols)
    return (f'INSERT INTO {table} ({columns_sql(cols)}) VALUES ({values}) '
            f'ON CONFLICT ("id") DO UPDATE SET {sets}{where}')


ENSURE_THREAD_SQL = (
    'INSERT INTO threads ("id", "createdAt") VALUES (:thread_id, :thread_created) '
    'ON CONFLICT ("id") DO NOTHING'
)


def thread_list_sql(user_id: str, search: str | None, feedback: int | None, limit: int):
    """SQL and parameters listing a user's thread ids with their last activity, newest first.

    `search` matches the thread name or a step output, case-insensitively (LIKE, escaped);
    `feedback` keeps threads with a step rated that value.
    """
    where, params = ['t."userId" = :user_id'], {"user_id": user_id, "limit": limit}
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{escaped}%"
        where.append(
            "(LOWER(COALESCE(t.\"name\", '')) LIKE :pattern ESCAPE '\\' OR EXISTS ("
            'SELECT 1 FROM steps s2 WHERE s2."threadId" = t."id" '
            "AND LOWER(COALESCE(s2.\"output\", '')) LIKE :pattern ESCAPE '\\'))"
        )
    if feedback is not None:
        params["feedback"] = int(feedback)
        where.append(
            'EXISTS (SELECT 1 FROM feedbacks f JOIN steps s3 ON f."forId" = s3."id" '
            'WHERE s3."threadId" = t."id" AND f."value" = :feedback)'
        )
    updated = 'COALESCE(MAX(s."createdAt"), t."createdAt")'
    sql = (
        f'SELECT t."id" AS id, {updated} AS "updatedAt" FROM threads t '
        f'LEFT JOIN steps s ON s."threadId" = t."id" WHERE {" AND ".join(where)} '
        f'GROUP BY t."id", t."createdAt" ORDER BY "updatedAt" DESC, t."id" DESC LIMIT :limit'
    )
    return sql, params


def queue_until_user_message():
    """Chainlit's decorator (defer writes until the first user message) that also runs
    outside a Chainlit context (CLI, tests, background work) instead of raising."""

    def decorator(method):
        queued = _chainlit_queue()(method)

        @functools.wraps(method)
        async def wrapper(self, *args, **kwargs):
            try:
                context.session  # noqa: B018 - raises without a context
            except ChainlitContextException:
                return await method(self, *args, **kwargs)
            return await queued(self, *args, **kwargs)

        return wrapper

    return decorator


def utc_timestamp() -> str:
    """Current UTC time as ISO 8601 with a Z suffix (Chainlit's format, always with micros)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
