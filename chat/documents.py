"""Listing and deleting the user's documents (the ``Documents`` command and buttons).

The list is one message: each document with its pages, chunks, when and in which chat
it was added, and a delete button. A click on delete asks first (a message with
"Delete" and "Keep" buttons); only the second click deletes the document's chunks from
the index, and the list is then sent again, fresh (the stale one removed). The owner
always comes from the logged-in user, never from a button's payload, so a forged
payload cannot touch another user's documents.
"""

from __future__ import annotations

from typing import Any

import chainlit as cl

COMMAND = "Documents"
DELETE_ACTION = "delete_document"
CONFIRM_ACTION = "delete_document_confirmed"
KEEP_ACTION = "delete_document_cancelled"
COMMANDS = [{"id": COMMAND, "icon": "files", "description": "List and delete your documents",
             "button": True, "persistent": False}]
LIST_KEY = "documents_list_message"
CONFIRM_KEY = "documents_confirm_messages"


def describe(doc: Any, current_thread: str | None, pages: int | None = None,
             thread_names: dict[str, str] | None = None) -> str:
    """One markdown list line for a ``DocumentInfo``: pages, chunks, when, which chat."""
    if doc.thread_id and doc.thread_id == current_thread:
        where = "this chat"
    elif doc.thread_id:
        name = (thread_names or {}).get(doc.thread_id)
        where = f"the chat “{name}”" if name else "another chat"
    else:
        where = "no chat"
    when = str(doc.indexed_at or "")[:16].replace("T", " ")
    size = f"{pages} pages, " if pages else ""
    return f"- **{doc.filename}**: {size}{doc.chunks} chunks, added {when} UTC in {where}"


async def _thread_names(thread_ids: set[str]) -> dict[str, str]:
    """Names of the given threads (the caller's own: documents are owner-scoped)."""
    from chainlit.data import get_data_layer

    data_layer = get_data_layer()
    names: dict[str, str] = {}
    if data_layer is None:
        return names
    for thread_id in thread_ids:
        try:
            thread = await data_layer.get_thread(thread_id)
        except Exception:  # noqa: BLE001 - a name is a nicety; the row still shows
            thread = None
        if thread and thread.get("name"):
            names[thread_id] = str(thread["name"])
    return names


async def list_documents_message(rag: Any, owner: str, thread_id: str | None) -> cl.Message:
    """Send the list of the user's documents with a delete button for each.

    The previous list of this session, if any, is removed (it would be stale).

    Args:
        rag: an open ``RagService``.
        owner: the user's document owner (``chat.owners.document_owner``).
        thread_id: the current thread (to say which documents belong to it).
    Returns:
        The message sent.
    """
    from rag.models import Scope

    previous = cl.user_session.get(LIST_KEY)
    if previous is not None:
        try:
            await previous.remove()
        except Exception:  # noqa: BLE001 - already gone
            pass
    docs = await rag.list_documents(Scope(owner=owner))
    if not docs:
        message = cl.Message(
            content="You have no documents yet. Attach PDF, Markdown, text, HTML or Word "
                    "files to a message to index them.")
        cl.user_session.set(LIST_KEY, message)
        return await message.send()
    pages_of = getattr(rag, "document_pages", None)
    pages = await pages_of(Scope(owner=owner)) if pages_of else {}
    names = await _thread_names({d.thread_id for d in docs if d.thread_id} - {thread_id})
    lines = [f"You have {len(docs)} document{'s' if len(docs) != 1 else ''}:", ""]
    lines += [describe(d, thread_id, pages.get(d.doc_id), names) for d in docs]
    actions = [cl.Action(name=DELETE_ACTION, payload={"doc_id": d.doc_id, "filename": d.filename},
                         label=f"Delete {d.filename}", icon="trash-2",
                         tooltip=f"Remove {d.filename} and its chunks from the index")
               for d in docs]
    message = cl.Message(content="\n".join(lines), actions=actions)
    cl.user_session.set(LIST_KEY, message)
    return await message.send()


async def ask_to_confirm(payload: dict) -> cl.Message:
    """First click on delete: ask, with "Delete" and "Keep" buttons (nothing deleted yet)."""
    doc_id = str(payload.get("doc_id") or "")
    name = str(payload.get("filename") or doc_id)
    data = {"doc_id": doc_id, "filename": name}
    message = cl.Message(
        content=f"Delete **{name}**? Its passages leave the index of every chat, and answers "
                "that cited it will say it was deleted. This cannot be undone.",
        actions=[cl.Action(name=CONFIRM_ACTION, payload=data, label=f"Yes, delete {name}",
                           icon="trash-2", tooltip="Delete it for good"),
                 cl.Action(name=KEEP_ACTION, payload=data, label="Keep it", icon="x",
                           tooltip="Do not delete")])
    pending = cl.user_session.get(CONFIRM_KEY) or {}
    pending[doc_id] = message
    cl.user_session.set(CONFIRM_KEY, pending)
    return await message.send()


async def settle_confirmation(doc_id: str, text: str) -> None:
    """Replace the question of a confirmation by what happened, buttons removed."""
    pending = cl.user_session.get(CONFIRM_KEY) or {}
    message = pending.pop(doc_id, None)
    cl.user_session.set(CONFIRM_KEY, pending)
    if message is None:
        await cl.Message(content=text).send()
        return
    for action in list(message.actions or []):
        await action.remove()
    message.actions = []
    message.content = text
    await message.update()


async def delete_document(rag: Any, owner: str, payload: dict) -> str:
    """Delete the document named in ``payload`` from the owner's index.

    Args:
        rag: an open ``RagService``.
        owner: the logged-in user's document owner (the only one that can be touched).
        payload: the action payload ``{"doc_id": str, "filename": str}``.
    Returns:
        What happened, in plain words.
    """
    from rag.models import Scope

    doc_id = str(payload.get("doc_id") or "")
    name = str(payload.get("filename") or doc_id)
    if not doc_id:
        return "Nothing to delete."
    removed = await rag.delete_document(doc_id, Scope(owner=owner))
    if removed == 0:
        return f"{name} was already deleted."
    return f"Deleted {name}: {removed} chunks removed from the index."
