# mypy: disable-error-code="override"
"""The SQL plumbing under the data layer: Chainlit's SQLAlchemyDataLayer with statements
that are retried while the database is unreachable or locked, errors that are raised
(2.12 returned None) and logged without SQL or parameters, and a readiness probe.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.elements import TextClause

from chat.persistence.data_rows import utc_timestamp
from chat.persistence.db import configure_engine, ensure_sqlite_dir, retrying, run_retrying
from chat.persistence.step_writes import StepWriteQueue

log = logging.getLogger(__name__)
PING_RETRY_S = 1.0


class RetryingSQLLayer(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy data layer with retried, raising statements.

    Args:
        database_url: SQLAlchemy async URL (`sqlite+aiosqlite:///...`, `postgresql+asyncpg://...`).
        storage_provider: element storage (chat.persistence.storage.LocalStorageClient or Chainlit's S3).
        user_thread_limit: most threads returned for one user.
        retry_budget_s: seconds a statement is retried while the database is unreachable
            or locked (default chat.persistence.db.DB_RETRY_BUDGET_S).
        pool_size, max_overflow: connections kept / allowed on top on a server database
            (SQLAlchemy's QueuePool; its 5 + 10 ran out with 20 chat sessions on one
            instance in ``scripts/bench_load.py --instances 2``; :meth:`open_pool` opens
            the kept ones). Ignored on SQLite. The pool hands out the most recently
            returned connection first (``pool_use_lifo``): asyncpg prepares a statement
            once per connection, and round-robin over 30 connections prepared it on each
            (789 prepares for 1,604 statements in the two-instance load bench, 367 with
            LIFO; a prepare is one more round trip and a parse on the server).
    Raises (every method): sqlalchemy.exc.SQLAlchemyError when the database fails.
    """

    def __init__(
        self,
        database_url: str,
        storage_provider: BaseStorageClient | None = None,
        user_thread_limit: int = 1000,
        show_logger: bool = False,
        retry_budget_s: float | None = None,
        pool_size: int = 30,
        max_overflow: int = 0,
    ):
        ensure_sqlite_dir(database_url)
        self.retry_budget_s = retry_budget_s
        super().__init__(
            conninfo=database_url,
            storage_provider=storage_provider,
            user_thread_limit=user_thread_limit,
            show_logger=show_logger,
        )
        if self.engine.dialect.name != "sqlite":
            # Chainlit builds its engine with the default pool; nothing is connected yet
            self.engine = create_async_engine(database_url, pool_size=pool_size,
                                              max_overflow=max_overflow, pool_use_lifo=True)
            self.async_session = sessionmaker(bind=self.engine, expire_on_commit=False,
                                              class_=AsyncSession)  # type: ignore[call-overload]
        configure_engine(self.engine)
        #: single statements on a server database run in autocommit (``_run``);
        #: SQLite keeps its transaction (no round trips to save, and its locking differs)
        self._autocommit: AsyncEngine | None = (
            None if self.engine.dialect.name == "sqlite"
            else self.engine.execution_options(isolation_level="AUTOCOMMIT"))
        #: step writes, committed in batches (group commit)
        self.step_writes = StepWriteQueue(self.async_session, self.engine.dialect.name,
                                          retry_budget_s)
        self._thread_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # ---- SQL helpers ----
    async def execute_sql(self, query: str | TextClause, parameters: dict) -> list[dict] | int:
        """Run one statement in its own transaction, retried while the database is
        unreachable or locked (chat.persistence.db.run_retrying).

        Returns: the rows as dicts (UUIDs as str) for a query, else the affected row count.
        Raises: SQLAlchemyError (logged first); 2.12's version returned None instead.
        """
        statement = text(query) if isinstance(query, str) else query
        return await run_retrying(lambda: self._run(statement, parameters),
                                  self.retry_budget_s)

    async def _run(self, statement: TextClause, parameters: dict) -> list[dict] | int:
        """One statement: in autocommit on a server database (PostgreSQL runs a lone
        statement as its own transaction, so it is as atomic, in one round trip instead
        of BEGIN, statement, COMMIT: on the loop each round trip is a socket write whose
        loopback delivery the sender pays, a third of a web instance's loop CPU under
        ``scripts/bench_load.py --instances 2 --worker``, py-spy); in a transaction on
        SQLite."""
        try:
            if self._autocommit is not None:
                async with self._autocommit.connect() as conn:
                    return self._rows_or_count(await conn.execute(statement, parameters))
            async with self.async_session() as session, session.begin():
                return self._rows_or_count(await session.execute(statement, parameters))
        except SQLAlchemyError as error:
            log.error("SQL failed: %s", type(error).__name__)
            raise

    def _rows_or_count(self, result: Any) -> list[dict] | int:
        """The rows as dicts (UUIDs as str) of a query, else the affected row count."""
        if result.returns_rows:
            return self.clean_result([dict(r._mapping) for r in result.fetchall()])
        return result.rowcount

    async def _execute_many(self, statements: list[tuple[str | TextClause, dict]]) -> int:
        """Run several statements in one transaction (all or nothing), retried like
        execute_sql; returns the row count of the last one."""
        return await run_retrying(lambda: self._run_many(statements), self.retry_budget_s)

    async def _run_many(self, statements: list[tuple[str | TextClause, dict]]) -> int:
        count = 0
        async with self.async_session() as session:
            try:
                async with session.begin():
                    for query, params in statements:
                        stmt = text(query) if isinstance(query, str) else query
                        count = (await session.execute(stmt, params)).rowcount
                return count
            except SQLAlchemyError as error:
                log.error("SQL failed: %s", type(error).__name__)
                raise

    async def get_current_timestamp(self) -> str:
        return utc_timestamp()

    def _lock(self, locks: weakref.WeakValueDictionary, key: str) -> asyncio.Lock:
        lock = locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            locks[key] = lock
        return lock

    async def close(self) -> None:
        """Commit the queued step writes, close the storage client (errors logged:
        Chainlit's S3 close awaits None) and the engine."""
        await self.step_writes.flush()
        if self.storage_provider is not None:
            try:
                await self.storage_provider.close()
            except Exception as error:  # noqa: BLE001
                log.warning("storage close failed: %s", error)
        await self.engine.dispose()

    async def open_pool(self) -> int:
        """Open the pool's connections now (PostgreSQL; a no-op on SQLite), all at once.

        Opening a PostgreSQL connection costs the event loop a TLS probe, the start-up
        exchange and SQLAlchemy's type set-up, and the server a new backend process;
        opened lazily, the pool's connections were all opened in the first burst of
        sessions, on the loop, while it served them (``scripts/bench_load.py
        --instances 2 --worker``: 61 new backends in its first two seconds). Opened at
        start-up, the first burst runs like every later one.

        Returns: the connections opened (``pool_size``, fewer when the server refused
        some; that is logged as a warning naming ``DOCCHAT_DB_POOL_SIZE``, and the pool
        then opens connections on demand as before). Never raises for a refused
        connection: start-up has already reached the database (migrations).
        """
        if self.engine.dialect.name == "sqlite":
            return 0
        wanted = self.engine.pool.size()  # type: ignore[attr-defined]
        opened = await asyncio.gather(*(self.engine.connect().start() for _ in range(wanted)),
                                      return_exceptions=True)
        refused = [each for each in opened if isinstance(each, BaseException)]
        for each in opened:
            if not isinstance(each, BaseException):
                await each.close()  # back to the pool, still connected
        if refused:
            log.warning("opened %d of %d database connections (%s: %s): lower "
                        "DOCCHAT_DB_POOL_SIZE or raise PostgreSQL's max_connections",
                        wanted - len(refused), wanted, type(refused[0]).__name__,
                        str(refused[0]).splitlines()[0][:200] if str(refused[0]) else "")
        return wanted - len(refused)

    async def ping(self) -> dict:
        """Readiness check, retried only for PING_RETRY_S: on SQLite a write probe (an empty DELETE takes the
        write lock, so a database locked by another writer fails after the busy
        timeout), elsewhere one round-trip. Returns {"database": dialect}."""
        probe = ("DELETE FROM threads WHERE 1 = 0" if self.engine.dialect.name == "sqlite"
                 else "SELECT 1")
        async for attempt in retrying(PING_RETRY_S):  # a pooled connection the database
            with attempt:                             # dropped fails once, then reconnects
                await self._run(text(probe), {})
        return {"database": self.engine.dialect.name}
