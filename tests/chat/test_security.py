"""The cross-user leaks and fault paths of issue 9, against a real ``chainlit run``.

Each test reproduces one finding of the attack run against a real server (its own data
dir, users added with ``python -m chat users add``, logins through POST /login, sockets
through socket.io) on SQLite and, where the data layer is involved, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from conftest import _pg_available, create_pg_database, drop_pg_database
from e2e_support import ROOT, AppServer, ChatClient, FakeLLM, fake_llm_env, login_cookies

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
USERS = {"alice": "alice-password-1", "bob": "bob-password-22"}
THROTTLED = "target"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A real app on each engine with alice, bob and a user to throttle."""
    data_dir = tmp_path_factory.mktemp(f"security-{request.param}")
    env = {"DOCCHAT_LOGIN_LIMIT_USER": "3/minute", "DOCCHAT_LOGIN_LIMIT_ADDRESS": "1000/minute"}
    pg_name = None
    if request.param == "postgresql":
        if not _pg_available():
            pytest.skip("PostgreSQL unavailable")
        pg_name, url = create_pg_database()
        env["DATABASE_URL"] = url
    fake = FakeLLM(needle="Heliotrope", delay=0.01).start()
    app = AppServer(data_dir, env_extra={**fake_llm_env(fake.port), **env})
    try:
        for name, password in {**USERS, THROTTLED: "target-password-1"}.items():
            app.add_user(name, password)
        app.start()
        yield app
    finally:
        app.stop()
        fake.stop()
        if pg_name:
            drop_pg_database(pg_name)


def req(method: str, url: str, **kwargs) -> httpx.Response:
    """One blocking HTTP request (the tests drive one server; blocking is fine here)."""
    kwargs.setdefault("timeout", 30)
    return httpx.request(method, url, **kwargs)


def cookies_of(app: AppServer, name: str) -> dict[str, str]:
    return login_cookies(app.url, name, USERS[name])


def users_cli(app: AppServer, *args: str, password: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "chat", "users", *args,
                           *(["--password-stdin"] if password else [])],
                          input=(password or "") + "\n", text=True, cwd=ROOT, env=app.env(),
                          capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def ask(app: AppServer, cookies: dict, text: str, files: list[Path] = ()) -> ChatClient:
    client = await ChatClient(app.url, cookies).connect()
    try:
        refs = [await client.upload(f, "application/pdf" if f.suffix == ".pdf" else "text/html")
                for f in files]
        await client.send(text, files=refs or None)
        await client.wait_for(lambda c: c.task_ended(), timeout=300)
    finally:
        await client.close()
    return client


def thread_of(app: AppServer, cookies: dict, thread_id: str) -> dict:
    resp = httpx.get(f"{app.url}/project/thread/{thread_id}", cookies=cookies, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def share(app: AppServer, cookies: dict, thread_id: str, value: bool) -> None:
    resp = httpx.put(f"{app.url}/project/thread/share", cookies=cookies, timeout=30,
                     json={"threadId": thread_id, "isShared": value})
    assert resp.status_code == 200, resp.text


# --- 1. stored XSS through /files; 9. CSP -----------------------------------------------
async def test_uploaded_html_is_a_sandboxed_download(server, tmp_path):
    alice = cookies_of(server, "alice")
    page = tmp_path / "page.html"
    page.write_text("<html><body><h1>Notes</h1><script>fetch('/project/threads')</script>"
                    "<p>Some text about the Heliotrope reactor.</p></body></html>")
    client = await ask(server, alice, "", files=[page])
    thread = thread_of(server, alice, client.started_thread)
    files = [e for e in thread["elements"] if e["name"] == "page.html"]
    assert files and files[0]["url"].startswith("/files/")
    resp = req("GET", server.url + files[0]["url"], cookies=alice, timeout=30)
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith("attachment")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in resp.headers["content-security-policy"]
    assert "default-src 'none'" in resp.headers["content-security-policy"]


def test_every_page_carries_a_csp_without_inline_script_or_remote_images(server):
    for path in ("/", "/login", "/project/settings?language=en-US"):
        resp = httpx.get(server.url + path, timeout=30)
        csp = resp.headers.get("content-security-policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ") if d}
        assert directives.get("img-src") == ["'self'", "data:", "blob:"], (path, csp)
        assert "'unsafe-inline'" not in directives["script-src"], csp
        assert resp.headers["x-content-type-options"] == "nosniff"


# --- 4. CORS -------------------------------------------------------------------------------
async def test_other_origins_get_no_cors_and_no_socket(server):
    alice = cookies_of(server, "alice")
    evil = "http://127.0.0.1:1"
    resp = req("POST", f"{server.url}/project/threads", cookies=alice, timeout=30,
                      headers={"Origin": evil},
                      json={"pagination": {"first": 20}, "filter": {}})
    assert "access-control-allow-origin" not in resp.headers
    pre = req("OPTIONS", f"{server.url}/project/threads", timeout=30, headers={
        "Origin": evil, "Access-Control-Request-Method": "POST"})
    assert pre.headers.get("access-control-allow-origin") is None
    same = req("POST", f"{server.url}/project/threads", cookies=alice, timeout=30,
                      headers={"Origin": server.url},
                      json={"pagination": {"first": 20}, "filter": {}})
    assert same.status_code == 200

    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(server.url, socketio_path="/ws/socket.io", transports=["websocket"],
                          headers={"Cookie": "; ".join(f"{k}={v}" for k, v in alice.items()),
                                   "Origin": evil},
                          auth={"sessionId": str(uuid.uuid4()), "clientType": "webapp",
                                "userEnv": "{}", "chatProfile": None, "threadId": None},
                          wait_timeout=15)


# --- 10. Secure cookies -----------------------------------------------------------------
def test_login_cookie_is_secure_over_https(server):
    form = {"username": "bob", "password": USERS["bob"]}
    https = httpx.post(f"{server.url}/login", data=form, timeout=30,
                       headers={"X-Forwarded-Proto": "https"})
    assert https.status_code == 200
    assert "secure" in https.headers["set-cookie"].lower()
    plain = httpx.post(f"{server.url}/login", data=form, timeout=30)
    assert "secure" not in plain.headers["set-cookie"].lower()


# --- 2. step ids taken over; 6. feedback; 5. shared view ---------------------------------
async def test_step_ids_from_a_share_cannot_move_steps(server):
    alice, bob = cookies_of(server, "alice"), cookies_of(server, "bob")
    client = await ask(server, alice, "hello there")
    thread_id = client.started_thread
    share(server, alice, thread_id, True)
    shared = req("GET", f"{server.url}/project/share/{thread_id}", cookies=bob, timeout=30)
    ids = [s["id"] for s in shared.json()["steps"]]
    question = next(s for s in shared.json()["steps"] if s["type"] == "user_message")
    share(server, alice, thread_id, False)

    thief = await ChatClient(server.url, bob).connect()
    try:
        for step_id in ids[:3]:
            thief._sent_at = len(thief.events)
            await thief.sio.emit("client_message", {"message": {
                "id": step_id, "threadId": "", "output": "stolen", "name": "User",
                "type": "user_message", "createdAt": question["createdAt"]}})
            await thief.wait_for(lambda c: c.task_ended(), timeout=120)
    finally:
        await thief.close()
    await asyncio.sleep(2)  # Chainlit writes steps in background tasks
    after = thread_of(server, alice, thread_id)
    kept = {s["id"]: s for s in after["steps"]}
    assert set(ids) <= set(kept), "a step left alice's thread"
    assert kept[question["id"]]["output"] == "hello there"
    assert not any(s.get("output") == "stolen" for s in after["steps"])


async def test_feedback_of_another_users_thread_is_refused(server):
    alice, bob = cookies_of(server, "alice"), cookies_of(server, "bob")
    client = await ask(server, alice, "hello again")
    thread = thread_of(server, alice, client.started_thread)
    answer = [s for s in thread["steps"] if s["type"] == "assistant_message"][-1]
    put = req("PUT", f"{server.url}/feedback", cookies=alice, timeout=30, json={
        "sessionId": client.session_id,
        "feedback": {"forId": answer["id"], "value": 1, "comment": "good"}})
    assert put.status_code == 200, put.text
    feedback_id = put.json()["feedbackId"]
    forged = req("PUT", f"{server.url}/feedback", cookies=bob, timeout=30, json={
        "sessionId": str(uuid.uuid4()), "feedback": {"id": feedback_id, "forId": answer["id"], "value": 0, "comment": "bad"}})
    deleted = req("DELETE", f"{server.url}/feedback", cookies=bob, timeout=30,
                            json={"feedbackId": feedback_id})
    assert forged.status_code == 404 and deleted.status_code == 404
    rated = next(s for s in thread_of(server, alice, client.started_thread)["steps"]
                 if s["id"] == answer["id"])
    assert rated["feedback"]["value"] == 1 and rated["feedback"]["comment"] == "good"


async def test_shared_view_shows_only_messages_and_cited_passages(server, report_pdf):
    alice, bob = cookies_of(server, "alice"), cookies_of(server, "bob")
    client = await ask(server, alice, "How often must the Heliotrope reactor be inspected?",
                       files=[report_pdf])
    thread_id = client.started_thread
    own = thread_of(server, alice, thread_id)
    retrieve = [s for s in own["steps"] if s["name"].startswith("Searching your documents")]
    details = [s for s in own["steps"] if s["name"] == "Details"
               and s["parentId"] == retrieve[0]["id"]]
    assert details and "blue binder" in details[0]["output"]  # the author sees all
    share(server, alice, thread_id, True)
    seen = req("GET", f"{server.url}/project/share/{thread_id}", cookies=bob, timeout=30).json()
    for step in seen["steps"]:
        if step["type"] not in ("user_message", "assistant_message"):
            assert not step["output"] and not step["input"], step["name"]
    assert "memory" not in seen["metadata"]
    message_ids = {s["id"] for s in seen["steps"]}
    assert all(e["forId"] in message_ids for e in seen["elements"])
    assert any(e["name"] == "[1]" for e in seen["elements"])


# --- 7. removed users; 3. their documents -------------------------------------------------
async def test_removed_user_token_and_socket_are_refused(server):
    users_cli(server, "add", "dave", password="dave-password-1")
    dave = login_cookies(server.url, "dave", "dave-password-1")
    assert req("GET", f"{server.url}/user", cookies=dave, timeout=30).status_code == 200
    users_cli(server, "passwd", "dave", password="dave-password-2")
    assert req("GET", f"{server.url}/user", cookies=dave, timeout=30).status_code == 401
    dave = login_cookies(server.url, "dave", "dave-password-2")
    await (await ChatClient(server.url, dave).connect()).close()
    users_cli(server, "remove", "dave")
    assert req("GET", f"{server.url}/user", cookies=dave, timeout=30).status_code == 401
    import socketio

    with pytest.raises((socketio.exceptions.ConnectionError, TimeoutError)):
        await ChatClient(server.url, dave).connect()
    users_cli(server, "add", "dave", password="dave-password-3")  # the name, reused
    assert req("GET", f"{server.url}/user", cookies=dave, timeout=30).status_code == 401


async def test_open_socket_of_a_removed_user_is_closed_on_its_next_message(server):
    """A chat opened before ``users remove`` can send nothing more: the next message is
    refused (socket disconnected, no reply, nothing persisted)."""
    users_cli(server, "add", "frank", password="frank-password-1")
    frank = login_cookies(server.url, "frank", "frank-password-1")
    chat = await ChatClient(server.url, frank).connect()
    try:
        users_cli(server, "remove", "frank")
        await chat.send("Hello after removal: how often is the reactor inspected?")
        for _ in range(100):
            if not chat.sio.connected:
                break
            await asyncio.sleep(0.1)
        assert not chat.sio.connected
        after_send = chat.events[chat._sent_at:]
        assert not [e for e, _ in after_send if e in ("new_message", "stream_start")]
    finally:
        if chat.sio.connected:
            await chat.close()


async def test_users_remove_deletes_their_documents(server, report_pdf):
    users_cli(server, "add", "erin", password="erin-password-1")
    erin = login_cookies(server.url, "erin", "erin-password-1")
    erin_id = req("GET", f"{server.url}/user", cookies=erin).json()["id"]
    await ask(server, erin, "", files=[report_pdf])
    registry = _registry(server)
    # owned by the stable user id, never by the reusable login name
    assert _count(registry, "documents", erin_id) == 1
    assert _count(registry, "chunks", erin_id) > 0
    assert _count(registry, "documents", "erin") == _count(registry, "chunks", "erin") == 0
    out = users_cli(server, "remove", "erin")
    assert _count(registry, "documents", erin_id) == _count(registry, "chunks", erin_id) == 0
    assert "1 indexed documents deleted" in out
    users_cli(server, "add", "erin", password="erin-password-2")
    erin = login_cookies(server.url, "erin", "erin-password-2")
    client = await ChatClient(server.url, erin).connect()
    try:
        await client.send("List my documents", command="Documents")
        await client.wait_for(lambda c: c.task_ended(), timeout=120)
    finally:
        await client.close()
    texts = [s.get("output", "") for s in client.named("new_message")]
    assert any("no documents yet" in t for t in texts), texts


def _registry(app: AppServer) -> Path | str:
    """Where the app's document registry and keyword rows are: its PostgreSQL database
    (DATABASE_URL, tables rag_documents / rag_chunks) or the SQLite keyword index file."""
    url = app.env_extra.get("DATABASE_URL")
    return url.replace("postgresql+asyncpg://", "postgresql://") if url else _keyword_db(app)


def _keyword_db(app: AppServer) -> Path:
    found = [p for p in app.data_dir.rglob("*.db") if p.name != "chat.db"
             and "chroma" not in p.name]
    for path in found:
        with sqlite3.connect(path) as conn:
            if conn.execute("SELECT name FROM sqlite_master WHERE name = 'documents'").fetchone():
                return path
    raise AssertionError(f"no keyword index among {found}")


def _count(path: Path | str, table: str, owner: str) -> int:
    if isinstance(path, str):  # PostgreSQL: the rag_ tables (rag.store.pg_registry)
        import psycopg

        with psycopg.connect(path) as conn:
            return conn.execute(f"SELECT count(*) FROM rag_{table} WHERE owner = %s",
                                (owner,)).fetchone()[0]
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE owner = ?", (owner,)).fetchone()[0]


# --- 8. login throttling --------------------------------------------------------------
def test_failed_logins_are_throttled_with_429_and_logged(server):
    codes = [httpx.post(f"{server.url}/login", timeout=30, data={
        "username": THROTTLED, "password": f"wrong-{i}"}).status_code for i in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429], codes
    right = httpx.post(f"{server.url}/login", timeout=30, data={
        "username": THROTTLED, "password": "target-password-1"})
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    assert server.log().count(f"login failed for '{THROTTLED}'") >= 3
    assert httpx.post(f"{server.url}/login", timeout=30, data={
        "username": "bob", "password": USERS["bob"]}).status_code == 200
