"""Indexing jobs of uploaded documents: received, copied, indexed in the background.

:func:`receive_files` streams each uploaded file into a private copy (computing its
SHA-256, which is the document id the rag store uses, and refusing files over the chat
upload limit); :func:`start_indexing` indexes the copies with ``RagService.index_files``
(the chat upload's loaders, limits and typed errors) in a background task, updating a
:class:`DocumentJob` per file from the service's progress events. Jobs live in memory
(the last ``MAX_JOBS``); indexed documents are then read from the store itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_JOBS = 5000
READ_CHUNK = 1024 * 1024
_tasks: set[asyncio.Task] = set()


@dataclass
class DocumentJob:
    """The state of one uploaded file (``chat.api.models.DocumentOut`` as a dict)."""

    id: str
    filename: str
    owner: str
    thread_id: str | None
    state: str = "pending"
    error: str | None = None
    progress: dict | None = None
    chunks: int = 0
    duplicate: bool = False
    updated: float = field(default_factory=time.monotonic)

    def out(self) -> dict:
        """As a DocumentOut dict."""
        return {"id": self.id, "filename": self.filename, "state": self.state,
                "error": self.error, "progress": self.progress, "chunks": self.chunks,
                "thread_ids": [self.thread_id] if self.thread_id else [],
                "indexed_at": None, "duplicate": self.duplicate}


class JobRegistry:
    """Jobs by (owner, document id); the newest job of a document wins."""

    def __init__(self, limit: int = MAX_JOBS) -> None:
        self.limit = limit
        self._jobs: OrderedDict[tuple[str, str], DocumentJob] = OrderedDict()

    def add(self, job: DocumentJob) -> None:
        key = (job.owner, job.id)
        self._jobs.pop(key, None)
        self._jobs[key] = job
        while len(self._jobs) > self.limit:
            self._jobs.popitem(last=False)

    def get(self, owner: str, doc_id: str) -> DocumentJob | None:
        return self._jobs.get((owner, doc_id))

    def of(self, owner: str) -> list[DocumentJob]:
        return [j for (o, _), j in self._jobs.items() if o == owner]

    def drop(self, owner: str, doc_id: str) -> bool:
        return self._jobs.pop((owner, doc_id), None) is not None


jobs = JobRegistry()


@dataclass
class Received:
    """An uploaded file copied to disk (or refused: ``error`` set, ``path`` None)."""

    name: str
    doc_id: str
    path: Path | None
    error: str | None = None


async def receive_files(files: list[Any], folder: Path, max_bytes: int) -> list[Received]:
    """Copy each ``UploadFile`` into ``folder`` while hashing it; refuse files over
    ``max_bytes`` (their job fails with a message naming the limit)."""
    from chat.uploads import unique_names

    names = unique_names([Path(f.filename or "file").name or "file" for f in files])
    received = []
    for i, (upload, name) in enumerate(zip(files, names)):
        target = folder / f"{i:03d}{Path(name).suffix.lower()}"
        digest, size = hashlib.sha256(), 0
        with open(target, "wb") as out:  # noqa: ASYNC230 - small writes of spooled chunks
            while chunk := await upload.read(READ_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    break
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        if size > max_bytes:
            target.unlink(missing_ok=True)
            limit = max_bytes / 1024 / 1024
            received.append(Received(name, "", None, f"{name}: the file is larger than the "
                                     f"{limit:g} MB upload limit; split it or compress it"))
            continue
        received.append(Received(name, digest.hexdigest(), target))
    return received


def new_upload_folder() -> Path:
    """A private folder for one upload's copies under ``<data_dir>/uploads``."""
    from chat import services

    base = services.uploads_dir()
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="api-upload-", dir=base))


def register(received: list[Received], owner: str, thread_id: str | None) -> list[DocumentJob]:
    """One job per file: ``pending`` for the copies, ``failed`` for refused files."""
    out = []
    for item in received:
        doc_id = item.doc_id or "refused-" + hashlib.sha256(item.name.encode()).hexdigest()[:16]
        job = DocumentJob(id=doc_id, filename=item.name, owner=owner, thread_id=thread_id)
        if item.error:
            job.state, job.error = "failed", item.error
        jobs.add(job)
        out.append(job)
    return out


def start_indexing(received: list[Received], job_list: list[DocumentJob], scope: Any,
                   folder: Path) -> asyncio.Task:
    """Index the accepted copies in a background task; the folder is removed after."""
    task = asyncio.create_task(_index(received, job_list, scope, folder))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def _index(received: list[Received], job_list: list[DocumentJob], scope: Any,
                 folder: Path) -> None:
    from chat import services
    from chat.logging import log_index

    accepted = [(r, j) for r, j in zip(received, job_list) if r.path is not None]
    by_name = {r.name: j for r, j in accepted}

    async def on_progress(progress: Any) -> None:
        job = by_name.get(progress.filename)
        if job is None or progress.stage in ("done", "failed"):
            return
        job.state, job.updated = "indexing", time.monotonic()
        job.progress = {"stage": progress.stage, "done": progress.done,
                        "total": progress.total, "message": progress.message}

    try:
        if not accepted:
            return
        indexer = await services.get_indexer()  # in process, or the queue's workers
        try:
            paths = [r.path for r, _ in accepted if r.path is not None]
            reports = await indexer.index_files(paths, scope,
                                            on_progress=on_progress,
                                            filenames=[r.name for r, _ in accepted])
        except Exception as exc:  # noqa: BLE001 - the service promises not to raise
            from chat.api.errors import log_internal_error

            error_id = log_internal_error(exc, "index")
            for _, job in accepted:
                job.state = "failed"
                job.error = f"indexing failed (error id {error_id}); try again later"
            return
        for (item, job), report in zip(accepted, reports):
            _finish(job, report)
            log_index(thread_id=scope.thread_id, owner=scope.owner, filename=item.name,
                      status=report.status, chunks=report.chunks, seconds=report.seconds,
                      error=report.error)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _finish(job: DocumentJob, report: Any) -> None:
    job.updated = time.monotonic()
    job.progress = None
    if report.status == "failed":
        job.state, job.error = "failed", report.error or "could not index this file"
        return
    job.state, job.chunks = "indexed", report.chunks
    job.duplicate = report.status == "duplicate"
    if report.doc_id:
        job.id = report.doc_id


def merge_indexed(infos: list[Any]) -> list[dict]:
    """``DocumentInfo`` rows (one per thread) as one DocumentOut dict per document,
    newest first."""
    merged: dict[str, dict] = {}
    for info in infos:
        doc = merged.setdefault(info.doc_id, {
            "id": info.doc_id, "filename": info.filename, "state": "indexed", "error": None,
            "progress": None, "chunks": info.chunks, "thread_ids": [],
            "indexed_at": info.indexed_at, "duplicate": False})
        if info.thread_id and info.thread_id not in doc["thread_ids"]:
            doc["thread_ids"].append(info.thread_id)
        if str(info.indexed_at or "") > str(doc["indexed_at"] or ""):
            doc["indexed_at"] = info.indexed_at
    return sorted(merged.values(), key=lambda d: str(d["indexed_at"] or ""), reverse=True)
