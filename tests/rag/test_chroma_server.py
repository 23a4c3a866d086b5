"""The scale-out path: RagService against a real `chroma run` server (HttpClient)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import httpx
import pytest

from rag.config import RagSettings
from rag.models import Scope, TextDocument
from rag.service import RagService

pytestmark = pytest.mark.skipif(shutil.which("chroma") is None, reason="chroma CLI missing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    proc = subprocess.Popen(
        ["chroma", "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma run did not start (exit {proc.poll()})")
        time.sleep(0.2)
    yield "127.0.0.1", port
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_index_search_delete_on_a_chroma_server(chroma_server, tmp_path, embedder,
                                                      monkeypatch):
    host, port = chroma_server
    monkeypatch.setenv("CHROMA_HOST", host)
    monkeypatch.setenv("CHROMA_PORT", str(port))
    settings = RagSettings(data_dir=tmp_path / "data")
    assert (settings.chroma_host, settings.chroma_port) == (host, port)
    service = await RagService.open(settings, embedder=embedder)
    try:
        assert type(service.store.chroma.client).__name__ != "PersistentClient"
        assert not (tmp_path / "data" / "chroma").exists()  # nothing embedded locally
        assert (await service.check())["chroma"] == "ok"
        reports = await service.index_texts(
            [TextDocument("server.txt", "Chroma servers hold vectors for many app instances."),
             TextDocument("other.txt", "Bananas are yellow.")], Scope("alice", "t1"))
        assert [r.status for r in reports] == ["indexed", "indexed"]
        await service.index_texts([TextDocument("bob.txt", "Bob's vectors on the server.")],
                                  Scope("bob"))
        hits = await service.search("vector server", Scope("alice"), k=5)
        assert hits[0].source == "server.txt"
        assert {h.metadata["owner"] for h in hits} == {"alice"}
        dense = await service.search("vector server", Scope("alice"), k=5, mode="dense")
        assert dense[0].source == "server.txt" and 0 < dense[0].score <= 1
        assert await service.delete_document(reports[0].doc_id, Scope("alice")) == 1
        assert service.store.chroma.count("alice", {"doc_id": reports[0].doc_id}) == 0
        assert [h.source for h in await service.search("vector server", Scope("alice"),
                                                       k=5)] == ["other.txt"]
    finally:
        await service.close()
