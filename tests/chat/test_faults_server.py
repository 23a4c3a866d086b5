"""Faults against a real ``chainlit run`` server: ``kill -9`` in the middle of indexing,
then a restart on the same data directory; and two instances started from one folder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rag"))

from bad_docx import empty_paragraphs_docx
from e2e_support import (
    AppServer,
    ChatClient,
    login_cookies,
    make_app_root,
    no_llm_env,
    upload_line,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
USER, PASSWORD = "erin", "erin-password-12"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NOTES = b"# Plant notes\n\nThe north valve of the Heliotrope plant is painted green.\n"


async def _get(url: str, **kwargs) -> httpx.Response:
    cookies = kwargs.pop("cookies", None)
    async with httpx.AsyncClient(cookies=cookies, timeout=kwargs.pop("timeout", 30)) as http:
        return await http.get(url, **kwargs)


async def _upload(client: ChatClient, name: str, data: bytes, mime: str) -> dict:
    async with httpx.AsyncClient(cookies=client.cookies, timeout=60) as http:
        resp = await http.post(f"{client.base_url}/project/file",
                               params={"session_id": client.session_id},
                               files={"file": (name, data, mime)})
    resp.raise_for_status()
    return resp.json()


async def test_kill_9_while_indexing_then_restart_says_interrupted(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {**no_llm_env(), "RAG_PARSE_CPU_S": "600", "RAG_PARSE_TIMEOUT_S": "600"}
    app = AppServer(data_dir, env_extra=env)
    app.add_user(USER, PASSWORD)
    app.start()
    cookies = login_cookies(app.url, USER, PASSWORD)
    slow = empty_paragraphs_docx(tmp_path / "slow.docx", 200_000, varied=True)
    try:
        client = await ChatClient(app.url, cookies).connect()
        ref = await _upload(client, "slow.docx", slow.read_bytes(), DOCX)
        await client.send("", files=[ref])
        await client.wait_for(lambda c: any(
            "**slow.docx**: reading" in (s["output"] or "")
            for s in c.named("update_message")), timeout=120)
        progress_id = next(s["id"] for s in client.named("update_message")
                           if "**slow.docx**: reading" in (s["output"] or ""))
        await asyncio.sleep(1.0)  # the step's progress is persisted
        thread_id = client.started_thread
        assert list((data_dir / "uploads").glob("upload-*")), "no private copy while indexing"
        os.kill(app.proc.pid, signal.SIGKILL)
        app.proc.wait(timeout=30)
        await client.close()
    finally:
        app.stop()

    app = AppServer(data_dir, env_extra=env)
    app.start()
    try:
        cookies = login_cookies(app.url, USER, PASSWORD)
        thread = (await _get(f"{app.url}/project/thread/{thread_id}", cookies=cookies)).json()
        [step] = [s for s in thread["steps"] if s["id"] == progress_id]
        assert "Interrupted" in step["output"] and step["isError"], step["output"]
        assert not list((data_dir / "uploads").glob("upload-*")), "stale upload copies left"
        assert "was interrupted by a restart" in app.log()
    finally:
        app.stop()


async def test_a_second_instance_from_the_same_folder_does_not_break_uploads(tmp_path):
    """Chainlit deletes ``<app root>/.files`` when it stops: a second instance (or a test
    server) started from the same folder must not take the first one's uploads with it."""
    shared_root = make_app_root(tmp_path / "shared-root")
    first = AppServer(tmp_path / "first", env_extra=no_llm_env(), app_root=shared_root)
    second = AppServer(tmp_path / "second", env_extra=no_llm_env(), app_root=shared_root)
    for app in (first, second):
        app.data_dir.mkdir()
        app.add_user(USER, PASSWORD)
    first.start()
    second.start()
    try:
        client = await ChatClient(first.url, login_cookies(first.url, USER, PASSWORD)).connect()
        try:
            ref = await _upload(client, "notes.md", NOTES, "text/markdown")
            second.stop()  # its shutdown cleans up its files folder
            await client.send("", files=[ref])
            await client.wait_for(lambda c: c.task_ended(), timeout=180)
        finally:
            await client.close()
        line = upload_line(client, "notes.md")
        assert line.startswith("**notes.md**: indexed"), line
    finally:
        first.stop()
        second.stop()
