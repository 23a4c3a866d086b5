"""Database faults against a real ``chainlit run``: PostgreSQL going away, SQLite locked.

PostgreSQL refuses connections to the test's database and drops the open ones (the
server itself is shared and stays up); SQLite is locked by another connection holding a write
transaction, as a second process would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from conftest import _pg_available, _pg_execute, create_pg_database, drop_pg_database
from e2e_support import AppServer, ChatClient, login_cookies, no_llm_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
PASSWORD = "alice-password-1"
SQL_WORDS = ("INSERT INTO", "SELECT ", "UPDATE ", "[SQL", "parameters:", "sqlite3.", "asyncpg")


class Outage:
    """PostgreSQL unavailable for one database: new connections refused
    (ALLOW_CONNECTIONS false) and every open one terminated; ``end`` restores it."""

    def __init__(self, database: str) -> None:
        self.database = database

    def start(self) -> None:
        _pg_execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        _pg_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{self.database}'")

    def end(self) -> None:
        _pg_execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')


def req(method: str, url: str, **kwargs) -> httpx.Response:
    """One blocking HTTP request (the tests drive one server; blocking is fine here)."""
    return httpx.request(method, url, **kwargs)


def no_sql_shown(client: ChatClient) -> None:
    shown = [str(data) for event, data in client.events
             if event in ("new_message", "update_message", "stream_token")]
    for text in shown:
        assert not any(word in text for word in SQL_WORDS), text


async def talk(app: AppServer, cookies: dict, text: str) -> ChatClient:
    client = await ChatClient(app.url, cookies).connect()
    try:
        await client.send(text)
        await client.wait_for(lambda c: c.task_ended(), timeout=240)
    finally:
        await client.close()
    return client


def outputs(app: AppServer, cookies: dict, thread_id: str, wait_for: str = "",
            timeout: float = 30.0) -> list[str]:
    """The outputs of the thread's saved steps; with ``wait_for``, read again (for up to
    ``timeout`` s) until one of them is ``wait_for``: writes that waited for the database
    land in any order within moments of its return, so one read may come before them."""
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.get(f"{app.url}/project/thread/{thread_id}", cookies=cookies, timeout=60)
        assert resp.status_code == 200, resp.text
        saved = [s.get("output") or "" for s in resp.json()["steps"]]
        if wait_for in saved or not wait_for or time.monotonic() > deadline:
            return saved
        time.sleep(0.5)


@pytest.fixture
def pg_app(tmp_path):
    if not _pg_available():
        pytest.skip("PostgreSQL unavailable")
    name, url = create_pg_database()
    outage = Outage(name)
    app = AppServer(tmp_path, env_extra={**no_llm_env(), "DATABASE_URL": url})
    try:
        app.add_user("alice", PASSWORD)
        app.start()
        yield app, outage
    finally:
        app.stop()
        outage.end()
        drop_pg_database(name)


async def test_postgresql_down_login_unavailable_ready_fails_turn_saved_later(pg_app):
    app, outage = pg_app
    cookies = login_cookies(app.url, "alice", PASSWORD)
    client = await ChatClient(app.url, cookies).connect()
    await asyncio.to_thread(outage.start)
    try:
        login = req("POST", f"{app.url}/login", timeout=60,
                           data={"username": "alice", "password": PASSWORD})
        assert login.status_code == 503 and "unavailable" in login.json()["detail"]
        assert req("GET", f"{app.url}/ready", timeout=60).status_code == 503
        await client.send("What can you do while the database sleeps?")
        back = threading.Timer(8.0, outage.end)  # the database returns during the turn
        back.start()
        await client.wait_for(lambda c: c.task_ended(), timeout=240)
    finally:
        await client.close()
    back.join()
    no_sql_shown(client)
    assert req("GET", f"{app.url}/ready", timeout=60).status_code == 200
    question = "What can you do while the database sleeps?"
    saved = outputs(app, login_cookies(app.url, "alice", PASSWORD), client.started_thread,
                    wait_for=question)
    assert question in saved
    replies = [s for s in client.named("new_message") if s.get("type") == "assistant_message"]
    assert replies and any(r["output"] in saved for r in replies)


@pytest.fixture
def sqlite_app(tmp_path):
    app = AppServer(tmp_path, env_extra={**no_llm_env(), "DOCCHAT_DB_RETRY_S": "40"})
    app.add_user("alice", PASSWORD)
    app.start()
    try:
        yield app
    finally:
        app.stop()


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection holding SQLite's write lock for ``seconds``."""
    started = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        started.set()
        threading.Event().wait(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    started.wait(10)
    return thread


async def test_sqlite_locked_ready_fails_no_sql_shown_turn_saved(sqlite_app):
    app = sqlite_app
    cookies = login_cookies(app.url, "alice", PASSWORD)
    client = await ChatClient(app.url, cookies).connect()
    lock = hold_write_lock(app.data_dir / "chat.db", 25)
    try:
        assert req("GET", f"{app.url}/ready", timeout=60).status_code == 503
        await client.send("Tell me what you can do with a locked database")
        await client.wait_for(lambda c: c.task_ended(), timeout=240)
    finally:
        await client.close()
        lock.join()
    no_sql_shown(client)
    assert req("GET", f"{app.url}/ready", timeout=60).status_code == 200
    question = "Tell me what you can do with a locked database"
    saved = outputs(app, cookies, client.started_thread, wait_for=question)
    assert question in saved


async def test_sqlite_locked_past_the_retries_says_the_turn_was_not_saved(tmp_path):
    app = AppServer(tmp_path, env_extra={**no_llm_env(), "DOCCHAT_DB_RETRY_S": "3"})
    app.add_user("alice", PASSWORD)
    app.start()
    try:
        cookies = login_cookies(app.url, "alice", PASSWORD)
        client = await ChatClient(app.url, cookies).connect()
        lock = hold_write_lock(app.data_dir / "chat.db", 45)
        try:
            await client.send("Is anything saved while locked?")
            await client.wait_for(lambda c: c.task_ended(), timeout=240)
        finally:
            await client.close()
            lock.join()
    finally:
        app.stop()
    no_sql_shown(client)
    texts = [m.get("output", "") for m in client.named("new_message")]
    assert any("could not be saved" in t for t in texts), texts
