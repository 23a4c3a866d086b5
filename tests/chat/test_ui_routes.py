"""The passage panel's and share page's routes through a real HTTP client, plus the pure
pieces behind citations (supporting sentence) and scope (thread boost)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from test_routes import login, make_user, secret  # noqa: F401

from chat.citations import METADATA_KEY, citation_records, supporting_span
from chat.scope import prefer_thread
from chat.ui_routes import install_ui_routes
from rag.models import SearchResult


@pytest.fixture
async def client(secret, chainlit_data_layer, monkeypatch):  # noqa: F811
    from chainlit.server import app

    from chat import services

    class Index:  # the index of the owner in OWNERS holds only "d-kept"
        async def list_documents(self, scope):
            from rag.models import DocumentInfo

            if scope.owner not in OWNERS:
                return []
            return [DocumentInfo("d-kept", "kept.pdf", 3, None, "2026-11-30T00:00:00Z")]

    async def fake_rag():
        return Index()

    monkeypatch.setattr(services, "get_rag", fake_rag)
    install_ui_routes()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


#: stable user ids whose document index holds "d-kept" (documents are keyed by the
#: user's id, never by the login name: chat.owners.document_owner)
OWNERS: set[str] = set()


async def answer_in_thread(data_layer, author, shared: bool = False) -> str:
    """A thread of ``author`` with one answer citing a kept and a deleted document."""
    OWNERS.add(author.id)
    thread_id, step_id = str(uuid.uuid4()), str(uuid.uuid4())
    await data_layer.update_thread(thread_id, user_id=author.id, name="report",
                                   metadata={"is_shared": shared})
    records = [{"n": 1, "label": "[1] kept.pdf, page 2", "source": "kept.pdf", "page": 2,
                "heading": None, "text": "Inspect every 43 days.", "doc_id": "d-kept",
                "highlight": [0, 22]},
               {"n": 2, "label": "[2] gone.md", "source": "gone.md", "page": None,
                "heading": None, "text": "Old text.", "doc_id": "d-gone", "highlight": None}]
    await data_layer.create_step({"id": step_id, "threadId": thread_id, "name": "DocChat",
                                  "type": "assistant_message", "output": "Every 43 days [1].",
                                  "metadata": {METADATA_KEY: records},
                                  "createdAt": "2026-11-30T00:00:00Z"})
    return step_id


async def test_the_author_gets_the_cited_passages_with_deleted_ones_marked(client,
                                                                           chainlit_data_layer):
    author = await make_user(chainlit_data_layer, "ada")
    step_id = await answer_in_thread(chainlit_data_layer, author)
    response = await client.get(f"/docchat/passages/{step_id}",
                                cookies=login(author.identifier))
    assert response.status_code == 200
    cites = response.json()["citations"]
    assert [(c["n"], c["label"], c["deleted"]) for c in cites] == [
        (1, "[1] kept.pdf, page 2", False), (2, "[2] gone.md", True)]
    assert "doc_id" not in cites[0] and cites[0]["highlight"] == [0, 22]


async def test_others_get_404_unless_shared_and_nobody_logged_in_gets_401(client,
                                                                         chainlit_data_layer):
    author = await make_user(chainlit_data_layer, "ada")
    other = await make_user(chainlit_data_layer, "eve")
    private = await answer_in_thread(chainlit_data_layer, author)
    shared = await answer_in_thread(chainlit_data_layer, author, shared=True)
    refused = await client.get(f"/docchat/passages/{private}", cookies=login(other.identifier))
    anonymous = await client.get(f"/docchat/passages/{private}")
    allowed = await client.get(f"/docchat/passages/{shared}", cookies=login(other.identifier))
    unknown = await client.get(f"/docchat/passages/{uuid.uuid4()}",
                               cookies=login(author.identifier))
    assert (refused.status_code, anonymous.status_code) == (404, 401)
    assert allowed.status_code == 200 and len(allowed.json()["citations"]) == 2
    assert unknown.status_code == 404


async def test_share_page_says_not_shared_and_share_info_names_the_author(client,
                                                                          chainlit_data_layer):
    author = await make_user(chainlit_data_layer, "ada")
    other = await make_user(chainlit_data_layer, "bob")
    private_id, shared_id = str(uuid.uuid4()), str(uuid.uuid4())
    await chainlit_data_layer.update_thread(private_id, user_id=author.id, name="p")
    await chainlit_data_layer.update_thread(
        shared_id, user_id=author.id, name="s",
        metadata={"is_shared": True, "shared_at": "2026-11-30T10:00:00Z"})
    refused = await client.get(f"/share/{private_id}", cookies=login(other.identifier))
    missing = await client.get(f"/share/{uuid.uuid4()}", cookies=login(other.identifier))
    shown = await client.get(f"/share/{shared_id}", cookies=login(other.identifier))
    info = await client.get(f"/docchat/share-info/{shared_id}", cookies=login(other.identifier))
    hidden = await client.get(f"/docchat/share-info/{private_id}",
                              cookies=login(other.identifier))
    assert refused.status_code == 404 and "This conversation is not shared" in refused.text
    assert "<script" not in refused.text and missing.status_code == 404
    assert shown.status_code == 200 and "This conversation is not shared" not in shown.text
    assert info.json() | {"viewer_is_author": None} == {
        "author": author.identifier, "shared_at": "2026-11-30T10:00:00Z", "is_shared": True,
        "viewer_is_author": None}
    assert hidden.status_code == 404


def test_the_supporting_sentence_is_the_one_sharing_the_claims_words():
    passage = ("Safety schedule. The Heliotrope reactor must be inspected every 43 days by a "
               "certified engineer. Inspections are logged in the blue binder.")
    start, end = supporting_span(passage, ["The reactor is inspected every 43 days [1]."])
    assert passage[start:end] == ("The Heliotrope reactor must be inspected every 43 days by "
                                  "a certified engineer.")
    assert supporting_span(passage, ["Nothing in common here [1]."]) is None


def test_citation_records_follow_the_markers_of_their_own_answer():
    from types import SimpleNamespace

    cite = SimpleNamespace(n=2, source="m.pdf", page=4, heading="Valves", doc_id="d",
                           text="Close the valve. Log it in the binder.")
    unused = SimpleNamespace(n=1, source="x.md", page=None, heading=None, doc_id="e", text="t")
    records = citation_records([unused, cite], "Log every valve closure in the binder [2].")
    assert [r["n"] for r in records] == [2]
    assert records[0]["label"] == "[2] m.pdf, page 4 — Valves"
    start, end = records[0]["highlight"]
    assert records[0]["text"][start:end] == "Log it in the binder."


def hit(cid: str, rank: int) -> SearchResult:
    return SearchResult(chunk_id=cid, doc_id=cid, text="", score=0.0, rank=rank, source=cid,
                        page=None, heading=None)


def test_thread_boost_lifts_the_chats_files_without_shutting_out_others():
    everywhere = [hit(c, i) for i, c in enumerate(["o1", "o2", "t1", "o3", "o4"], start=1)]
    in_thread = [hit(c, i) for i, c in enumerate(["t1", "t2", "t3"], start=1)]
    fused = prefer_thread(everywhere, in_thread, k=5)
    assert [h.chunk_id for h in fused] == ["t1", "o1", "o2", "t2", "t3"]  # o2 ties t2: first seen
    assert [h.rank for h in fused] == [1, 2, 3, 4, 5]
    assert [h.chunk_id for h in prefer_thread(everywhere, in_thread, k=5, boost=0)] == [
        "o1", "o2", "t1", "o3", "o4"]
