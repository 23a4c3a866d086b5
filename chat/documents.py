"""Listing and deleting the user's documents (the ``Documents`` command and buttons).

The list is one message with a delete button per document. A click deletes the
document's chunks from the index; the owner always comes from the logged-in user,
never from the button's payload, so a forged payload cannot touch another user's
documents.
"""

from __future__ import annotations

from typing import Any

import chainlit as cl

COMMAND = "Documents"
DELETE_ACTION = "delete_document"
COMMANDS = [{"id": COMMAND, "icon": "files", "description": "List and delete your documents",
             "button": True, "persistent": False}]


def describe(doc: Any, current_thread: str | None) -> str:
    """One markdown list line for a ``DocumentInfo``."""
    where = "this thread" if doc.thread_id and doc.thread_id == current_thread else (
        "another thread" if doc.thread_id else "no thread")
    when = str(doc.indexed_at or "")[:16].replace("T", " ")
    return f"- **{doc.filename}**: {doc.chunks} chunks, from {where}, indexed {when} UTC"


async def list_documents_message(rag: Any, owner: str, thread_id: str | None) -> cl.Message:
    """Send the list of the user's documents with a delete button for each.

    Args:
        rag: an open ``RagService``.
        owner: the user's identifier.
        thread_id: the current thread (to say which documents belong to it).
    Returns:
        The message sent.
    """
    from rag.models import Scope

    docs = await rag.list_documents(Scope(owner=owner))
    if not docs:
        return await cl.Message(
            content="You have no documents yet. Attach PDF, Markdown, text, HTML or Word "
                    "files to a message to index them.").send()
    lines = [f"You have {len(docs)} document{'s' if len(docs) != 1 else ''}:", ""]
    lines += [describe(d, thread_id) for d in docs]
    actions = [cl.Action(name=DELETE_ACTION, payload={"doc_id": d.doc_id, "filename": d.filename},
                         label=f"Delete {d.filename}", icon="trash-2",
                         tooltip=f"Remove {d.filename} and its chunks from the index")
               for d in docs]
    return await cl.Message(content="\n".join(lines), actions=actions).send()


async def delete_document(rag: Any, owner: str, payload: dict) -> str:
    """Delete the document named in ``payload`` from the owner's index.

    Args:
        rag: an open ``RagService``.
        owner: the logged-in user's identifier (the only owner that can be touched).
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
