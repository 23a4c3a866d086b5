"""The Chainlit handlers end to end in-process: real RagService (real embedder, real
Chroma), the real router with no key (the extractive provider: a real path), the real
data layer on SQLite, inside Chainlit's mocked context (tests/chat/test_steps.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from chainlit.element import File
from chainlit.message import Message
from chainlit.user_session import user_sessions
from test_steps import chainlit_session, emitted, last_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

ENGINE_ENV = ("DATABASE_URL", "CHROMA_HOST", "CHROMA_PORT")


@pytest.fixture
async def chat_app(tmp_path, monkeypatch, clean_llm_env):
    """The app's handlers on a fresh data directory, services opened for real, with no
    LLM variable of the machine (tests/conftest.py clean_llm_env)."""
    for key in ENGINE_ENV:
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in __import__("os").environ if k.startswith("DOCCHAT_")]:
        monkeypatch.delenv(key, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DOCCHAT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOCCHAT_BOOTSTRAP_ADMIN", "false")
    monkeypatch.setenv("DOCCHAT_LLM_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 64)
    monkeypatch.chdir(tmp_path)

    import chainlit.data as cl_data

    from chat import auth, services
    from chat.config import get_settings

    get_settings.cache_clear()
    auth.reset_app_data_layer()
    cl_data._data_layer, cl_data._data_layer_initialized = None, False
    from agents.llm.router import LLMRouter
    from chat import handlers
    from rag.service import RagService

    ctx = await auth.prepare_app()
    rag = await RagService.open()
    router = LLMRouter.from_settings()
    services.use(rag=rag, router=router)
    yield SimpleNamespace(handlers=handlers, rag=rag, router=router, data_layer=ctx.data_layer,
                          dir=tmp_path)
    await settle()
    await services.close()
    await ctx.data_layer.engine.dispose()
    auth.reset_app_data_layer()
    cl_data._data_layer, cl_data._data_layer_initialized = None, False
    get_settings.cache_clear()


async def start_thread(app, session) -> None:
    """What Chainlit does on a first message: the thread row, owned by the user."""
    persisted = await app.data_layer.create_user(session.user)
    await app.data_layer.update_thread(session.thread_id, user_id=persisted.id,
                                       name="first message")


def user_message(text: str, files: list[Path] = (), command: str | None = None) -> Message:
    message = Message(content=text, type="user_message", author="alice", command=command)
    message.elements = [File(name=p.name, path=str(p), display="inline") for p in files]
    return message


def reply_of(session) -> dict:
    """The last assistant message sent (its final state)."""
    sent = [p for e, p in emitted(session, "new_message")
            if p.get("type") == "assistant_message"]
    assert sent, "no reply sent"
    return last_state(session, sent[-1]["id"])


def steps_named(session, name: str) -> list[dict]:
    ids = [p["id"] for e, p in emitted(session, "new_message") if p.get("name") == name]
    return [last_state(session, i) for i in dict.fromkeys(ids)]


async def settle() -> None:
    """Let Chainlit's fire-and-forget persistence tasks finish."""
    for _ in range(50):
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()
                   and not t.done() and "_data_layer" not in repr(t)]
        if not pending:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)


async def test_upload_and_question_in_one_message_answers_with_cited_pdf_chunk(chat_app,
                                                                             report_pdf):
    pdf = report_pdf
    async with chainlit_session() as session:
        await chat_app.handlers.on_chat_start()
        await start_thread(chat_app, session)
        await chat_app.handlers.on_message(
            user_message("How often must the Heliotrope reactor be inspected?", [pdf]))
        await settle()
        reply = reply_of(session)
        elements = [p for e, p in emitted(session, "element") if p.get("forId") == reply["id"]]
        progress = next(p for e, p in emitted(session, "new_message")
                        if "heliotrope-report.pdf" in (p.get("output") or ""))
        upload = last_state(session, progress["id"])
        supervisor = steps_named(session, "Deciding how to answer")[0]
        thread = await chat_app.data_layer.get_thread(session.thread_id)

    settings = next(p for e, p in emitted(session, "chat_settings"))
    assert [w["id"] for w in settings] == ["answer_model", "k", "scope"]
    assert "extractive" in [i["value"] for i in settings[0]["items"]]
    assert next(p for e, p in emitted(session, "set_commands"))[0]["id"] == "Documents"

    assert upload["output"].startswith("**Indexed 1 file**") and not upload["isError"]
    assert "**heliotrope-report.pdf**: indexed: 3 pages" in upload["output"]
    assert "**Decision:** search your documents" in supervisor["output"]
    assert "every 43 days" in reply["output"]
    assert "No language model is configured" in reply["output"]
    assert "[1]" in reply["output"] or "[2]" in reply["output"]
    # "page" chips never open by themselves (Chainlit opens every new "side" element)
    assert not [e for e in emitted(session, "element") if e[1].get("display") == "side"]
    cited = [e for e in elements if e["display"] == "page"]
    assert cited and all(e["name"].startswith("[") for e in cited)
    records = reply["metadata"]["docchat_citations"]
    assert {f"[{r['n']}]" for r in records} == {e["name"] for e in cited}
    page2 = next(r for r in records if r["label"].startswith(f"[{r['n']}] heliotrope-report.pdf, page 2"))
    start, end = page2["highlight"]
    assert "43 days" in page2["text"][start:end]
    texts = {e["name"]: await _element_text(e, session) for e in cited}
    assert any("heliotrope-report.pdf, page 2" in t and "43 days" in t for t in texts.values())

    metadata = json.loads(thread["metadata"]) if isinstance(thread["metadata"], str) \
        else thread["metadata"]
    assert metadata["memory"]["turns"][0]["content"].startswith("How often")
    assert metadata["chat_settings"]["scope"] == "all"  # new chats: all my documents
    assert thread["name"] == "How often must the Heliotrope reactor…"
    persisted = {s["name"]: s for s in thread["steps"]}
    assert "**Decision:** search your documents" in persisted["Deciding how to answer"]["output"]


async def _element_text(element: dict, session) -> str:
    """The text content Chainlit persisted for a Text element (via persist_file)."""
    for call in session.persist_file.call_args_list:
        if call.kwargs.get("name") == element["name"]:
            content = call.kwargs.get("content")
            return content.decode() if isinstance(content, bytes) else str(content)
    return ""


async def test_new_chat_searches_all_documents_and_thread_scope_offers_to_widen(chat_app,
                                                                               report_pdf):
    """A new chat finds a document uploaded in an earlier chat (default scope: all of
    mine); switched to "only this chat", it says what it searched and one click on
    "Search all my documents" widens the scope and answers."""
    import chainlit as cl

    from chat.scope import WIDEN_ACTION

    question = "How often must the Heliotrope reactor be inspected?"
    async with chainlit_session() as first:
        await chat_app.handlers.on_chat_start()
        await chat_app.handlers.on_message(user_message("", [report_pdf]))
        summary = reply_of(first)["output"]
    assert "heliotrope-report.pdf" in summary and "indexed" in summary.lower()

    async with chainlit_session() as second:
        await chat_app.handlers.on_chat_start()
        await chat_app.handlers.on_message(user_message(question))
        new_chat = reply_of(second)["output"]
        change = {"answer_model": "auto", "k": 3, "scope": "thread"}
        second.chat_settings.update(change)  # as Chainlit does before the callback
        await chat_app.handlers.on_settings_update(change)
        await chat_app.handlers.on_message(user_message(question))
        await settle()
        notes = [p["output"] for e, p in emitted(second, "new_message")
                 if "I searched only" in (p.get("output") or "")]
        widen = [p for e, p in emitted(second, "action") if p.get("name") == WIDEN_ACTION]
        assert widen and widen[-1]["payload"]["question"] == question
        await chat_app.handlers.on_widen_scope(cl.Action(name=WIDEN_ACTION,
                                                         payload=widen[-1]["payload"]))
        await settle()
        widened = reply_of(second)["output"]
        scope_after = second.chat_settings["scope"]
    assert "43 days" in new_chat
    assert notes and "this chat's documents" in notes[-1]
    assert "43 days" in widened and scope_after == "all"


async def test_resume_restores_memory_and_settings_and_drops_share_flags(chat_app):
    memory = {"turns": [{"role": "user", "content": "What is Heliotrope?"},
                        {"role": "assistant", "content": "A reactor [1]."}], "summary": ""}
    thread = {"id": str(uuid.uuid4()), "userIdentifier": "alice",
              "metadata": json.dumps({"memory": memory, "is_shared": True,
                                      "shared_at": "2026-11-22T00:00:00Z",
                                      "chat_settings": {"answer_model": "auto", "k": 7,
                                                        "scope": "all"}})}
    async with chainlit_session(thread_id=thread["id"]) as session:
        user_sessions[session.id] = json.loads(thread["metadata"])  # as Chainlit's resume does
        session.chat_settings = json.loads(thread["metadata"])["chat_settings"]
        await chat_app.handlers.on_chat_resume(thread)
        stored = dict(user_sessions[session.id])
        prefs = chat_app.handlers._prefs()
    widgets = [p for e, p in emitted(session, "chat_settings")][-1]
    assert {w["id"]: w["initial"] for w in widgets} == {"answer_model": "auto", "k": 7,
                                                       "scope": "all"}
    assert stored["memory"] == memory
    assert "is_shared" not in stored and "shared_at" not in stored
    assert (prefs.k, prefs.scope, prefs.answer_model) == (7, "all", None)


async def test_shared_thread_view_allows_only_a_shared_thread_or_its_author(chat_app):
    from chainlit.user import User

    view = chat_app.handlers.on_shared_thread_view
    shared = {"id": "t", "userIdentifier": "alice", "metadata": {"is_shared": True}}
    unshared = {"id": "t", "userIdentifier": "alice", "metadata": '{"is_shared": false}'}
    bob, alice = User(identifier="bob"), User(identifier="alice")
    assert await view(shared, bob) is True
    assert await view(shared, None) is True
    assert await view(unshared, bob) is False
    assert await view(unshared, None) is False
    assert await view(unshared, alice) is True
    assert await view({"id": "t", "userIdentifier": "alice", "metadata": None}, bob) is False
    assert await view({"id": "t", "userIdentifier": "alice",
                       "metadata": {"is_shared": "yes"}}, bob) is False


async def test_documents_delete_asks_first_then_deletes_and_lists_again(chat_app, report_pdf):
    """One click asks (nothing deleted), "Keep it" keeps, "Delete" deletes and the list
    is sent again fresh; a forged payload under another user touches nothing."""
    from chainlit.action import Action

    from chat.documents import CONFIRM_ACTION, KEEP_ACTION
    from rag.models import Scope

    async with chainlit_session() as session:
        await chat_app.handlers.on_message(user_message("", [report_pdf]))
        before = await chat_app.rag.count_chunks(Scope(owner="id-alice"))
        await chat_app.handlers.on_message(user_message("List my documents",
                                                        command="Documents"))
        listing = reply_of(session)
        actions = [p for e, p in emitted(session, "action") if p["forId"] == listing["id"]]
        assert [a["label"] for a in actions] == ["Delete heliotrope-report.pdf"]
        forged = dict(actions[0]["payload"])
        async with chainlit_session(user="mallory"):
            await chat_app.handlers.on_delete_document_confirmed(
                Action(name=CONFIRM_ACTION, payload=forged))
        after_forged = await chat_app.rag.count_chunks(Scope(owner="id-alice"))

        await chat_app.handlers.on_delete_document(
            Action(name="delete_document", payload=actions[0]["payload"], id=actions[0]["id"]))
        question = reply_of(session)
        after_first_click = await chat_app.rag.count_chunks(Scope(owner="id-alice"))
        buttons = {p["name"]: p for e, p in emitted(session, "action")
                   if p["forId"] == question["id"]}
        await chat_app.handlers.on_delete_document_cancelled(
            Action(name=KEEP_ACTION, payload=buttons[KEEP_ACTION]["payload"]))
        kept = last_state(session, question["id"])["output"]
        after_keep = await chat_app.rag.count_chunks(Scope(owner="id-alice"))

        await chat_app.handlers.on_delete_document(
            Action(name="delete_document", payload=actions[0]["payload"], id=actions[0]["id"]))
        question = reply_of(session)
        buttons = {p["name"]: p for e, p in emitted(session, "action")
                   if p["forId"] == question["id"]}
        await chat_app.handlers.on_delete_document_confirmed(
            Action(name=CONFIRM_ACTION, payload=buttons[CONFIRM_ACTION]["payload"]))
        done = last_state(session, question["id"])["output"]
        fresh = reply_of(session)["output"]
        removed = [p for e, p in emitted(session, "delete_message") if p.get("id") == listing["id"]]
        after = await chat_app.rag.count_chunks(Scope(owner="id-alice"))
    assert before > 0 and after_forged == before
    assert "Delete **heliotrope-report.pdf**?" in question["output"]
    assert after_first_click == before and after_keep == before
    assert kept == "Kept heliotrope-report.pdf."
    assert done == f"Deleted heliotrope-report.pdf: {before} chunks removed from the index."
    assert after == 0 and removed  # the stale list is gone
    assert fresh.startswith("You have no documents yet")


async def test_stop_cancels_a_streaming_answer_and_closes_its_steps(chat_app, monkeypatch,
                                                                    report_pdf):
    from e2e_support import FakeLLM, fake_llm_env

    from agents.llm.router import LLMRouter
    from chat import services

    fake = FakeLLM(needle="Heliotrope", delay=0.3).start()
    try:
        for key, value in fake_llm_env(fake.port).items():
            monkeypatch.setenv(key, value)
        services.use(rag=chat_app.rag, router=LLMRouter.from_settings())
        pdf = report_pdf
        async with chainlit_session() as session:
            await chat_app.handlers.on_message(user_message("", [pdf]))
            task = asyncio.create_task(chat_app.handlers.on_message(
                user_message("How often must the Heliotrope reactor be inspected?")))
            for _ in range(200):
                if emitted(session, "stream_start"):
                    break
                await asyncio.sleep(0.05)
            assert emitted(session, "stream_start"), "the answer never started streaming"
            await chat_app.handlers.on_stop()
            with pytest.raises(asyncio.CancelledError):
                await task
            reply = reply_of(session)
            answer = steps_named(session, "Writing the answer")[0]
            agent = steps_named(session, "Working on your question")[-1]
    finally:
        fake.stop()
    assert reply["output"].endswith("_Stopped._")
    assert reply["output"].startswith("According")
    assert "CancelledError" in answer["output"] or answer["output"] == "**Stopped**"
    assert agent["end"]


async def test_grouped_and_adjacent_markers_each_get_their_citation_chip():
    """"[1, 2] and [3][4]": all four cited chunks open from the reply (one parser)."""
    from agents.memory import Citation, Memory, RunResult
    from chat.asking import reply_text
    from chat.citations import citation_elements
    from chat.steps import AnswerStream

    answer = "The pumps are replaced [1, 2] and inspected every 43 days [3][4]."
    cites = [Citation(n=n, chunk_id=f"c{n}", doc_id="d", source="report.pdf", page=n,
                      heading=None, text=f"chunk {n}") for n in (1, 2, 3, 4, 5)]
    result = RunResult(answer=answer, route="retrieve", citations=cites, memory=Memory(),
                       trace=[], verdict="approve")
    async with chainlit_session() as session:
        stream = AnswerStream()
        message = await stream.finish(reply_text(result),
                                      citation_elements(result.citations, result.answer))
        chips = [p for e, p in emitted(session, "element")
                 if p.get("forId") == message.id and p.get("display") == "page"]
    assert sorted(p["name"] for p in chips) == ["[1]", "[2]", "[3]", "[4]"]
    assert "[1] report.pdf, page 1" in message.content and "[5]" not in message.content
