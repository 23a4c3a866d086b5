"""The chat's PostgreSQL connection pool, opened at start-up (RetryingSQLLayer.open_pool)
on a real server: every kept connection opened before the first session, none opened
under load afterwards, and a server that refuses some leaves a warning, not a crash."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from chat.persistence.data_layer import DocChatDataLayer


async def backends(admin_dsn: str, database: str) -> set[int]:
    """The server process ids of the client connections to ``database``."""
    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 "
                                "AND backend_type = 'client backend'", database)
        return {row["pid"] for row in rows}
    finally:
        await conn.close()


async def test_open_pool_opens_every_kept_connection_and_load_opens_none(own_pg_database, pg_admin_dsn):
    """Before: no connection. After open_pool: pool_size of them. A burst of twice as
    many concurrent statements then runs on those same server processes."""
    name, url = own_pg_database
    layer = DocChatDataLayer(url, pool_size=6, max_overflow=0)
    try:
        assert await backends(pg_admin_dsn, name) == set()
        assert await layer.open_pool() == 6
        opened = await backends(pg_admin_dsn, name)
        assert len(opened) == 6
        results = await asyncio.gather(*(layer.execute_sql(
            "SELECT pg_backend_pid() AS pid FROM pg_sleep(0.05)", {}) for _ in range(12)))
        assert {rows[0]["pid"] for rows in results} <= opened
        assert await backends(pg_admin_dsn, name) == opened
    finally:
        await layer.close()


async def test_one_statement_at_a_time_reuses_one_warm_connection(own_pg_database):
    """Sequential statements all run on the connection returned last (LIFO), so asyncpg
    prepares each statement once; round-robin over the opened pool used every
    connection in turn and prepared the same statement on each of them."""
    _, url = own_pg_database
    layer = DocChatDataLayer(url, pool_size=6, max_overflow=0)
    try:
        assert await layer.open_pool() == 6
        pids = [(await layer.execute_sql("SELECT pg_backend_pid() AS pid", {}))[0]["pid"]
                for _ in range(8)]
        assert len(set(pids)) == 1, pids
    finally:
        await layer.close()


async def test_open_pool_on_sqlite_opens_nothing(tmp_path):
    layer = DocChatDataLayer(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        assert await layer.open_pool() == 0
    finally:
        await layer.close()


async def test_open_pool_refused_by_the_server_warns_and_keeps_serving(
        own_pg_database, pg_admin_dsn, pg_execute, caplog):
    """A role allowed 3 connections and a pool of 5: 3 are opened, the warning names the
    setting to lower, and the data layer still answers."""
    name, url = own_pg_database
    role = f"docchat_limited_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(pg_execute, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 3')
    layer = DocChatDataLayer(make_url(url).set(username=role).render_as_string(hide_password=False), pool_size=5,
                             max_overflow=0)
    try:
        with caplog.at_level(logging.WARNING, logger="chat.persistence.sql_layer"):
            assert await layer.open_pool() == 3
        warning = " ".join(r.getMessage() for r in caplog.records)
        assert "opened 3 of 5 database connections" in warning
        assert "DOCCHAT_DB_POOL_SIZE" in warning
        assert len(await backends(pg_admin_dsn, name)) == 3
        assert await layer.execute_sql("SELECT 1 AS one", {}) == [{"one": 1}]
    finally:
        await layer.close()
        await asyncio.to_thread(pg_execute, f'DROP ROLE "{role}"')


async def test_prepare_app_opens_the_pool(own_pg_database, pg_admin_dsn, tmp_path,
                                    monkeypatch):
    """Start-up (chat.auth.prepare_app) opens DOCCHAT_DB_POOL_SIZE connections."""
    from chat import auth
    from chat.config import get_settings

    name, url = own_pg_database
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DOCCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCCHAT_DB_POOL_SIZE", "4")
    monkeypatch.setenv("DOCCHAT_BOOTSTRAP_ADMIN", "false")
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 64)
    get_settings.cache_clear()
    auth.reset_app_data_layer()
    try:
        context = await auth.prepare_app()
        try:
            assert len(await backends(pg_admin_dsn, name)) == 4
        finally:
            await context.data_layer.close()
    finally:
        auth.reset_app_data_layer()
        get_settings.cache_clear()

