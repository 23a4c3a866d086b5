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

from e2e_support import AppServer, ChatClient, FakeLLM, fake_llm_env, login_cookies

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
USERS = {"alice": "alice-password-1", "bob": "bob-password-22", "carol": "carol-password-333"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("protocol-data")
    fake = FakeLLM(needle="Heliotrope", delay=0.02).start()
    app = AppServer(data_dir, env_extra={**fake_llm_env(fake.port), "DOCCHAT_LOOP_PROBE": "1"})
    try:
        for name, password in USERS.items():
            app.add_user(name, password)
        app.start()
        yield app, fake
    finally:
        app.stop()
        fake.stop()


def test_start_up_froze_its_heap_out_of_later_collections(server):
    """chat.services.warm_up ends with gc.freeze: a full collection under load then walks
    only what requests created (the loop-lag probe reports the frozen count)."""
    app, _ = server
    gc_stats = httpx.get(f"{app.url}/debug/loop-lag", timeout=10).json()["gc"]
    assert gc_stats["frozen"] > 100_000


def test_wrong_password_and_anonymous_socket_are_refused(server):
    app, _ = server
    resp = httpx.post(f"{app.url}/login", data={"username": "alice", "password": "nope"})
    assert resp.status_code == 401
    assert httpx.get(f"{app.url}/health").status_code == 200
    ready = httpx.get(f"{app.url}/ready", timeout=60)
    assert ready.status_code == 200, ready.text


async def test_question_streams_tokens_and_steps_over_socketio(server, report_pdf, report_fact):
    app, fake = server
    client = await ChatClient(app.url, login_cookies(app.url, "alice", USERS["alice"])).connect()
    try:
        pdf = report_pdf
        ref = await client.upload(pdf, "application/pdf")
        await client.send("How often must the Heliotrope reactor be inspected?", files=[ref])
        await client.wait_for(lambda c: c.task_ended(), timeout=300)
    finally:
        await client.close()

    steps = client.named("new_message", "update_message")
    by_id: dict[str, dict] = {}
    for step in steps:
        by_id[step["id"]] = step  # last state wins
    by_node = {(s.get("metadata") or {}).get("node") or s["name"]: s for s in by_id.values()}
    progress = next(s for s in by_id.values() if "heliotrope-report.pdf" in (s["output"] or "")
                    and s["type"] == "assistant_message")
    assert progress["output"].startswith("**Indexed 1 file**")
    for node, kind in [("Supervisor", "llm"), ("Retrieve", "retrieval"), ("Answer", "llm"),
                       ("Review", "llm")]:
        assert by_node[node]["type"] == kind, node
    assert by_node["Supervisor"]["name"] == "Deciding how to answer"
    assert by_node["Retrieve"]["name"].startswith("Searching your documents (")
    assert "**Decision:** search your documents" in by_node["Supervisor"]["output"]
    assert "**Verdict:** every claim is supported" in by_node["Review"]["output"]
    agent = by_node["Working on your question"]
    assert by_node["Supervisor"]["parentId"] == agent["id"]

    replies = [s for s in steps if s.get("type") == "assistant_message"]
    reply_id = replies[-1]["id"]
    tokens = [t["token"] for t in client.named("stream_token") if t["id"] == reply_id]
    started = [s for s in client.named("stream_start") if s["id"] == reply_id]
    assert started and len(tokens) >= 5
    streamed = started[0]["output"] + "".join(tokens)
    assert "every 43 days" in streamed and report_fact.split(" must")[0] in streamed
    final = [s for s in replies if s["id"] == reply_id][-1]["output"]
    assert final.startswith(streamed.strip()[:40])
    elements = [e for e in client.named("element") if e.get("forId") == reply_id]
    assert any(e["name"] == "[1]" and e["display"] == "page" for e in elements)
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
    stolen = httpx.get(f"{app.url}/project/thread/{thread_id}", cookies=bob)  # noqa: ASYNC210
    assert stolen.status_code in (401, 403, 404)
    share(True)
    shared = view(bob)
    assert shared.status_code == 200 and shared.json()["id"] == thread_id
    assert any(s.get("output") == "hello" for s in shared.json()["steps"])
    share(False)
    assert view(bob).status_code == 404
    assert view(alice).status_code == 200
