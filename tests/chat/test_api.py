"""The headless API against a real ``chainlit run app.py`` on 127.0.0.1.

One server for the module (its own data directory and app root), with a scripted
OpenAI-compatible LLM at the wire level; users and API keys are created with the real
command line (``python -m chat users add`` / ``keys create`` / ``keys revoke``). Clients:
httpx (JSON, SSE), ``websockets`` and the official ``openai`` SDK.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_support import ROOT, AppServer, ChatClient, FakeLLM, fake_llm_env, login_cookies
from fake_openai import FAULT_WORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
USERS = {"alice": "alice-password-1", "bob": "bob-password-22", "dave": "dave-password-4444"}
FACT_Q = "How often must the Heliotrope reactor be inspected?"
NOTE = ("# Heliotrope maintenance\n\nThe Heliotrope reactor must be inspected every 43 days "
        "by a certified engineer. The coolant pump is replaced every 4 years.\n")
MANUAL = ("Zorblat pump manual.\n\nThe Zorblat-9 pump is rated for a maximum pressure of 41 "
          "bar. Its seals are checked every spring.\n")


def report_pdf_in(folder: Path) -> Path:
    """The suite's maintenance report PDF (tests/conftest.py's builder and pages), for a
    module-scoped fixture (its ``report_pdf`` fixture is per test)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "docchat_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
    assert spec is not None and spec.loader is not None
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)
    return shared.write_pdf(folder / "heliotrope-report.pdf", shared.REPORT_PAGES)


def cli(app: AppServer, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "chat", *args], check=False, cwd=ROOT,
                          env=app.env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("api-data")
    fake = FakeLLM(needle="Heliotrope", delay=0.06).start()
    env = {**fake_llm_env(fake.port), "DOCCHAT_UPLOAD_MAX_MB": "1",
           "DOCCHAT_API_RATE_LIMIT": "1000/minute", "DOCCHAT_API_RUN_RATE_LIMIT": "40/minute",
           "DOCCHAT_API_KEEPALIVE_S": "0.2"}
    app = AppServer(data_dir, env_extra=env)
    try:
        for name, password in USERS.items():
            app.add_user(name, password)
        keys = {name: cli(app, "keys", "create", f"{name} tests", "--user", name).split()[0]
                for name in USERS}
        revoked = cli(app, "keys", "create", "old", "--user", "alice").split()[0]
        revoked_id = revoked.split("_", 2)[1]
        cli(app, "keys", "revoke", revoked_id)
        keys["revoked"] = revoked
        app.start()
        yield app, fake, keys
    finally:
        app.stop()
        fake.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_indexed(app: AppServer, key: str, doc_ids: list[str], timeout: float = 180) -> dict:
    """Poll GET /api/v1/documents/{id} until every document is indexed or failed."""
    deadline, states = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        states = {d: httpx.get(f"{app.url}/api/v1/documents/{d}", headers=auth(key),
                               timeout=30).json() for d in doc_ids}
        if all(s["state"] in ("indexed", "failed") for s in states.values()):
            return states
        time.sleep(1.0)
    raise TimeoutError(f"documents not done: {states}")


@pytest.fixture(scope="module")
def alice_docs(server, tmp_path_factory):
    """Alice's good documents, uploaded in one batch with a corrupt PDF and an oversize
    file: returns the 202 body and the final states."""
    app, _, keys = server
    folder = tmp_path_factory.mktemp("uploads")
    good_pdf = report_pdf_in(folder)
    files = [("files", ("heliotrope.md", NOTE.encode(), "text/markdown")),
             ("files", ("broken.pdf", b"%PDF-1.7\n this is not a pdf \n%%EOF", "application/pdf")),
             ("files", (good_pdf.name, good_pdf.read_bytes(), "application/pdf")),
             ("files", ("huge.txt", b"word " * 300_000, "text/plain")),
             ("files", ("zorblat.txt", MANUAL.encode(), "text/plain"))]
    resp = httpx.post(f"{app.url}/api/v1/documents", files=files, headers=auth(keys["alice"]),
                      timeout=120)
    assert resp.status_code == 202, resp.text
    jobs = resp.json()["documents"]
    states = wait_indexed(app, keys["alice"], [j["id"] for j in jobs])
    return jobs, states


def sse_events(app: AppServer, key: str, body: dict, stop_after: str | None = None) -> list:
    """POST a run with Accept: text/event-stream; the parsed events (id, event, data).
    With ``stop_after``, the connection is closed right after the first such event."""
    events, current, comments = [], {}, []
    headers = {**auth(key), "Accept": "text/event-stream"}
    with httpx.stream("POST", f"{app.url}/api/v1/runs", json=body, headers=headers,
                      timeout=120) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("id:"):
                current["id"] = int(line[3:].strip())
            elif line.startswith("event:"):
                current["event"] = line[6:].strip()
            elif line.startswith("data:"):
                current["data"] = json.loads(line[5:].strip())
            elif not line and "event" in current:
                events.append(current)
                current = {}
                if stop_after and events[-1]["event"] == stop_after:
                    break
    if events:
        events[0]["comments"] = comments
    return events


# ---- auth and keys ----------------------------------------------------------------------
def test_keys_are_hashed_listed_and_revoked_keys_refused(server):
    app, _, keys = server
    listing = cli(app, "keys", "list")
    assert "revoked" in listing and "alice tests" in listing
    assert keys["alice"] not in listing and keys["alice"].split("_", 2)[2] not in listing
    db = (app.data_dir / "chat.db").read_bytes()
    assert keys["alice"].encode() not in db  # only the digest is stored
    for headers in ({}, auth(keys["revoked"]), auth("dck_000000000000_forged"),
                    auth("not-a-jwt")):
        resp = httpx.get(f"{app.url}/api/v1/threads", headers=headers, timeout=30)
        assert resp.status_code == 401, (headers, resp.text)
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.json()["error"]["code"] == "unauthorized"
    assert httpx.get(f"{app.url}/api/v1/threads", headers=auth(keys["alice"])).status_code == 200


def test_login_jwt_works_as_cookie_and_bearer(server):
    app, _, _ = server
    cookies = login_cookies(app.url, "bob", USERS["bob"])
    assert httpx.get(f"{app.url}/api/v1/documents", cookies=cookies).status_code == 200
    token = next(iter(cookies.values()))
    resp = httpx.get(f"{app.url}/api/v1/documents", headers=auth(token))
    assert resp.status_code == 200, resp.text


def test_openapi_describes_every_model(server):
    app, _, _ = server
    doc = httpx.get(f"{app.url}/api/v1/openapi.json").json()
    for path in ("/api/v1/runs", "/api/v1/documents", "/api/v1/documents/{doc_id}",
                 "/api/v1/threads/{thread_id}", "/v1/chat/completions", "/v1/models"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    for name in ("RunRequest", "RunResponse", "RunEvent", "CitationOut", "DocumentOut",
                 "ErrorResponse", "ThreadDetail"):
        assert name in schemas
    assert all(s.get("description") for s in schemas.values()), [
        n for n, s in schemas.items() if not s.get("description")]
    assert "text/event-stream" in doc["paths"]["/api/v1/runs"]["post"]["responses"]["200"][
        "content"]


def test_rate_limit_answers_429_with_retry_after(server):
    app, _, keys = server
    codes = []
    with httpx.Client(headers=auth(keys["dave"]), timeout=30) as client:
        for _ in range(41):  # run attempts count, valid or not (40 a minute here)
            resp = client.post(f"{app.url}/api/v1/runs", json={"question": ""})
            codes.append(resp.status_code)
            if resp.status_code == 429:
                break
    assert codes[:40] == [422] * 40 and codes[-1] == 429
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert resp.json()["error"]["code"] == "rate_limited"
    other = httpx.post(f"{app.url}/api/v1/runs", json={"question": ""},
                       headers=auth(keys["bob"]))
    assert other.status_code == 422  # another key keeps its own count


# ---- documents --------------------------------------------------------------------------
def test_batch_indexes_good_files_and_fails_bad_ones_alone(server, alice_docs):
    jobs, states = alice_docs
    assert [j["filename"] for j in jobs] == ["heliotrope.md", "broken.pdf",
                                             "heliotrope-report.pdf", "huge.txt", "zorblat.txt"]
    by_name = {s["filename"]: s for s in states.values()}
    for name in ("heliotrope.md", "heliotrope-report.pdf", "zorblat.txt"):
        assert by_name[name]["state"] == "indexed" and by_name[name]["chunks"] >= 1, name
    assert by_name["broken.pdf"]["state"] == "failed"
    assert "broken.pdf" in by_name["broken.pdf"]["error"]
    assert jobs[3]["state"] == "failed" and "1 MB upload limit" in jobs[3]["error"]


def test_document_list_is_paged_and_delete_removes(server, alice_docs):
    app, _, keys = server
    first = httpx.get(f"{app.url}/api/v1/documents", params={"limit": 2},
                      headers=auth(keys["alice"])).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = httpx.get(f"{app.url}/api/v1/documents", headers=auth(keys["alice"]),
                     params={"limit": 50, "cursor": first["next_cursor"]}).json()
    ids = [d["id"] for d in first["data"] + rest["data"]]
    assert len(ids) == len(set(ids)) >= 4  # three indexed + failed jobs
    upload = httpx.post(f"{app.url}/api/v1/documents", headers=auth(keys["alice"]),
                        files=[("files", ("temp.txt", b"A temporary note about kites.\n",
                                          "text/plain"))]).json()["documents"][0]
    wait_indexed(app, keys["alice"], [upload["id"]])
    gone = httpx.delete(f"{app.url}/api/v1/documents/{upload['id']}",
                        headers=auth(keys["alice"]))
    assert gone.status_code == 200 and gone.json()["chunks"] >= 1
    assert httpx.get(f"{app.url}/api/v1/documents/{upload['id']}",
                     headers=auth(keys["alice"])).status_code == 404


def test_upload_refuses_wrong_content_type_and_no_files(server):
    app, _, keys = server
    resp = httpx.post(f"{app.url}/api/v1/documents", json={"files": []},
                      headers=auth(keys["bob"]))
    assert resp.status_code == 415 and "multipart/form-data" in resp.json()["error"]["message"]
    resp = httpx.post(f"{app.url}/api/v1/documents", data={"thread_id": "x"},
                      files={"other": ("a.txt", b"x")}, headers=auth(keys["bob"]))
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "files"


# ---- runs (JSON) ------------------------------------------------------------------------
def test_run_answers_with_citations_and_thread_keeps_memory(server, alice_docs):
    app, _, keys = server
    resp = httpx.post(f"{app.url}/api/v1/runs", json={"question": FACT_Q},
                      headers=auth(keys["alice"]), timeout=120)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "43 days" in body["answer"] and "[1]" in body["answer"]
    assert body["route"] == "retrieve" and body["verdict"] == "approve"
    assert body["citations"][0]["n"] == 1 and body["citations"][0]["file"].startswith(
        "heliotrope")
    assert "43 days" in body["citations"][0]["text"] and len(body["citations"][0]["document"]) \
        == 64
    assert [t["node"] for t in body["trace"]][:4] == ["Supervisor", "Retrieve", "Answer", "Review"]
    assert body["usage"]["input_tokens"] > 0 and "compat:fake-gpt" in body["usage"]["models"]
    assert "supported" in body and body["pending_docs"] is None
    thread_id = body["thread_id"]

    second = httpx.post(f"{app.url}/api/v1/runs", headers=auth(keys["alice"]), timeout=120,
                        json={"question": "And the coolant pump?", "thread_id": thread_id,
                              "scope": "all", "k": 3}).json()
    assert second["thread_id"] == thread_id
    status = httpx.get(f"{app.url}/api/v1/runs/{second['run_id']}",
                       headers=auth(keys["alice"])).json()
    assert status["status"] == "completed" and status["result"]["run_id"] == second["run_id"]

    # the browser sees it: Chainlit's own thread API, with the memory of both runs
    cookies = login_cookies(app.url, "alice", USERS["alice"])
    deadline = time.monotonic() + 20
    while True:
        thread = httpx.get(f"{app.url}/project/thread/{thread_id}", cookies=cookies).json()
        names = [s["name"] for s in thread["steps"]]
        if names.count("Writing the answer") >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {"Working on your question", "Deciding how to answer", "Writing the answer",
            "Checking the answer against the sources"} <= set(names)
    assert any(n.startswith("Searching your documents (") for n in names)
    memory = thread["metadata"]["memory"]
    assert [t["content"] for t in memory["turns"] if t["role"] == "user"] == [
        FACT_Q, "And the coolant pump?"]
    listed = httpx.post(f"{app.url}/project/threads", cookies=cookies,
                        json={"pagination": {"first": 20}, "filter": {}}).json()
    assert thread_id in [t["id"] for t in listed["data"]]

    detail = httpx.get(f"{app.url}/api/v1/threads/{thread_id}", headers=auth(keys["alice"]))
    messages = detail.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["citations"] and "43 days" in messages[1]["citations"][0]["content"]
    assert {"Supervisor", "Retrieve", "Answer"} <= {s["node"] for s in messages[1]["steps"]}


async def test_a_chat_thread_reads_and_continues_over_the_api(server, alice_docs):
    app, _, keys = server
    client = await ChatClient(app.url, login_cookies(app.url, "alice", USERS["alice"])).connect()
    try:
        await client.change_settings({"scope": "all", "k": 5, "answer_model": "auto"})
        await client.send(FACT_Q)
        await client.wait_for(lambda c: c.task_ended(), timeout=300)
    finally:
        await client.close()
    thread_id = client.started_thread
    async with httpx.AsyncClient(base_url=app.url, headers=auth(keys["alice"]),
                                 timeout=120) as http:
        for _ in range(40):  # Chainlit writes elements in tasks of their own
            detail = await http.get(f"/api/v1/threads/{thread_id}")
            assert detail.status_code == 200, detail.text
            messages = detail.json()["messages"]
            if messages and messages[-1]["citations"]:
                break
            await asyncio.sleep(0.25)
        assert [m["role"] for m in messages][-2:] == ["user", "assistant"]
        assert "43 days" in messages[-1]["content"] and messages[-1]["citations"]
        assert {"Supervisor", "Retrieve", "Answer"} <= {s["node"] for s in
                                                        messages[-1]["steps"]}
        run = (await http.post("/api/v1/runs", json={"question": "Who must do it?",
                                                     "thread_id": thread_id})).json()
        assert run["thread_id"] == thread_id and run["route"] == "retrieve"
        cookies = login_cookies(app.url, "alice", USERS["alice"])
        thread = await http.get(f"/project/thread/{thread_id}", cookies=cookies,
                                headers={"Authorization": ""})
        memory = thread.json()["metadata"]["memory"]
    assert [t["content"] for t in memory["turns"] if t["role"] == "user"] == [
        FACT_Q, "Who must do it?"]


def test_run_with_nothing_indexed_says_which_documents_are_missing(server):
    app, _, keys = server
    resp = httpx.post(f"{app.url}/api/v1/runs", json={"question": "What is the boiler rating?"},
                      headers=auth(keys["bob"]), timeout=120)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["answer"] is None and body["route"] == "need_docs"
    assert body["pending_docs"] and "boiler rating" in body["pending_docs"][0]
    assert body["message"]


def test_bad_run_input_is_named(server):
    app, _, keys = server
    url, headers = f"{app.url}/api/v1/runs", auth(keys["alice"])

    def post(headers=headers, **kwargs):
        return httpx.post(url, headers=headers, timeout=60, **kwargs)

    for body, field in [({"question": ""}, "question"), ({"question": "   "}, "question"),
                        ({"question": "x" * 20_000}, "question"), ({}, "question"),
                        ({"question": "hi", "k": 0}, "k"),
                        ({"question": "hi", "scope": "everything"}, "scope"),
                        ({"question": "hi", "model": "nope:model"}, "model"),
                        ({"question": "hi", "colour": "red"}, "colour")]:
        resp = post(json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["field"] == field, (body, resp.json())
        assert "Traceback" not in resp.text
    big = post(json={"question": "x" * 1_000_000})
    assert big.status_code == 413 and "256 KiB" in big.json()["error"]["message"]
    unknown = post(json={"question": "hi", "thread_id": "no-such-thread"})
    assert unknown.status_code == 404 and "no-such-thread" in unknown.json()["error"]["message"]
    wrong = post(content=b"question=hi", headers={**headers, "Content-Type": "text/plain"})
    assert wrong.status_code == 415 and "application/json" in wrong.json()["error"]["message"]
    broken = post(content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 422


# ---- runs (SSE, WebSocket) ------------------------------------------------------------
def test_sse_streams_the_whole_run_in_order(server, alice_docs):
    app, _, keys = server
    events = sse_events(app, keys["alice"], {"question": FACT_Q})
    names = [e["event"] for e in events]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert names[0] == "run_started" and names[-1] == "run_completed"
    assert events[1]["event"] == "node_started" and events[1]["data"]["node"] == "Supervisor"
    answer_start = next(i for i, e in enumerate(events)
                        if e["event"] == "node_started" and e["data"]["node"] == "Answer")
    answer_end = next(i for i, e in enumerate(events)
                      if e["event"] == "node_completed" and e["data"]["node"] == "Answer")
    tokens = [e for e in events if e["event"] == "token"]
    assert len(tokens) >= 5 and all(answer_start < events.index(t) < answer_end for t in tokens)
    assert "usage" in names
    assert events[0]["comments"], "no keep-alive comment in a run of over a second"
    done = events[-1]["data"]
    assert "".join(t["data"]["text"] for t in tokens) == done["answer"]
    assert done["run_id"] == events[0]["data"]["run_id"] and done["citations"]
    started = [e["data"]["node"] for e in events if e["event"] == "node_started"]
    completed = [e["data"]["node"] for e in events if e["event"] == "node_completed"]
    assert started == completed == [t["node"] for t in done["trace"]]


def test_sse_provider_fault_resets_the_stream(server, alice_docs):
    app, fake, keys = server
    before = fake.stats()["faults"]
    events = sse_events(app, keys["alice"], {"question": f"{FACT_Q} {FAULT_WORD}"})
    names = [e["event"] for e in events]
    assert fake.stats()["faults"] > before
    reset = names.index("stream_reset")
    assert names[:reset].count("token") == 2  # two words, then the connection dropped
    assert "token" in names[reset:] and names[-1] == "run_completed"
    after = "".join(e["data"]["text"] for e in events[reset:] if e["event"] == "token")
    assert after == events[-1]["data"]["answer"]
    assert events[reset]["data"]["reason"]


def test_sse_disconnect_cancels_the_run(server, alice_docs):
    app, _, keys = server
    events = sse_events(app, keys["alice"], {"question": FACT_Q}, stop_after="token")
    run_id, thread_id = events[0]["data"]["run_id"], events[0]["data"]["thread_id"]
    deadline, status = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{app.url}/api/v1/runs/{run_id}", headers=auth(keys["alice"])).json()
        if status["status"] != "running":
            break
        time.sleep(0.2)
    assert status["status"] == "cancelled", status
    time.sleep(1.0)
    messages = httpx.get(f"{app.url}/api/v1/threads/{thread_id}",
                         headers=auth(keys["alice"])).json()["messages"]
    assert messages[-1]["role"] == "assistant" and "Stopped" in messages[-1]["content"]


async def test_websocket_streams_the_same_events(server, alice_docs):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    app, _, keys = server
    url = app.url.replace("http://", "ws://") + "/api/v1/runs/ws"
    with pytest.raises(InvalidStatus):
        async with connect(url):
            pass
    async with connect(url, additional_headers=auth(keys["alice"])) as ws:
        await ws.send(json.dumps({"question": ""}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert error["event"] == "error" and error["data"]["field"] == "question"
        await ws.send(json.dumps({"question": FACT_Q}))
        events = []
        while not events or events[-1]["event"] not in ("run_completed", "error"):
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
    names = [e["event"] for e in events]
    assert names[0] == "run_started" and names[-1] == "run_completed"
    assert "token" in names and names.count("node_started") == names.count("node_completed")
    assert "43 days" in events[-1]["data"]["answer"]


# ---- isolation --------------------------------------------------------------------------
def test_another_users_key_gets_404_everywhere(server, alice_docs):
    app, _, keys = server
    alice, bob = auth(keys["alice"]), auth(keys["bob"])
    run = httpx.post(f"{app.url}/api/v1/runs", json={"question": FACT_Q}, headers=alice,
                     timeout=120).json()
    doc_id = next(s["id"] for s in alice_docs[1].values() if s["state"] == "indexed")
    for method, path in [("GET", f"/api/v1/documents/{doc_id}"),
                         ("DELETE", f"/api/v1/documents/{doc_id}"),
                         ("GET", f"/api/v1/threads/{run['thread_id']}"),
                         ("DELETE", f"/api/v1/threads/{run['thread_id']}"),
                         ("GET", f"/api/v1/runs/{run['run_id']}"),
                         ("DELETE", f"/api/v1/runs/{run['run_id']}")]:
        resp = httpx.request(method, f"{app.url}{path}", headers=bob, timeout=30)
        assert resp.status_code == 404, (method, path, resp.text)
    into = httpx.post(f"{app.url}/api/v1/runs", headers=bob, timeout=60,
                      json={"question": "hi", "thread_id": run["thread_id"]})
    assert into.status_code == 404
    upload = httpx.post(f"{app.url}/api/v1/documents", headers=bob, data={
        "thread_id": run["thread_id"]}, files=[("files", ("x.txt", b"hello there\n"))])
    assert upload.status_code == 404
    listed = httpx.get(f"{app.url}/api/v1/documents", headers=bob).json()["data"]
    assert doc_id not in [d["id"] for d in listed]
    threads = httpx.get(f"{app.url}/api/v1/threads", headers=bob).json()["data"]
    assert run["thread_id"] not in [t["id"] for t in threads]
    answer = httpx.post(f"{app.url}/api/v1/runs", json={"question": FACT_Q}, headers=bob,
                        timeout=120).json()
    assert answer["route"] == "need_docs" and not answer["citations"]
    # still Alice's
    assert httpx.get(f"{app.url}/api/v1/documents/{doc_id}", headers=alice).json()[
        "state"] == "indexed"


# ---- OpenAI-compatible ------------------------------------------------------------------
def test_openai_sdk_chat_completions(server, alice_docs):
    app, _, keys = server
    client = openai.OpenAI(base_url=f"{app.url}/v1", api_key=keys["alice"], max_retries=0,
                           timeout=120)
    models = [m.id for m in client.models.list()]
    assert models[0] == "docchat" and "compat:fake-gpt" in models
    reply = client.chat.completions.create(model="docchat", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": FACT_Q}])
    content = reply.choices[0].message.content
    assert "43 days" in content and "[1]" in content and "**Sources:** [1]" in content
    assert reply.usage.prompt_tokens > 0 and reply.usage.total_tokens > reply.usage.prompt_tokens
    extra = reply.model_extra["docchat"]
    assert extra["citations"][0]["n"] == 1 and extra["route"] == "retrieve"

    stream = client.chat.completions.create(
        model="docchat", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": FACT_Q}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "43 days" in text and "**Sources:** [1]" in text
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 5
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert finals and finals[0].model_extra["docchat"]["citations"]

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope:model",
                                       messages=[{"role": "user", "content": "hi"}])
    bad = openai.OpenAI(base_url=f"{app.url}/v1", api_key=keys["revoked"], max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
