"""Protocol: a real ``chainlit run app.py`` on 127.0.0.1, driven over socket.io.

A user is created with ``python -m chat users add``, logs in with POST /login, uploads
a PDF as the browser does (POST /project/file), sends a question over socket.io and
receives the indexing step, the flow's steps and the answer as ``stream_token`` events.
The answer comes from a scripted OpenAI-compatible server at its wire protocol.
Sharing is checked through Chainlit's REST API with three users.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_support import AppServer, ChatClient, FakeLLM, fake_llm_env, login_cookies  # noqa: E402
from test_handlers import FACT, report_pdf  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
USERS = {"alice": "alice-password-1", "bob": "bob-password-22", "carol": "carol-password-333"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("protocol-data")
    fake = FakeLLM(needle="Heliotrope", delay=0.02).start()
    app = AppServer(data_dir, env_extra=fake_llm_env(fake.port))
    try:
        for name, password in USERS.items():
            app.add_user(name, password)
        app.start()
        yield app, fake
    finally:
        app.stop()
        fake.stop()


def test_wrong_password_and_anonymous_socket_are_refused(server):
    app, _ = server
    resp = httpx.post(f"{app.url}/login", data={"username": "alice", "password": "nope"})
    assert resp.status_code == 401
    assert httpx.get(f"{app.url}/health").status_code == 200
    ready = httpx.get(f"{app.url}/ready", timeout=60)
    assert ready.status_code == 200, ready.text


async def test_question_streams_tokens_and_steps_over_socketio(server, tmp_path):
    app, fake = server
    client = await ChatClient(app.url, login_cookies(app.url, "alice", USERS["alice"])).connect()
    try:
        pdf = report_pdf(tmp_path)
        ref = await client.upload(pdf, "application/pdf")
        await client.send("How often must the Heliotrope reactor be inspected?", files=[ref])
        await client.wait_for(lambda c: c.task_ended(), timeout=300)
    finally:
        await client.close()

    steps = client.named("new_message", "update_message")
    by_name: dict[str, dict] = {}
    for step in steps:
        by_name[step["name"]] = step  # last state wins
    assert by_name["Indexing heliotrope-report.pdf"]["output"].startswith("Indexed with")
    for node, kind in [("Supervisor", "llm"), ("Retrieve", "retrieval"), ("Answer", "llm"),
                       ("Review", "llm")]:
        assert by_name[node]["type"] == kind, node
    assert "**Decision:** `retrieve`" in by_name["Supervisor"]["output"]
    assert "**Verdict:** `approve`" in by_name["Review"]["output"]
    agent = by_name["Agent"]
    assert by_name["Supervisor"]["parentId"] == agent["id"]

    replies = [s for s in steps if s.get("type") == "assistant_message"]
    reply_id = replies[-1]["id"]
    tokens = [t["token"] for t in client.named("stream_token") if t["id"] == reply_id]
    started = [s for s in client.named("stream_start") if s["id"] == reply_id]
    assert started and len(tokens) >= 5
    streamed = started[0]["output"] + "".join(tokens)
    assert "every 43 days" in streamed and FACT.split(" must")[0] in streamed
    final = [s for s in replies if s["id"] == reply_id][-1]["output"]
    assert final.startswith(streamed.strip()[:40])
    elements = [e for e in client.named("element") if e.get("forId") == reply_id]
    assert any(e["name"] == "[1]" and e["display"] == "side" for e in elements)
    assert fake.stats()["stream"] >= 1 and fake.stats()["structured"] >= 2


async def test_share_link_opens_only_while_shared(server):
    app, _ = server
    alice = login_cookies(app.url, "alice", USERS["alice"])
    client = await ChatClient(app.url, alice).connect()
    try:
        await client.send("hello")
        await client.wait_for(lambda c: c.task_ended(), timeout=120)
    finally:
        await client.close()
    thread_id = client.started_thread
    bob = login_cookies(app.url, "bob", USERS["bob"])
    carol = login_cookies(app.url, "carol", USERS["carol"])

    def view(cookies):
        return httpx.get(f"{app.url}/project/share/{thread_id}", cookies=cookies, timeout=30)

    def share(value: bool):
        resp = httpx.put(f"{app.url}/project/thread/share", cookies=alice, timeout=30,
                         json={"threadId": thread_id, "isShared": value})
        assert resp.status_code == 200, resp.text

    assert view(bob).status_code == 404 and view(carol).status_code == 404
    assert httpx.get(f"{app.url}/project/thread/{thread_id}", cookies=bob).status_code in (
        401, 403, 404)
    share(True)
    shared = view(bob)
    assert shared.status_code == 200 and shared.json()["id"] == thread_id
    assert any(s.get("output") == "hello" for s in shared.json()["steps"])
    share(False)
    assert view(bob).status_code == 404
    assert view(alice).status_code == 200
