"""Chainlit callbacks: importing this module registers every handler of the app.

Each handler is short and hands the work to a module of its own:
uploads (``chat.uploads``), answering (``chat.asking`` + ``chat.steps``), documents
(``chat.documents``), thread state (``chat.session_state``), titles (``chat.titles``)
and sharing (``chat.sharing``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import chainlit as cl
from chainlit.types import CommandDict, ThreadDict

from chat import (
    access,
    asking,
    documents,
    guards,
    instance,
    services,
    session_state,
    sharing,
    titles,
    uploads,
)
from chat.auth import authenticate, ensure_auth_secret, get_app_data_layer, prepare_app
from chat.config import align_chainlit_upload_limit
from chat.scope import WIDEN_ACTION, ThreadPreferringRetriever, found_nothing, scope_reply
from chat.owners import document_owner
from chat.session_state import ChatPrefs
from chat.web_security import install_web_security

log = logging.getLogger(__name__)

MEMORY_KEY = "memory"
TITLED_KEY = "titled"


# --- start-up, auth, persistence ------------------------------------------------------
# Chainlit checks CHAINLIT_AUTH_SECRET before start-up: set it (or generate it) now.
ensure_auth_secret()
# Chainlit's shutdown deletes its files folder: this instance gets one of its own.
instance.use_own_files_dir()
# One upload limit: Chainlit's max_size_mb follows DOCCHAT_UPLOAD_MAX_MB (warns if not).
align_chainlit_upload_limit()
# CSP, Secure cookies and origins: before uvicorn builds the middleware stack.
install_web_security()


async def _rag_ready() -> Any:
    return await (await services.get_rag()).check()


async def _indexing_ready() -> Any:
    """Fails when every indexing slot is busy and too many files wait (RAG_READY_MAX_WAITING);
    with a queue (DOCCHAT_QUEUE_URL), when Redis does not answer."""
    rag, indexer = await services.get_rag(), await services.get_indexer()
    if indexer is not rag:
        return await indexer.check()
    load = rag.indexing_load()
    if load["saturated"]:
        raise RuntimeError(f"indexing saturated: {load['running']}/{load['slots']} slots busy,"
                           f" {load['waiting']} files waiting")
    return load


@cl.on_app_startup
async def on_app_startup() -> None:
    """Migrate the database, create the first admin, add routes, warm up retrieval."""
    from chainlit.data import get_data_layer

    from bench import loop_probe
    from chat.api import install_api
    from chat.config import get_settings
    from chat.executor import install_low_priority_executor
    from chat import step_clock
    from chat.logging import configure
    from chat.routes import install_routes
    from chat.ui_routes import install_ui_routes

    configure()
    services.drop_chainlit_ci_key()  # before anything reads OPENAI_API_KEY
    step_clock.install()  # Chainlit's steps sleep 1 ms on the loop otherwise
    settings = get_settings()
    # before anything runs in the executor: its threads (and the embedder's) yield to
    # the loop thread when they compete for a core
    install_low_priority_executor(asyncio.get_running_loop(), settings.executor_nice)
    await prepare_app()
    install_routes({"rag": _rag_ready, "indexing": _indexing_ready,
                    "models": services.models_status})
    install_ui_routes()
    guards.install_upload_guard()
    guards.install_message_limit(settings.max_message_chars,
                                 int(settings.socket_max_mb * 1024 * 1024))
    access.install_socket_checks()  # after the message limit: it wraps what is installed
    await instance.recover(get_data_layer(), services.uploads_dir())
    install_api()
    await services.warm_up()
    loop_probe.start_if_enabled()


@cl.on_app_shutdown
async def on_app_shutdown() -> None:
    """Commit the step writes still queued, close the shared services."""
    await get_app_data_layer().step_writes.flush()
    await services.close()


@cl.password_auth_callback
async def password_auth(username: str, password: str) -> cl.User | None:
    """Check a login against the user table (argon2 hashes)."""
    return await authenticate(username, password)


@cl.data_layer
def data_layer() -> Any:
    """The SQLAlchemy data layer with the fixes listed in chat.persistence.data_layer."""
    return get_app_data_layer()


# --- session life ---------------------------------------------------------------------
def _owner() -> str:
    user = cl.user_session.get("user")
    if user is None:
        raise PermissionError("log in first")
    return document_owner(getattr(user, "id", None))  # PersistedUser.id, the stable id


def _prefs() -> ChatPrefs:
    """This thread's settings, read from the session's chat settings (Chainlit keeps
    them current on every change and restores them on resume)."""
    available = services.get_router().available_models()
    return ChatPrefs.from_settings(cl.context.session.chat_settings, available, _default_k())


async def _show_settings(prefs: ChatPrefs) -> ChatPrefs:
    router = services.get_router()
    available = router.available_models()
    await session_state.settings_widgets(available, prefs).send()
    await cl.context.emitter.set_commands(cast("list[CommandDict]", documents.COMMANDS))
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
async def on_chat_resume(thread: ThreadDict) -> None:
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
NOT_SAVED = ("The database is unavailable: this exchange could not be saved to your "
             "history. Please try again in a moment.")


@cl.on_message
async def on_message(message: cl.Message) -> None:
    """Index attached files, then answer the text (if any) with the supervisor flow.

    A database failure that outlasts the data layer's retries tells the user the turn
    was not saved, never the SQL (Chainlit would show ``str(error)``: statement and
    parameters, conversation text included)."""
    from chat.persistence.db import unavailable_errors

    try:
        await _on_message(message)
    except unavailable_errors() as error:
        log.error("turn not saved, database error: %s", type(error).__name__)
        await cl.ErrorMessage(content=NOT_SAVED, author="Error").send()


async def _on_message(message: cl.Message) -> None:
    copies, folder = await uploads.copy_uploads(message, services.uploads_dir())  # at once
    owner, thread_id = _owner(), cl.context.session.thread_id
    parent_id = cl.context.current_step.id if cl.context.current_step else None
    rag = await services.get_rag()
    reports: list = []
    try:
        if copies:
            from rag.models import Scope

            reports = await uploads.index_uploads(
                await services.get_indexer(), copies, Scope(owner=owner, thread_id=thread_id), parent_id=parent_id)
    finally:
        uploads.remove_copies(folder)

    if message.command == documents.COMMAND:
        await documents.list_documents_message(rag, owner, thread_id)
        return
    text = (message.content or "").strip()
    if not text:
        if reports:  # the progress message already ends with the summary
            await _name_thread(None, [c.name for c in copies])
        return
    await _answer(text, owner, thread_id, parent_id, rag)


async def _answer(text: str, owner: str, thread_id: str, parent_id: str | None,
                  rag: Any) -> None:
    from agents.memory import Memory
    from rag.models import Scope

    prefs = _prefs()
    memory = Memory.from_dict(cl.user_session.get(MEMORY_KEY) or {})
    thread_only = prefs.scope == session_state.SCOPE_THREAD
    scope = Scope(owner=owner, thread_id=thread_id if thread_only else None)
    question = asking.Question(text=text, scope=scope, memory=memory, k=prefs.k,
                               answer_model=prefs.answer_model)
    retriever = rag if thread_only else ThreadPreferringRetriever(rag, thread_id)
    result = await asking.run_question(question, rag=retriever, router=services.get_router(),
                                       thread_id=thread_id, parent_id=parent_id)
    if result is None:
        return
    if found_nothing(result):
        await scope_reply(text, thread_only).send()
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
    """A document's delete button: ask first (nothing is deleted on this click)."""
    await documents.ask_to_confirm(action.payload or {})


@cl.action_callback(documents.CONFIRM_ACTION)
async def on_delete_document_confirmed(action: cl.Action) -> None:
    """"Delete" in the confirmation: remove the document and its chunks, list again."""
    rag = await services.get_rag()
    payload = action.payload or {}
    text = await documents.delete_document(rag, _owner(), payload)
    await documents.settle_confirmation(str(payload.get("doc_id") or ""), text)
    await documents.list_documents_message(rag, _owner(), cl.context.session.thread_id)


@cl.action_callback(documents.KEEP_ACTION)
async def on_delete_document_cancelled(action: cl.Action) -> None:
    """"Keep it" in the confirmation: nothing is deleted."""
    payload = action.payload or {}
    await documents.settle_confirmation(str(payload.get("doc_id") or ""),
                                        f"Kept {payload.get('filename') or 'the document'}.")


@cl.action_callback(WIDEN_ACTION)
async def on_widen_scope(action: cl.Action) -> None:
    """"Search all my documents": switch this thread's scope to all, ask again."""
    settings = dict(cl.context.session.chat_settings or {})
    settings["scope"] = session_state.SCOPE_ALL
    cl.context.session.chat_settings = settings
    prefs = await _show_settings(_prefs())
    await session_state.save_thread_state(
        cl.context.session.thread_id, memory=cl.user_session.get(MEMORY_KEY), prefs=prefs)
    await action.remove()
    question = str((action.payload or {}).get("question") or "").strip()
    if question:
        await cl.Message(content=f"Searching all your documents for: {question}").send()
        owner, thread_id = _owner(), cl.context.session.thread_id
        await _answer(question, owner, thread_id, None, await services.get_rag())


# --- sharing ----------------------------------------------------------------------------
@cl.on_shared_thread_view
async def on_shared_thread_view(thread: ThreadDict, viewer: cl.User | None) -> bool:
    """Allow a shared link only for a thread its author shared (or to the author)."""
    return sharing.may_view_shared(thread, viewer)
