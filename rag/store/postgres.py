"""The PostgreSQL database of the keyword index and the document registry.

Used when ``DATABASE_URL`` is PostgreSQL (``rag.store.backend.open_index``): the tables
``rag_documents`` and ``rag_chunks`` live in the app's database beside the chat tables,
so every process pointed at it (app instances, CLIs, workers) sees the same documents.
Rows carry the store's ``collection`` (``<RAG_COLLECTION>_<embedder>``, the name the
SQLite file takes), so stores of different embedders never mix.

Driver: psycopg 3 with a ``psycopg_pool.ConnectionPool`` (synchronous: the store is
called from worker threads). The schema is migrated by Alembic from
``rag/store/migrations`` (see :func:`upgrade_schema`). Every method blocks: call it in a
worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Alembic's version table of the rag schema (the chat schema keeps ``alembic_version``)
VERSION_TABLE = "rag_alembic_version"
#: connections per process: the store's callers are a few worker threads
POOL_MAX_SIZE = 4
#: seconds to wait for the first connection before failing with the server's error
CONNECT_TIMEOUT_S = 10.0


def is_postgres(url: str | None) -> bool:
    """True when ``url`` (a SQLAlchemy or libpq URL) names a PostgreSQL database."""
    if not url:
        return False
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except Exception:  # noqa: BLE001 - not a URL at all: not PostgreSQL
        return False


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://u:p@h/db`` (any driver) -> ``postgresql://u:p@h/db`` for
    psycopg. Raises ValueError when ``url`` is not PostgreSQL."""
    if not is_postgres(url):
        raise ValueError(f"DATABASE_URL {url!r} is not a PostgreSQL URL")
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    """The URL with SQLAlchemy's synchronous psycopg 3 driver (for Alembic)."""
    return make_url(libpq_url(url)).set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False)


def alembic_config(url: str) -> Any:
    """An Alembic Config for the rag schema at ``url`` (scripts in rag/store/migrations,
    version table :data:`VERSION_TABLE`)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = sqlalchemy_url(url)
    return cfg


def upgrade_schema(url: str, revision: str = "head") -> None:
    """Migrate the rag tables at ``url`` to ``revision`` (idempotent; concurrent callers
    wait on an advisory lock). Blocks; raises the driver's error when unreachable."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade_schema(url: str, revision: str = "base") -> None:
    """Downgrade the rag tables at ``url`` (``base`` drops them)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


class PostgresDB:
    """A connection pool over one PostgreSQL database, scoped to one ``collection``.

    Args:
        url: any PostgreSQL URL (``postgresql+asyncpg://`` is accepted and converted).
        collection: the store's name; every row read or written carries it.
        migrate: run :func:`upgrade_schema` first.
    Raises:
        rag.errors.StoreUnavailableError: the server is unreachable within
            :data:`CONNECT_TIMEOUT_S` or the migration failed (the message names the
            database, password hidden, and the cause).
    """

    def __init__(self, url: str, collection: str, migrate: bool = True) -> None:
        from psycopg_pool import ConnectionPool

        self.collection = collection
        self.url = libpq_url(url)
        self._closed = threading.Event()
        self.pool = ConnectionPool(self.url, min_size=1, max_size=POOL_MAX_SIZE,
                                   kwargs={"autocommit": True, "connect_timeout": 5},
                                   open=False, name=f"rag-{collection}")
        try:
            if migrate:
                upgrade_schema(url)
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except Exception as error:  # every cause gets the same advice
            self.pool.close()
            raise _unavailable(url, error) from error

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A pooled connection inside BEGIN ... COMMIT (ROLLBACK on any error)."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``%s`` placeholders) and fetch all rows."""
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the pool (idempotent)."""
        if not self._closed.is_set():
            self._closed.set()
            self.pool.close()


def _unavailable(url: str, error: BaseException) -> Exception:
    from rag.errors import StoreUnavailableError

    shown = make_url(libpq_url(url)).render_as_string(hide_password=True)
    cause = " ".join(str(error).split())[:300] or type(error).__name__
    return StoreUnavailableError(
        f"the keyword index and document registry database {shown} (DATABASE_URL) "
        f"cannot be used: {cause}. Start PostgreSQL or fix DATABASE_URL (unset it for "
        f"the embedded SQLite store).")
