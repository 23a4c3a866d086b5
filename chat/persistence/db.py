"""Database engines and Alembic migrations for the chat schema (SQLite and PostgreSQL).

`upgrade_database(url)` runs at app start-up; `python -m chat db upgrade|downgrade|current`
does the same from the terminal. Migrations live in chat/persistence/migrations (no alembic.ini needed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
# A statement that fails because the database is unreachable or locked is retried with
# exponential backoff (0.5 s doubling, at most 8 s apart) for this long in total.
DB_RETRY_BUDGET_S = 60.0


def is_sqlite(url: str) -> bool:
    """True when the SQLAlchemy URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a file-based SQLite database if missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def configure_engine(engine: AsyncEngine) -> AsyncEngine:
    """Apply per-connection settings: on SQLite, foreign keys on, WAL, a busy timeout.

    Args:
        engine: an async engine (any backend; non-SQLite engines are returned unchanged).
    Returns:
        The same engine.
    """
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An AsyncEngine for `url` (sqlite+aiosqlite or postgresql+asyncpg) with our settings.

    Args:
        url: SQLAlchemy async URL.
        **kwargs: passed to `create_async_engine`.
    """
    ensure_sqlite_dir(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
    return configure_engine(create_async_engine(url, **kwargs))


def alembic_config(url: str):
    """An Alembic Config bound to `url`, with the scripts in chat/persistence/migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = url
    return cfg


def _run_in_fresh_thread_if_loop(fn, *args):
    """Alembic's env.py uses asyncio.run: never call it on a thread with a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def upgrade_database_sync(url: str, revision: str = "head") -> None:
    """Upgrade the schema at `url` to `revision` (idempotent). Blocks; raises on failure."""
    from alembic import command

    ensure_sqlite_dir(url)
    _run_in_fresh_thread_if_loop(command.upgrade, alembic_config(url), revision)


def downgrade_database_sync(url: str, revision: str = "base") -> None:
    """Downgrade the schema at `url` to `revision` ("base" drops every table)."""
    from alembic import command

    _run_in_fresh_thread_if_loop(command.downgrade, alembic_config(url), revision)


def current_revision_sync(url: str) -> str | None:
    """The schema revision stored in the database, or None when never migrated."""

    async def _read() -> str | None:
        from alembic.runtime.migration import MigrationContext

        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: MigrationContext.configure(c).get_current_revision()
                )
        finally:
            await engine.dispose()

    return _run_in_fresh_thread_if_loop(asyncio.run, _read())


def head_revision() -> str:
    """The newest revision shipped in chat/persistence/migrations."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def upgrade_database(url: str, revision: str = "head") -> None:
    """Run the migrations up to `revision` in a worker thread (safe at app start-up).

    Idempotent: an up-to-date database is left unchanged.
    Raises: sqlalchemy/alembic errors when the database is unreachable or a migration fails.
    """
    await asyncio.to_thread(upgrade_database_sync, url, revision)


def is_transient(error: BaseException) -> bool:
    """True for failures that waiting may cure: the server unreachable or restarting,
    a dropped connection, SQLite's "database is locked"."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(error, (OperationalError, InterfaceError, OSError, *_connect_errors())):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def _connect_errors() -> tuple[type[BaseException], ...]:
    """asyncpg's errors of a server that refuses connections for now (starting, shutting
    down, the database closed to connections, too many clients); SQLAlchemy lets them
    through unwrapped when they happen while connecting."""
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - SQLite-only installs
        return ()
    return (pg.PostgresConnectionError, pg.CannotConnectNowError,
            pg.ObjectNotInPrerequisiteStateError, pg.TooManyConnectionsError,
            pg.InterfaceError)


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """What a statement raises when the database cannot be reached: SQLAlchemy's errors,
    plus the socket errors and asyncpg's connect-time errors SQLAlchemy lets through
    unwrapped (:func:`_connect_errors`). Callers map them to "unavailable" (503)."""
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError, *_connect_errors())


#: the wait after the first failed try; it doubles per try, up to RETRY_MAX_WAIT_S
RETRY_FIRST_WAIT_S = 0.5
RETRY_MAX_WAIT_S = 8.0


def retrying(budget_s: float | None = None, first_attempt: int = 1):
    """A tenacity AsyncRetrying that retries transient database errors (is_transient)
    with exponential backoff for ``budget_s`` seconds (DB_RETRY_BUDGET_S), logging
    each retry, then re-raises the last error. ``first_attempt``: the number of its first
    try when earlier ones already failed (the backoff and the log go on from there)."""
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

    offset = first_attempt - 1

    def before_sleep(state) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("database unavailable (%s), retry %d", type(error).__name__,
                    state.attempt_number + offset)

    return AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=RETRY_FIRST_WAIT_S * 2 ** offset,
                              max=RETRY_MAX_WAIT_S),
        stop=stop_after_delay(DB_RETRY_BUDGET_S if budget_s is None else budget_s),
        before_sleep=before_sleep, reraise=True)


async def run_retrying(call: Callable[[], Awaitable[T]], budget_s: float | None = None) -> T:
    """``await call()``, retried like :func:`retrying` (same waits, log lines and
    budget, ``budget_s`` seconds from the first try) when it fails with a transient
    error; any other error, or the last one past the budget, is raised.

    The first try runs without tenacity: an AsyncRetrying is a reference cycle of some
    40 objects that only the cyclic garbage collector frees, and one per statement made
    most of what the web instances' full collections freed under load (~1,300 per
    instance in a 16 s window of ``scripts/bench_load.py --instances 2 --worker``;
    README, "The app under load"). Only a try that failed builds one.
    """
    budget = DB_RETRY_BUDGET_S if budget_s is None else budget_s
    started = time.monotonic()
    try:
        return await call()
    except Exception as error:
        if not is_transient(error) or time.monotonic() - started >= budget:
            raise
        log.warning("database unavailable (%s), retry 1", type(error).__name__)
    await asyncio.sleep(RETRY_FIRST_WAIT_S)
    remaining = max(0.0, budget - (time.monotonic() - started))
    async for attempt in retrying(remaining, first_attempt=2):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover - tenacity re-raises
