"""`GET /api/v1/threads` (paged), `GET /api/v1/threads/{id}` (messages with citations and
steps), `DELETE /api/v1/threads/{id}`: the caller's conversations, UI and API alike."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query

from chat.api.auth import Caller, Principal
from chat.api.errors import ApiRoute, not_found
from chat.api.models import ERROR_RESPONSES, DeletedResponse, ThreadDetail, ThreadPage

router = APIRouter(prefix="/api/v1/threads", tags=["threads"], route_class=ApiRoute,
                   responses=ERROR_RESPONSES)
MESSAGE_TYPES = {"user_message": "user", "assistant_message": "assistant"}


def _data_layer() -> Any:
    from chainlit.data import get_data_layer

    return get_data_layer()


async def owned_thread(thread_id: str, principal: Principal) -> dict:
    """The caller's thread with steps and elements. Raises ApiError 404 otherwise."""
    thread = await _data_layer().get_thread(thread_id)
    if thread is None or thread.get("userId") != principal.user_id:  # stable id, not name
        raise not_found("thread", thread_id)
    return thread


@router.get("", response_model=ThreadPage, summary="The caller's threads")
async def list_threads(principal: Caller,
                       limit: int = Query(20, ge=1, le=100),
                       cursor: str | None = Query(None, description="next_cursor of the "
                                                                    "previous page")) -> dict:
    """The caller's threads, most recently active first."""
    from chainlit.types import Pagination, ThreadFilter

    page = await _data_layer().list_threads(Pagination(first=limit, cursor=cursor),
                                            ThreadFilter(userId=principal.user_id))
    data = [{"id": t["id"], "name": t.get("name"), "created_at": t.get("createdAt")}
            for t in page.data]
    return {"data": data,
            "next_cursor": page.pageInfo.endCursor if page.pageInfo.hasNextPage else None}


@router.get("/{thread_id}", response_model=ThreadDetail, summary="A thread's messages")
async def get_thread(thread_id: str, principal: Caller) -> dict:
    """The thread's messages in order; each answer carries its citations and the flow's
    steps (Agent run, Supervisor, Retrieve, Answer, Review, ...)."""
    thread = await owned_thread(thread_id, principal)
    messages = await thread_messages(thread)
    return {"id": thread["id"], "name": thread.get("name"),
            "created_at": thread.get("createdAt"), "messages": messages}


@router.delete("/{thread_id}", response_model=DeletedResponse, summary="Delete a thread")
async def delete_thread(thread_id: str, principal: Caller) -> dict:
    """Delete the thread with its steps, elements and stored files (its documents stay
    indexed: delete them with DELETE /api/v1/documents/{id})."""
    await owned_thread(thread_id, principal)
    await _data_layer().delete_thread(thread_id)
    return {"id": thread_id, "deleted": True}


async def thread_messages(thread: dict) -> list[dict]:
    """Messages of a thread dict (``get_thread``): user and assistant steps in order,
    each answer with the steps of the run that produced it and its ``[n]`` citations."""
    steps = thread.get("steps") or []
    by_id = {s["id"]: s for s in steps}
    messages = [s for s in steps if s.get("type") in MESSAGE_TYPES]
    work: dict[str, list[dict]] = {}
    unplaced: list[dict] = []  # steps under no message: they belong to the next answer
    for step in steps:
        if step.get("type") == "assistant_message":
            work.setdefault(step["id"], []).extend(unplaced)
            unplaced = []
        if step.get("type") in MESSAGE_TYPES:
            continue
        root = _root_message(step, by_id)
        if root is None:
            unplaced.append(_step_out(step))
        else:
            work.setdefault(root, []).append(_step_out(step))
    question_of = {a: q for q, a in _answer_of_each_question(messages).items()}
    elements = await _citations(thread.get("elements") or [])
    out = []
    for message in messages:
        steps_of: list[dict] = []
        if message["type"] == "assistant_message":
            steps_of = work.get(question_of.get(message["id"], ""), []) + \
                work.get(message["id"], [])
            steps_of.sort(key=lambda st: st.get("start") or "")
        out.append({"id": message["id"], "role": MESSAGE_TYPES[message["type"]],
                    "content": message.get("output") or "",
                    "created_at": message.get("createdAt"),
                    "citations": elements.get(message["id"], []), "steps": steps_of})
    return out


def _root_message(step: dict, by_id: dict[str, dict]) -> str | None:
    seen = set()
    current: dict | None = step
    while current is not None and current["id"] not in seen:
        seen.add(current["id"])
        if current.get("type") in MESSAGE_TYPES:
            return current["id"]
        current = by_id.get(current.get("parentId") or "")
    return None


def _answer_of_each_question(messages: list[dict]) -> dict[str, str]:
    """user message id -> the id of the first assistant message after it."""
    result, pending = {}, None
    for message in messages:
        if message["type"] == "user_message":
            pending = message["id"]
        elif pending is not None:
            result[pending], pending = message["id"], None
    return result


def _step_out(step: dict) -> dict:
    raw = step.get("metadata")
    metadata: dict = raw if isinstance(raw, dict) else {}
    return {"id": step["id"], "name": step.get("name") or "", "type": step.get("type") or "",
            "node": metadata.get("node"),
            "parent_id": step.get("parentId"), "input": step.get("input"),
            "output": step.get("output"), "start": step.get("start"), "end": step.get("end"),
            "is_error": bool(step.get("isError"))}


async def _citations(elements: list[dict]) -> dict[str, list[dict[str, str]]]:
    """message id -> its ``[n]`` side panels ``{"name", "content"}`` (read from storage)."""
    found: dict[str, list[dict[str, str]]] = {}
    for element in elements:
        name = element.get("name") or ""
        if not (name.startswith("[") and name.endswith("]")) or not element.get("forId"):
            continue
        content = await _element_text(element)
        found.setdefault(element["forId"], []).append({"name": name, "content": content})
    for items in found.values():
        items.sort(key=lambda c: int(c["name"].strip("[]") or 0)
                   if c["name"].strip("[]").isdigit() else 0)
    return found


async def _element_text(element: dict) -> str:
    from chat.persistence.storage import LocalStorageClient

    storage = getattr(_data_layer(), "storage_provider", None)
    key = element.get("objectKey")
    if isinstance(storage, LocalStorageClient) and key:
        info = await asyncio.to_thread(storage.read_info, key)
        if info is not None:
            return await asyncio.to_thread(_read_text, info[0])
    return element.get("url") or ""


def _read_text(path: Any) -> str:
    from pathlib import Path

    return Path(path).read_text(encoding="utf-8", errors="replace")
