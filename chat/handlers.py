"""Chainlit callbacks: importing this module registers every handler of the app.

Each handler is short and hands the work to a module of its own:
uploads (``chat.uploads``), answering (``chat.asking`` + ``chat.steps``), documents
(``chat.documents``), thread state (``chat.session_state``), titles (``chat.titles``)
and sharing (``chat.sharing``).
"""

from __future__ import annotations

import logging
from typing import Any

import chainlit as cl

from chat import asking, documents, services, session_state, sharing, titles, uploads
from chat.auth import authenticate, ensure_auth_secret, get_app_data_layer, prepare_app
from chat.session_state import ChatPrefs

log = logging.getLogger(__name__)

MEMORY_KEY = "memory"
TITLED_KEY = "titled"


# --- start-up, auth, persistence ------------------------------------------------------
# Chainlit checks CHAINLIT_AUTH_SECRET before start-up: set it (or generate it) now.
ensure_auth_secret()


async def _rag_ready() -> Any:
    return await (await services.get_rag()).check()


@cl.on_app_startup
async def on_app_startup() -> None:
    """Migrate the database, create the first admin, add routes, warm up retrieval."""
    from chat import loop_probe
    from chat.logging import configure
    from chat.routes import install_routes

    configure()
    await prepare_app()
    install_routes({"rag": _rag_ready})
    await services.warm_up()
    loop_probe.start_if_enabled()


@cl.on_app_shutdown
async def on_app_shutdown() -> None:
    """Close the shared services."""
    await services.close()


@cl.password_auth_callback
async def password_auth(username: str, password: str) -> cl.User | None:
    """Check a login against the user table (argon2 hashes)."""
    return await authenticate(username, password)


@cl.data_layer
def data_layer() -> Any:
    """The SQLAlchemy data layer with the fixes DESIGN.md lists."""
    return get_app_data_layer()


# --- session life ---------------------------------------------------------------------
def _owner() -> str:
    user = cl.user_session.get("user")
    if user is None:
        raise PermissionError("log in first")
    return user.identifier


def _prefs() -> ChatPrefs:
    """This thread's settings, read from the session's chat settings (Chainlit keeps
    them current on every change and restores them on resume)."""
    available = services.get_router().available_models()
    return ChatPrefs.from_settings(cl.context.session.chat_settings, available, _default_k())


async def _show_settings(prefs: ChatPrefs) -> ChatPrefs:
    router = services.get_router()
    available = router.available_models()
    await session_state.settings_widgets(available, prefs).send()
    await cl.context.emitter.set_commands(documents.COMMANDS)
    return prefs


def _default_k() -> int:
    from chat.config import get_settings

    return get_settings().default_k


@cl.on_chat_start
async def on_chat_start() -> None:
    """A new thread: default settings (unless already changed), empty memory, commands."""
    cl.user_session.set(MEMORY_KEY, {})
    await _show_settings(_prefs())


@cl.on_chat_resume
async def on_chat_resume(thread: dict) -> None:
    """Reopened thread: restore memory, scope and settings from its metadata."""
    session_state.forget_share_flags()
    metadata = session_state.thread_metadata(thread)
    available = services.get_router().available_models()
    prefs = ChatPrefs.from_settings(metadata.get("chat_settings"), available, _default_k())
    cl.user_session.set(MEMORY_KEY, metadata.get(MEMORY_KEY) or {})
    cl.user_session.set(TITLED_KEY, True)
    await _show_settings(prefs)


@cl.on_settings_update
async def on_settings_update(settings: dict) -> None:
    """The user changed the settings panel: keep them for this thread."""
    prefs = _prefs()
    if cl.context.session.has_first_interaction:
        await session_state.save_thread_state(
            cl.context.session.thread_id, memory=cl.user_session.get(MEMORY_KEY), prefs=prefs)


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """Suggestions on the welcome screen."""
    return [
        cl.Starter(label="Summarise my documents",
                   message="Summarise the main points of my documents."),
        cl.Starter(label="Find a specific fact",
                   message="What do my documents say about deadlines and dates?"),
        cl.Starter(label="List my documents", message="List my documents",
                   command=documents.COMMAND),
        cl.Starter(label="What can you do?",
                   message="What can you do, and how do I add documents?"),
    ]


# --- messages ---------------------------------------------------------------------------
@cl.on_message
async def on_message(message: cl.Message) -> None:
    """Index attached files, then answer the text (if any) with the supervisor flow."""
    copies, folder = await uploads.copy_uploads(message, services.uploads_dir())  # at once
    owner, thread_id = _owner(), cl.context.session.thread_id
    parent_id = cl.context.current_step.id if cl.context.current_step else None
    rag = await services.get_rag()
    reports: list = []
    try:
        if copies:
            from rag.models import Scope

            reports = await uploads.index_uploads(
                rag, copies, Scope(owner=owner, thread_id=thread_id), parent_id=parent_id)
    finally:
        uploads.remove_copies(folder)

    if message.command == documents.COMMAND:
        await documents.list_documents_message(rag, owner, thread_id)
        return
    text = (message.content or "").strip()
    if not text:
        if reports:
            await cl.Message(content=_uploads_summary(reports)).send()
            await _name_thread(None, [c.name for c in copies])
        return
    await _answer(text, owner, thread_id, parent_id, rag)


def _uploads_summary(reports: list) -> str:
    done = [r for r in reports if r.status in ("indexed", "duplicate")]
    lines = [uploads.summary_text(r) for r in reports]
    names = [f"**{r.filename}**: {line}" for r, line in zip(reports, lines)]
    tail = "Ask me anything about them." if done else "Nothing new was indexed."
    return "\n".join(f"- {n}" for n in names) + f"\n\n{tail}"


async def _answer(text: str, owner: str, thread_id: str, parent_id: str | None,
                  rag: Any) -> None:
    from agents.memory import Memory
    from rag.models import Scope

    prefs = _prefs()
    memory = Memory.from_dict(cl.user_session.get(MEMORY_KEY) or {})
    scope = Scope(owner=owner, thread_id=thread_id if prefs.scope == "thread" else None)
    question = asking.Question(text=text, scope=scope, memory=memory, k=prefs.k,
                               answer_model=prefs.answer_model)
    result = await asking.run_question(question, rag=rag, router=services.get_router(),
                                       thread_id=thread_id, parent_id=parent_id)
    if result is None:
        return
    cl.user_session.set(MEMORY_KEY, result.memory.to_dict())
    await session_state.save_thread_state(thread_id, memory=result.memory.to_dict(),
                                          prefs=prefs)
    await _name_thread(text, [])


async def _name_thread(question: str | None, filenames: list[str]) -> None:
    """Give a new thread its title: from its first question (once), or, until there is
    one, from the files it started with."""
    if cl.user_session.get(TITLED_KEY):
        return
    if question:
        cl.user_session.set(TITLED_KEY, True)
        title = await titles.make_title(question, services.get_router())
    else:
        title = titles.files_title(filenames)
    from chainlit.data import get_data_layer

    if (data_layer := get_data_layer()) is not None:
        await data_layer.update_thread(thread_id=cl.context.session.thread_id, name=title)


@cl.on_stop
async def on_stop() -> None:
    """The stop button: cancel the running flow (Chainlit cancels the handler too)."""
    stopped = await asking.stop_current()
    log.info("stop requested (flow running: %s)", stopped)


@cl.action_callback(documents.DELETE_ACTION)
async def on_delete_document(action: cl.Action) -> None:
    """A document's delete button: remove it and its chunks."""
    rag = await services.get_rag()
    text = await documents.delete_document(rag, _owner(), action.payload or {})
    await action.remove()
    await cl.Message(content=text).send()


# --- sharing ----------------------------------------------------------------------------
@cl.on_shared_thread_view
async def on_shared_thread_view(thread: dict, viewer: cl.User | None) -> bool:
    """Allow a shared link only for a thread its author shared (or to the author)."""
    return sharing.may_view_shared(thread, viewer)
