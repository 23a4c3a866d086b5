"""Denial of service and bad input against a real ``chainlit run`` server (socket.io and
HTTP as the browser speaks them), each with its own data directory and app root.

Limits are lowered through the environment so that small files built in the test are
over them: RAG_PARSE_CPU_S=2 and one indexing slot for the slow .docx of empty
paragraphs, RAG_READY_MAX_WAITING=0 so that /ready fails while the only slot is busy.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rag"))

from bad_docx import empty_paragraphs_docx, whitespace_bomb_docx
from e2e_support import AppServer, ChatClient, login_cookies, no_llm_env, upload_line

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
USER, PASSWORD = "mallory", "mallory-password-1"
NOTES = b"# Plant notes\n\nThe north valve of the Heliotrope plant is painted green.\n"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LIMITS = {"RAG_PARSE_CPU_S": "2", "RAG_PARSE_TIMEOUT_S": "60", "RAG_INDEX_CONCURRENCY": "1",
          "RAG_READY_MAX_WAITING": "0"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = AppServer(tmp_path_factory.mktemp("bad-input"), env_extra={**no_llm_env(), **LIMITS})
    try:
        app.add_user(USER, PASSWORD)
        app.start()
        yield app
    finally:
        app.stop()


async def _client(app: AppServer) -> ChatClient:
    return await ChatClient(app.url, login_cookies(app.url, USER, PASSWORD)).connect()


async def _get(url: str, **kwargs) -> httpx.Response:
    cookies = kwargs.pop("cookies", None)
    async with httpx.AsyncClient(cookies=cookies, timeout=kwargs.pop("timeout", 30)) as http:
        return await http.get(url, **kwargs)


async def _upload(client: ChatClient, name: str, data: bytes, mime: str,
                  http: httpx.AsyncClient | None = None) -> httpx.Response:
    async def post(h: httpx.AsyncClient) -> httpx.Response:
        return await h.post(f"{client.base_url}/project/file",
                            params={"session_id": client.session_id},
                            files={"file": (name, data, mime)})
    if http is not None:
        return await post(http)
    async with httpx.AsyncClient(cookies=client.cookies, timeout=60) as h:
        return await post(h)


async def test_empty_upload_gets_a_clear_error_and_the_next_upload_works(server):
    client = await _client(server)
    try:
        async with httpx.AsyncClient(cookies=client.cookies, timeout=60) as http:
            empty = await _upload(client, "empty.txt", b"", "text/plain", http)
            assert empty.status_code == 400
            assert "empty.txt is empty (0 bytes)" in empty.json()["detail"]
            good = await _upload(client, "notes.md", NOTES, "text/markdown", http)
            assert good.status_code == 200, good.text
        await client.send("", files=[good.json()])
        await client.wait_for(lambda c: c.task_ended(), timeout=180)
        assert upload_line(client, "notes.md").startswith("**notes.md**: indexed")
    finally:
        await client.close()


async def test_a_name_with_dotdot_is_indexed_and_its_attachment_saved(server):
    client = await _client(server)
    try:
        ref = await _upload(client, "../../secret-notes.md", NOTES, "text/markdown")
        assert ref.status_code == 200, ref.text
        await client.send("", files=[ref.json()])
        await client.wait_for(lambda c: c.task_ended(), timeout=180)
        thread_id = client.started_thread
    finally:
        await client.close()
    line = upload_line(client, "secret-notes.md")
    assert line.startswith("**secret-notes.md**: indexed"), line
    thread = (await _get(f"{server.url}/project/thread/{thread_id}",
                         cookies=client.cookies)).json()
    [element] = [e for e in thread["elements"] if e["name"] == "secret-notes.md"]
    assert element["url"], element
    saved = await _get(server.url + element["url"], cookies=client.cookies, timeout=30)
    assert saved.status_code == 200 and saved.content == NOTES


async def test_a_million_byte_message_gets_a_reply_a_log_line_and_the_socket_stays(server):
    client = await _client(server)
    try:
        await client.send("x" * 1_000_000)
        await client.wait_for(lambda c: any(
            "over the limit" in (m.get("output") or "") for m in c.named("new_message")),
            timeout=60)
        assert client.sio.connected
        await client.send("What colour is the north valve?")
        await client.wait_for(lambda c: c.task_ended(), timeout=180)
        replies = [m for m in client.named("new_message")
                   if m.get("type") == "assistant_message"]
        assert replies and "limit" not in replies[-1]["output"]
    finally:
        await client.close()
    assert "refused a message of 1000000 characters from mallory" in server.log()


async def test_slow_docx_is_stopped_with_a_clear_message_frees_its_slot_and_ready(server,
                                                                                 tmp_path):
    slow = empty_paragraphs_docx(tmp_path / "slow.docx", 30_000)
    client = await _client(server)
    try:
        ref = await _upload(client, "slow.docx", slow.read_bytes(), DOCX)
        await client.send("", files=[ref.json()])
        ready_codes = []
        for _ in range(40):
            await asyncio.sleep(0.25)
            ready_codes.append((await _get(f"{server.url}/ready")).status_code)
            if ready_codes[-1] == 503:
                break
        await client.wait_for(lambda c: c.task_ended(), timeout=120)
        line = upload_line(client, "slow.docx")
        assert ": failed: " in line and "RAG_PARSE_CPU_S" in line, line
        assert 503 in ready_codes
        ready = await _get(f"{server.url}/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        # the slot is free again: the next file indexes
        ref = await _upload(client, f"after-{uuid.uuid4().hex[:6]}.md",
                            NOTES + b"\nAfter the slow file.\n", "text/markdown")
        await client.send("", files=[ref.json()])
        await client.wait_for(lambda c: c.task_ended(), timeout=120)
        assert any("**after-" in (s["output"] or "") and ".md**: indexed" in s["output"]
                   for s in client.named("update_message"))
    finally:
        await client.close()


async def test_zip_bomb_docx_gets_a_clear_message(server, tmp_path):
    bomb = whitespace_bomb_docx(tmp_path / "bomb.docx", 30)
    client = await _client(server)
    try:
        ref = await _upload(client, "bomb.docx", bomb.read_bytes(), DOCX)
        assert ref.status_code == 200, ref.text
        await client.send("", files=[ref.json()])
        await client.wait_for(lambda c: c.task_ended(), timeout=120)
    finally:
        await client.close()
    line = upload_line(client, "bomb.docx")
    assert ": failed: " in line and "zip bomb" in line, line
