"""`POST /api/v1/documents` (multipart, 202 with a job per file), `GET /api/v1/documents`
(paged), `GET` / `DELETE /api/v1/documents/{id}`: the caller's documents only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from chat.api import documents as docs
from chat.api.auth import Caller, Principal
from chat.api.errors import ApiError, ApiRoute, UploadRoute, not_found
from chat.api.models import (
    ERROR_RESPONSES,
    DeletedResponse,
    DocumentOut,
    DocumentPage,
    UploadResponse,
)

router = APIRouter(prefix="/api/v1/documents", tags=["documents"], route_class=ApiRoute,
                   responses=ERROR_RESPONSES)


async def _rag():
    from chat import services

    return await services.get_rag()


def _scope(principal: Principal, thread_id: str | None = None):
    from rag.models import Scope

    return Scope(owner=principal.owner, thread_id=thread_id)


async def upload_documents(
        principal: Caller,
        files: Annotated[list[UploadFile], File(description="one or more files (PDF, Word, "
                                                          "Markdown, HTML, text)")],
        thread_id: Annotated[str | None, Form(description="index into this thread (the "
                                                          "caller's); none: no thread")] = None):
    """Accept the files and index them in the background: 202 with one job per file, in
    order. Poll `GET /api/v1/documents/{id}` for `pending` -> `indexing` -> `indexed` or
    `failed` (with the reason). A bad file fails alone; the others index."""
    from chat.api.runs import thread_state
    from chat.api.settings import get_api_settings
    from chat.config import get_settings

    if len(files) > get_api_settings().max_files:
        raise ApiError(422, "validation_error", f"files: at most "
                       f"{get_api_settings().max_files} files per request", field="files")
    if thread_id:
        await thread_state(thread_id, principal)
    folder = docs.new_upload_folder()
    received = await docs.receive_files(files, folder, get_settings().upload_max_bytes)
    job_list = docs.register(received, principal.owner, thread_id)
    docs.start_indexing(received, job_list, _scope(principal, thread_id), folder)
    return JSONResponse({"documents": [j.out() for j in job_list]}, status_code=202)


router.add_api_route(
    "", upload_documents, methods=["POST"], status_code=202, response_model=UploadResponse,
    route_class_override=UploadRoute, summary="Upload documents to index",
    responses={415: {"model": ERROR_RESPONSES[413]["model"],
                     "description": "not multipart/form-data"}})


@router.get("", response_model=DocumentPage, summary="The caller's documents")
async def list_documents(principal: Caller,
                         limit: int = Query(50, ge=1, le=200),
                         cursor: str | None = Query(None, description="next_cursor of the "
                                                                      "previous page"),
                         thread_id: str | None = Query(None, description="only this thread's")) -> dict:
    """Documents being indexed or failed (recent uploads of this process) first, then the
    indexed ones, newest first."""
    indexed = docs.merge_indexed(await (await _rag()).list_documents(
        _scope(principal, thread_id)))
    known = {d["id"] for d in indexed}
    active = [j.out() for j in reversed(docs.jobs.of(principal.owner))
              if j.state != "indexed" and j.id not in known
              and (thread_id is None or j.thread_id == thread_id)]
    items = active + indexed
    start = 0
    if cursor:
        ids = [d["id"] for d in items]
        start = ids.index(cursor) + 1 if cursor in ids else len(items)
    page = items[start:start + limit]
    more = start + limit < len(items)
    return {"data": page, "next_cursor": page[-1]["id"] if more and page else None}


@router.get("/{doc_id}", response_model=DocumentOut, summary="A document's state")
async def get_document(doc_id: str, principal: Caller) -> dict:
    """State and progress of one of the caller's documents; 404 otherwise."""
    job = docs.jobs.get(principal.owner, doc_id)
    if job is not None and job.state != "indexed":
        return job.out()
    indexed = [d for d in docs.merge_indexed(await (await _rag()).list_documents(
        _scope(principal))) if d["id"] == doc_id]
    if indexed:
        return indexed[0]
    if job is not None:  # indexed here, not in the registry: deleted since, maybe by
        docs.jobs.drop(principal.owner, doc_id)  # another instance (the registry rules)
    raise not_found("document", doc_id)


@router.delete("/{doc_id}", response_model=DeletedResponse, summary="Delete a document")
async def delete_document(doc_id: str, principal: Caller,
                          thread_id: str | None = Query(None, description="only from this "
                                                        "thread (default: everywhere)")) -> dict:
    """Delete the document's chunks from the caller's index (all threads by default)."""
    removed = await (await _rag()).delete_document(doc_id, _scope(principal, thread_id))
    dropped = docs.jobs.drop(principal.owner, doc_id)
    if removed == 0 and not dropped:
        raise not_found("document", doc_id)
    return {"id": doc_id, "deleted": True, "chunks": removed}
