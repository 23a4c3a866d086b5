"""The file and readiness routes through a real HTTP client against Chainlit's FastAPI app."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import chainlit as cl
import httpx
import pytest
from chainlit.auth.jwt import create_jwt
from chainlit.user import User

from chat.persistence.data_rows import utc_timestamp
from chat.routes import install_routes


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "test-secret-" + "x" * 40)


@pytest.fixture
async def client(secret, chainlit_data_layer):
    from chainlit.server import app

    install_routes({"rag": lambda: {"chroma": "ok", "embedder": "ok"}})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def login(identifier: str) -> dict[str, str]:
    return {"access_token": create_jwt(User(identifier=identifier))}


async def make_user(data_layer, prefix: str):
    return await data_layer.create_user(User(identifier=f"{prefix}-{uuid.uuid4().hex[:8]}"))


async def thread_with_file(data_layer, author) -> tuple[str, str]:
    """A thread of `author` with one text element; returns (thread id, element URL)."""
    thread_id = str(uuid.uuid4())
    await data_layer.update_thread(thread_id, user_id=author.id, name="report")
    element = cl.Text(
        name="[1] report.pdf p.3", content="Churn fell to 4%.", for_id="s1", thread_id=thread_id
    )
    await data_layer.create_element(element)
    thread = await data_layer.get_thread(thread_id)
    return thread_id, thread["elements"][0]["url"]


async def test_ready_reports_each_check(client):
    response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["failed"] == []
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["rag"]["detail"] == {"chroma": "ok", "embedder": "ok"}


async def test_ready_is_503_naming_what_failed(client):
    async def chroma_down():
        raise ConnectionError("chroma at localhost:8000 refused the connection")

    install_routes({"chroma": chroma_down, "embedder": lambda: "minilm"})
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["chroma"]
    assert "refused" in body["checks"]["chroma"]["detail"]
    assert body["checks"]["embedder"] == {"ok": True, "detail": "minilm"}


async def test_routes_sit_ahead_of_the_ui_catch_all_and_health_stays(client):
    from chainlit.server import app

    ready = await client.get("/ready")
    assert ready.headers["content-type"] == "application/json"
    files = await client.get("/files/any/key.txt")
    assert files.status_code == 401 and files.json() == {"detail": "Unauthorized"}
    paths = [getattr(r, "path", "") for r in app.router.routes]
    assert paths.count("/ready") == 1  # installing twice replaces
    assert (await client.get("/health")).json() == {"status": "ok"}
    ui = await client.get("/some/page")
    assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]


async def test_the_author_reads_the_file(client, chainlit_data_layer):
    alice = await make_user(chainlit_data_layer, "alice")
    _, url = await thread_with_file(chainlit_data_layer, alice)
    response = await client.get(url, cookies=login(alice.identifier))
    assert response.status_code == 200
    assert response.text == "Churn fell to 4%."
    assert response.headers["content-type"].startswith("text/plain")
    bearer = await client.get(
        url, headers={"Authorization": f"Bearer {create_jwt(User(identifier=alice.identifier))}"}
    )
    assert bearer.status_code == 200


async def test_a_viewer_is_refused_a_file_of_a_thread_they_cannot_see(client, chainlit_data_layer):
    alice = await make_user(chainlit_data_layer, "alice")
    bob = await make_user(chainlit_data_layer, "bob")
    thread_id, url = await thread_with_file(chainlit_data_layer, alice)

    assert (await client.get(url, cookies=login(bob.identifier))).status_code == 404
    assert (await client.get(url)).status_code == 401
    forged = {"access_token": create_jwt(User(identifier=alice.identifier)) + "x"}
    assert (await client.get(url, cookies=forged)).status_code == 401

    await chainlit_data_layer.update_thread(
        thread_id, metadata={"is_shared": True, "shared_at": utc_timestamp()}
    )
    shared = await client.get(url, cookies=login(bob.identifier))
    assert shared.status_code == 200 and shared.text == "Churn fell to 4%."

    await chainlit_data_layer.update_thread(thread_id, metadata={"is_shared": False})
    assert (await client.get(url, cookies=login(bob.identifier))).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/..%2F..%2Fetc%2Fpasswd",
        "/files/%2Fetc%2Fpasswd",
        "/files/a/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
async def test_path_traversal_is_refused(client, chainlit_data_layer, path):
    alice = await make_user(chainlit_data_layer, "alice")
    response = await client.get(path, cookies=login(alice.identifier))
    assert response.status_code == 404
    assert "root:" not in response.text and "[project]" not in response.text


async def test_a_file_on_disk_without_an_element_row_is_not_served(client, chainlit_data_layer):
    alice = await make_user(chainlit_data_layer, "alice")
    storage = chainlit_data_layer.storage_provider
    stored = await storage.upload_file("orphan/secret.txt", b"not yours", mime="text/plain")
    response = await client.get(
        "/files/" + quote(stored["object_key"]), cookies=login(alice.identifier)
    )
    assert response.status_code == 404
