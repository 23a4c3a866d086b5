"""Fixtures for the persistence tests: real SQLite files and a real PostgreSQL database.

PostgreSQL: one uniquely named database per test session on 127.0.0.1:5432 (trust auth,
created from the `test` database, dropped at the end); PG_ADMIN_URL overrides the server.
Tests use unique ids, so they share the migrated database; tests that need an empty one
ask for `fresh_db_url`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from chat.persistence.db import upgrade_database_sync

PG_ADMIN_DSN = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, object] = {}


def _pg_execute(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _pg_available() -> bool:
    if "ok" not in _pg_state:
        try:
            _pg_execute("SELECT 1")
            _pg_state["ok"] = True
        except Exception as error:  # noqa: BLE001 - any failure means "no server"
            _pg_state["ok"] = False
            _pg_state["why"] = f"PostgreSQL at {PG_ADMIN_DSN} unavailable: {error}"
    return bool(_pg_state["ok"])


def _async_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{database}"


def create_pg_database() -> tuple[str, str]:
    """Create a uniquely named database; returns (name, async SQLAlchemy URL)."""
    name = f"docchat_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    return name, _async_url(name)


def drop_pg_database(name: str) -> None:
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgresql_session_url():
    """Async URL of this session's migrated PostgreSQL database (skips without a server)."""
    if not _pg_available():
        pytest.skip(str(_pg_state["why"]))
    name, url = create_pg_database()
    try:
        upgrade_database_sync(url)
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_session_url(tmp_path_factory):
    """Async URL of this session's migrated SQLite file."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'chat.db'}"
    upgrade_database_sync(url)
    return url


@pytest.fixture
def own_pg_database():
    """A migrated PostgreSQL database of the test's own (an outage must not reach the
    session's shared one), dropped after it; yields (name, async URL)."""
    if not _pg_available():
        pytest.skip(str(_pg_state["why"]))
    name, url = create_pg_database()
    try:
        upgrade_database_sync(url)
        yield name, url
    finally:
        drop_pg_database(name)


@pytest.fixture
def pg_admin_dsn() -> str:
    """The PostgreSQL admin DSN (libpq form; ``PG_ADMIN_URL`` overrides it)."""
    return PG_ADMIN_DSN


@pytest.fixture
def pg_execute():
    """Run one statement as the PostgreSQL admin (blocking: call it in a thread from a
    running loop)."""
    return _pg_execute


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """A migrated database on each engine (shared by the session: use unique ids)."""
    return request.getfixturevalue(f"{request.param}_session_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request, tmp_path: Path):
    """An empty, never migrated database on each engine, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    if not _pg_available():
        pytest.skip(str(_pg_state["why"]))
    name, url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
async def data_layer(db_url, tmp_path):
    """A DocChatDataLayer with local storage in tmp_path/files, closed after the test."""
    from chat.persistence.data_layer import DocChatDataLayer
    from chat.persistence.storage import LocalStorageClient

    layer = DocChatDataLayer(db_url, storage_provider=LocalStorageClient(tmp_path / "files"))
    yield layer
    await layer.close()


@pytest.fixture
async def user(data_layer):
    """A persisted Chainlit user with a unique identifier."""
    from chainlit.user import User

    return await data_layer.create_user(User(identifier=f"user-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def chainlit_data_layer(data_layer, monkeypatch):
    """Make `data_layer` the one Chainlit's get_data_layer() returns."""
    import chainlit.data as cl_data

    monkeypatch.setattr(cl_data, "_data_layer", data_layer)
    monkeypatch.setattr(cl_data, "_data_layer_initialized", True)
    return data_layer
