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

FACT = "The Heliotrope reactor must be inspected every 43 days by a certified engineer."
PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                "GOOGLE_API_KEY", "DATABASE_URL", "CHROMA_HOST", "CHROMA_PORT")


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real PDF with one paragraph per page (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def report_pdf(folder: Path) -> Path:
    return make_pdf(folder / "heliotrope-report.pdf", [
        "Annual maintenance report. This report covers the cooling plant and its pumps. "
        "Pumps are replaced every five years.",
        f"Safety schedule. {FACT} Inspections are logged in the blue binder.",
        "Budget. The maintenance budget for next year is forty thousand euros.",
    ])


@pytest.fixture
async def chat_app(tmp_path, monkeypatch):
    """The app's handlers on a fresh data directory, services opened for real."""
    for key in PROVIDER_ENV:
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
    import chat.handlers as handlers
    from agents.llm.router import LLMRouter
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


async def test_upload_and_question_in_one_message_answers_with_cited_pdf_chunk(chat_app):
    pdf = report_pdf(chat_app.dir)
    async with chainlit_session() as session:
        await chat_app.handlers.on_chat_start()
        await start_thread(chat_app, session)
        await chat_app.handlers.on_message(
            user_message("How often must the Heliotrope reactor be inspected?", [pdf]))
        await settle()
        reply = reply_of(session)
        elements = [p for e, p in emitted(session, "element") if p.get("forId") == reply["id"]]
        upload = steps_named(session, "Indexing heliotrope-report.pdf")[0]
        supervisor = steps_named(session, "Supervisor")[0]
        thread = await chat_app.data_layer.get_thread(session.thread_id)

    settings = [p for e, p in emitted(session, "chat_settings")][0]
    assert [w["id"] for w in settings] == ["answer_model", "k", "scope"]
    assert "extractive" in [i["value"] for i in settings[0]["items"]]
    assert [p for e, p in emitted(session, "set_commands")][0][0]["id"] == "Documents"

    assert upload["output"].startswith("Indexed with ") and not upload["isError"]
    assert "**Decision:** `retrieve`" in supervisor["output"]
    assert "every 43 days" in reply["output"]
    assert "No language model is configured" in reply["output"]
    assert "[1]" in reply["output"] or "[2]" in reply["output"]
    cited = [e for e in elements if e["display"] == "side"]
    assert cited and all(e["name"].startswith("[") for e in cited)
    texts = {e["name"]: await _element_text(e, session) for e in cited}
    assert any("heliotrope-report.pdf, page 2" in t and "43 days" in t for t in texts.values())

    metadata = json.loads(thread["metadata"]) if isinstance(thread["metadata"], str) \
        else thread["metadata"]
    assert metadata["memory"]["turns"][0]["content"].startswith("How often")
    assert metadata["chat_settings"]["scope"] == "thread"
    assert thread["name"] == "How often must the Heliotrope reactor…"
    persisted = {s["name"]: s for s in thread["steps"]}
    assert "**Decision:** `retrieve`" in persisted["Supervisor"]["output"]


async def _element_text(element: dict, session) -> str:
    """The text content Chainlit persisted for a Text element (via persist_file)."""
    for call in session.persist_file.call_args_list:
        if call.kwargs.get("name") == element["name"]:
            content = call.kwargs.get("content")
            return content.decode() if isinstance(content, bytes) else str(content)
    return ""


async def test_scope_setting_switches_between_this_thread_and_all_documents(chat_app):
    pdf = report_pdf(chat_app.dir)
    question = "How often must the Heliotrope reactor be inspected?"
    async with chainlit_session() as first:
        await chat_app.handlers.on_chat_start()
        await chat_app.handlers.on_message(user_message("", [pdf]))
        summary = reply_of(first)["output"]
    assert "heliotrope-report.pdf" in summary and "Indexed with" in summary

    async with chainlit_session() as second:
        await chat_app.handlers.on_chat_start()
        await chat_app.handlers.on_message(user_message(question))
        only_thread = reply_of(second)["output"]
        change = {"answer_model": "auto", "k": 3, "scope": "all"}
        second.chat_settings.update(change)  # as Chainlit does before the callback
        await chat_app.handlers.on_settings_update(change)
        await chat_app.handlers.on_message(user_message(question))
        all_docs = reply_of(second)["output"]
    assert "43 days" not in only_thread
    assert "43 days" in all_docs


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


async def test_documents_command_lists_and_delete_button_removes_chunks(chat_app):
    from chainlit.action import Action

    from rag.models import Scope

    pdf = report_pdf(chat_app.dir)
    async with chainlit_session() as session:
        await chat_app.handlers.on_message(user_message("", [pdf]))
        before = await chat_app.rag.count_chunks(Scope(owner="alice"))
        await chat_app.handlers.on_message(user_message("List my documents",
                                                        command="Documents"))
        listing = reply_of(session)
        actions = [p for e, p in emitted(session, "action") if p["forId"] == listing["id"]]
        assert [a["label"] for a in actions] == ["Delete heliotrope-report.pdf"]
        forged = dict(actions[0]["payload"])
        async with chainlit_session(user="mallory"):
            await chat_app.handlers.on_delete_document(Action(name="delete_document",
                                                              payload=forged))
        after_forged = await chat_app.rag.count_chunks(Scope(owner="alice"))
        await chat_app.handlers.on_delete_document(
            Action(name="delete_document", payload=actions[0]["payload"], id=actions[0]["id"]))
        done = reply_of(session)["output"]
        after = await chat_app.rag.count_chunks(Scope(owner="alice"))
    assert before > 0 and after_forged == before
    assert done == f"Deleted heliotrope-report.pdf: {before} chunks removed from the index."
    assert after == 0


async def test_stop_cancels_a_streaming_answer_and_closes_its_steps(chat_app, monkeypatch):
    from e2e_support import FakeLLM, fake_llm_env

    from agents.llm.router import LLMRouter
    from chat import services

    fake = FakeLLM(needle="Heliotrope", delay=0.3).start()
    try:
        for key, value in fake_llm_env(fake.port).items():
            monkeypatch.setenv(key, value)
        services.use(rag=chat_app.rag, router=LLMRouter.from_settings())
        pdf = report_pdf(chat_app.dir)
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
            answer = steps_named(session, "Answer")[0]
            agent = steps_named(session, "Agent")[-1]
    finally:
        fake.stop()
    assert reply["output"].endswith("_Stopped._")
    assert reply["output"].startswith("According")
    assert "CancelledError" in answer["output"] or answer["output"] == "**Stopped**"
    assert agent["end"]
