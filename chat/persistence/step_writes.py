"""Group commit of step writes: every step written while a batch is being committed is
written by the next batch, in one transaction, with one ownership query per batch.

Why: Chainlit writes each step twice or more (``create_step`` when it starts,
``update_step`` when it ends, more for streamed messages), each in a task of its own. One
at a time, a write cost five round trips (the ownership SELECT, BEGIN, the thread's
ensure-insert, the upsert, COMMIT), and on a web instance under load
(``scripts/bench_load.py --instances 2 --worker``, py-spy) those writes were ~60% of the
event-loop thread's CPU: each round trip is a socket write whose loopback delivery the
sender pays, plus SQLAlchemy's and asyncpg's per-statement work. A batch costs BEGIN, one
lookup, the new threads' insert, one ``executemany`` per statement shape and COMMIT,
whatever its size.

Semantics kept from the one-at-a-time writes:
- ``submit`` returns when the write is committed (or raises its error), so a caller that
  awaits ``create_step`` then reads sees its step;
- writes of one step land in call order (one batch at a time, in submission order; two
  writes of one step in a batch are merged as the second applied over the first);
- a write goes only to a thread its writer authored, or a new one (``ownership``), and an
  existing step never moves to another thread (``data_rows.upsert_sql`` ``same_thread``);
  refused writes are logged and dropped, as before;
- a batch that fails for a reason other than a transient one (``chat.persistence.db``) is
  retried write by write, so one bad write fails alone; a database that stays
  unavailable past the retry budget fails the whole batch at once.

Under no load a batch holds one write: the flush task starts on the loop's next
iteration, so latency is unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.persistence import data_rows as rows
from chat.persistence import ownership
from chat.persistence.db import is_transient, run_retrying

log = logging.getLogger(__name__)

#: most step writes committed in one transaction (under the scaled-out load bench a web
#: instance wrote ~500 steps in 51-124 batches; the cap only bounds one transaction)
MAX_BATCH = 500

#: every step upsert (``StepWrite.statement``); an existing step never moves thread
STEP_UPSERT_SQL = rows.flagged_upsert_sql("steps", rows.STEP_COLUMNS, same_thread=True)

#: the authors of the batch's threads and the threads of its steps, in one round trip;
#: the ids go as one array (PostgreSQL) or JSON list (SQLite) parameter, so the SQL text,
#: and asyncpg's prepared statement, is the same whatever the batch's size
_LOOKUP_SQL = {
    "postgresql": (
        'SELECT \'thread\' AS kind, "id", "userIdentifier" AS value FROM threads '
        'WHERE "id" = ANY(CAST(:threads AS TEXT[])) UNION ALL '
        'SELECT \'step\', "id", "threadId" FROM steps WHERE "id" = ANY(CAST(:steps AS TEXT[]))'),
    "sqlite": (
        'SELECT \'thread\' AS kind, "id", "userIdentifier" AS value FROM threads '
        'WHERE "id" IN (SELECT value FROM json_each(:threads)) UNION ALL '
        'SELECT \'step\', "id", "threadId" FROM steps '
        'WHERE "id" IN (SELECT value FROM json_each(:steps))'),
}


@dataclass
class StepWrite:
    """One ``create_step``/``update_step`` call, ready to bind.

    ``params``: the step's columns (``data_rows.step_params``); ``update_keys``: the
    columns an existing row takes from this write (an empty input/output/metadata/
    generation never blanks a stored one, Chainlit issue 2789); ``writer``: the session
    user's identifier, None outside a session (CLI, tests: only the no-move rule applies).
    """

    step_id: str
    thread_id: str
    writer: str | None
    params: dict[str, Any]
    update_keys: set[str] = field(default_factory=set)

    @classmethod
    def from_step(cls, step_dict: dict, writer: str | None) -> StepWrite:
        """Build from Chainlit's step dict. Raises ValueError without an id or threadId."""
        if not step_dict.get("id") or not step_dict.get("threadId"):
            raise ValueError("a step needs an id and a threadId")
        params = rows.step_params(step_dict)
        keys = {k for k in params
                if k != "id" and not (k in rows.KEEP_NON_EMPTY and rows.is_empty(step_dict.get(k)))}
        return cls(str(step_dict["id"]), str(step_dict["threadId"]), writer, params, keys)

    def merge(self, later: StepWrite) -> None:
        """Fold ``later`` (same step, thread and writer) into this write, so that the one
        upsert stores what this write followed by ``later`` would have stored."""
        first_insert = self.insert()
        self.params = {**first_insert, **{k: later.params[k] for k in later.update_keys}}
        self.update_keys |= later.update_keys

    def insert(self) -> dict[str, Any]:
        """The row inserted when the step is new: defaults, then this write's columns."""
        return {"name": "", "type": "undefined", "streaming": False, **self.params}

    def statement(self) -> tuple[str, dict[str, Any]]:
        """(upsert SQL, its parameters): every step write shares one SQL text
        (``STEP_UPSERT_SQL``): each column bound (None inserts NULL, as the column's
        default would) and flagged for update when it is one of ``update_keys``."""
        insert = self.insert()
        params = {c: insert.get(c) for c in rows.STEP_COLUMNS}
        params.update({f"set_{c}": c in self.update_keys for c in rows.STEP_COLUMNS
                       if c != "id"})
        return STEP_UPSERT_SQL, params


Pending = tuple[StepWrite, asyncio.Future]


class StepWriteQueue:
    """The step writes of one data layer, committed in batches (module docstring).

    Args:
        session_factory: SQLAlchemy ``async_sessionmaker`` of the data layer.
        dialect: the database's SQLAlchemy dialect name, "postgresql" or "sqlite".
        retry_budget_s: seconds a batch is retried while the database is unreachable or
            locked (``chat.persistence.db.run_retrying``; None: its default).
    Raises: ValueError for another dialect.
    """

    def __init__(self, session_factory: Callable[[], AsyncSession], dialect: str,
                 retry_budget_s: float | None = None) -> None:
        if dialect not in _LOOKUP_SQL:
            raise ValueError(f"step writes support PostgreSQL and SQLite, not {dialect!r}")
        self._sessions = session_factory
        self._lookup = text(_LOOKUP_SQL[dialect])
        self._as_list: Callable[[list[str]], Any] = (
            list if dialect == "postgresql" else rows.encode_json)
        self.retry_budget_s = retry_budget_s
        # per event loop (tests run one data layer over several loops)
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Pending]] = (
            weakref.WeakKeyDictionary())
        self._flushing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = (
            weakref.WeakKeyDictionary())
        #: batches committed and writes in them, since start (for the load bench)
        self.batches = 0
        self.writes = 0

    async def submit(self, write: StepWrite) -> None:
        """Queue ``write`` and wait until its batch is committed.

        Raises: sqlalchemy.exc.SQLAlchemyError when its write fails. A refused write
        (another user's thread, another thread's step) is logged and returns normally.
        """
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.setdefault(loop, []).append((write, done))
        task = self._flushing.get(loop)
        if task is None or task.done():
            self._flushing[loop] = loop.create_task(self._drain(loop))
        await done

    async def flush(self) -> None:
        """Wait until every step write queued on the running loop is committed or failed
        (app shutdown, ``close``); returns at once when nothing is queued."""
        task = self._flushing.get(asyncio.get_running_loop())
        if task is not None and not task.done():
            await asyncio.shield(task)

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit batches until nothing is queued on ``loop``."""
        pending = self._pending.get(loop, [])
        while pending:
            batch, rest = _next_batch(pending)
            pending[:] = rest
            writes = [w for w, _ in batch]
            try:
                await run_retrying(functools.partial(self._commit, writes),
                                   self.retry_budget_s)
            except Exception as error:  # noqa: BLE001 - re-tried write by write below
                if len(batch) == 1 or is_transient(error):  # one write, or the database
                    # stayed unavailable for the whole retry budget: all fail alike
                    log.error("step write failed: %s", type(error).__name__)
                    _settle(batch, error)
                    continue
                log.warning("a batch of %d step writes failed (%s); writing them one by one",
                            len(batch), type(error).__name__)
                for one in batch:
                    try:
                        await run_retrying(functools.partial(self._commit, [one[0]]),
                                           self.retry_budget_s)
                    except Exception as single:  # noqa: BLE001 - its caller gets it
                        log.error("step write failed: %s", type(single).__name__)
                        _settle([one], single)
                    else:
                        _settle([one], None)
                continue
            _settle(batch, None)

    async def _commit(self, writes: list[StepWrite]) -> None:
        """One transaction: the threads' authors and the steps' threads (one query),
        the missing threads, then the allowed upserts grouped by SQL text."""
        merged = _merge(writes)
        threads = sorted({w.thread_id for w in merged})
        steps = sorted({w.step_id for w in merged})
        async with self._sessions() as session, session.begin():
            authors: dict[str, str] = {}
            homes: dict[str, str] = {}
            for kind, row_id, value in await session.execute(
                    self._lookup, {"threads": self._as_list(threads),
                                   "steps": self._as_list(steps)}):
                if kind == "thread":
                    authors[row_id] = value or ""
                else:
                    homes[row_id] = value
            allowed = []
            for w in merged:
                if not ownership.may_write(authors.get(w.thread_id), w.writer):
                    log.warning("step %s refused: thread %s is not %r's", w.step_id,
                                w.thread_id, w.writer)
                elif homes.get(w.step_id, w.thread_id) != w.thread_id:
                    log.warning("step %s refused: it belongs to another thread than %s",
                                w.step_id, w.thread_id)
                else:
                    allowed.append(w)
            if not allowed:
                return
            now = rows.utc_timestamp()
            missing = sorted({w.thread_id for w in allowed} - set(authors))
            if missing:
                await session.execute(text(rows.ENSURE_THREAD_SQL),
                                      [{"thread_id": t, "thread_created": now} for t in missing])
            groups: dict[str, list[dict[str, Any]]] = {}
            for w in allowed:
                sql, params = w.statement()
                groups.setdefault(sql, []).append(params)
            for sql, params_list in groups.items():
                await session.execute(text(sql), params_list)
        self.batches += 1
        self.writes += len(writes)


def _next_batch(pending: list[Pending]) -> tuple[list[Pending], list[Pending]]:
    """The longest prefix of ``pending`` (at most MAX_BATCH) in which every write of a
    step has the same thread and writer as the step's first write there (so they can be
    merged); the rest waits for the next batch."""
    seen: dict[str, tuple[str, str | None]] = {}
    for i, (write, _) in enumerate(pending):
        if i == MAX_BATCH:
            return pending[:i], pending[i:]
        key = (write.thread_id, write.writer)
        if seen.setdefault(write.step_id, key) != key:
            return pending[:i], pending[i:]
    return pending[:], []


def _merge(writes: list[StepWrite]) -> list[StepWrite]:
    """One write per step, in first-write order, each later write folded in."""
    merged: dict[str, StepWrite] = {}
    for w in writes:
        first = merged.get(w.step_id)
        if first is None:
            merged[w.step_id] = StepWrite(w.step_id, w.thread_id, w.writer, dict(w.params),
                                          set(w.update_keys))
        else:
            first.merge(w)
    return list(merged.values())


def _settle(batch: list[Pending], error: BaseException | None) -> None:
    """Wake the batch's callers (those still waiting) with ``error`` or success."""
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
