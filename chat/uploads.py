"""Files attached to a message: copied out of Chainlit's ``.files`` and indexed.

Chainlit keeps uploads in ``.files/<session>/`` and deletes them when the session
ends, so :func:`copy_uploads` copies every attached file into a private folder of the
data directory first thing in the handler. :func:`index_uploads` then indexes them with
``RagService.index_files`` in the user's scope, one Chainlit step per file showing live
progress (pages, chunks) and ending in a summary in plain words. A bad file ends in its
own error summary; the other files and the conversation go on.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now

from chat.logging import log_index

PROGRESS_EVERY_S = 0.3
STAGE_WORDS = {"load": "Reading", "chunk": "Chunking", "embed": "Embedding",
               "store": "Storing", "done": "Done", "failed": "Failed"}
STAGE_UNITS = {"load": "pages", "chunk": "chunks", "embed": "batches", "store": "chunks"}


@dataclass
class Upload:
    """An attached file copied out of Chainlit's temporary folder.

    Attributes:
        name: the name the user gave the file (shown in steps and citations).
        path: the private copy that gets indexed.
    """

    name: str
    path: Path


def attached_files(message: Any) -> list[Any]:
    """The file elements of a message (those with a path on disk)."""
    return [e for e in (getattr(message, "elements", None) or []) if getattr(e, "path", None)]


def unique_names(names: Sequence[str]) -> list[str]:
    """Display names made unique (``a.pdf``, ``a (2).pdf``) so progress maps to one step."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        if count > 1:
            stem, dot, ext = name.rpartition(".")
            name = f"{stem} ({count}).{ext}" if dot and stem else f"{name} ({count})"
        result.append(name)
    return result


def _copy_all(sources: list[tuple[str, str]], dest: Path) -> list[Upload]:
    uploads = []
    for i, (name, src) in enumerate(sources):
        target = dest / f"{i:03d}{Path(name).suffix.lower()}"
        shutil.copyfile(src, target)
        uploads.append(Upload(name=name, path=target))
    return uploads


async def copy_uploads(message: Any, uploads_dir: Path) -> tuple[list[Upload], Path | None]:
    """Copy the files attached to ``message`` into a new folder under ``uploads_dir``.

    Args:
        message: the incoming ``cl.Message``.
        uploads_dir: where private copies live (created when missing).
    Returns:
        The copies (in attachment order, names made unique) and their folder, which the
        caller removes after indexing (``None`` when nothing was attached).
    Raises:
        OSError: when a file cannot be copied (e.g. already deleted by Chainlit).
    """
    files = attached_files(message)
    if not files:
        return [], None
    names = unique_names([str(getattr(f, "name", "") or Path(f.path).name) for f in files])
    uploads_dir.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="upload-", dir=uploads_dir))
    uploads = await asyncio.to_thread(_copy_all, [(n, f.path) for n, f in zip(names, files)],
                                      dest)
    return uploads, dest


def progress_text(progress: Any) -> str:
    """``"Embedding: 40/120 chunks"`` from an ``IndexProgress``."""
    word = STAGE_WORDS.get(progress.stage, progress.stage.capitalize())
    text = word
    if progress.total:
        unit = STAGE_UNITS.get(progress.stage, "")
        if progress.stage == "load" and not progress.filename.lower().endswith(".pdf"):
            unit = "sections"
        text += f": {progress.done}/{progress.total} {unit}"
    if progress.message:
        text += f" — {progress.message}"
    return text.strip()


def summary_text(report: Any) -> str:
    """The final line of a file's step, in plain words."""
    if report.status == "indexed":
        return f"Indexed with {report.chunks} chunks in {report.seconds:.1f} s."
    if report.status == "duplicate":
        return "Already indexed: the same content was uploaded before, nothing to do."
    return f"Could not index this file. {report.error or 'Unknown error.'}"


class UploadSteps:
    """One Chainlit step per file, updated from ``on_progress`` and closed by a report."""

    def __init__(self, uploads: Sequence[Upload], parent_id: str | None) -> None:
        self.steps = {u.name: cl.Step(name=f"Indexing {u.name}", type="tool",
                                      parent_id=parent_id, default_open=True)
                      for u in uploads}
        self._last: dict[str, tuple[float, str]] = {}

    async def open(self) -> None:
        """Show every file's step (queued)."""
        for step in self.steps.values():
            step.start = utc_now()
            step.output = "Queued"
            await step.send()

    async def on_progress(self, progress: Any) -> None:
        """``RagService`` progress callback: update the file's step, throttled."""
        step = self.steps.get(progress.filename)
        if step is None:
            return
        now = time.monotonic()
        last_at, last_stage = self._last.get(progress.filename, (0.0, ""))
        final = progress.done >= progress.total > 0
        if progress.stage == last_stage and not final and now - last_at < PROGRESS_EVERY_S:
            return
        self._last[progress.filename] = (now, progress.stage)
        step.output = progress_text(progress)
        await step.update()

    async def close(self, report: Any, name: str) -> None:
        """End a file's step with the report's summary."""
        step = self.steps[name]
        step.output = summary_text(report)
        step.is_error = report.status == "failed"
        step.end = utc_now()
        step.metadata = {"status": report.status, "chunks": report.chunks,
                         "doc_id": report.doc_id}
        await step.update()


async def index_uploads(rag: Any, uploads: Sequence[Upload], scope: Any, *,
                        parent_id: str | None = None) -> list[Any]:
    """Index ``uploads`` in ``scope``, one step per file; never raises for a bad file.

    Args:
        rag: an open ``RagService``.
        uploads: copies made by :func:`copy_uploads`.
        scope: ``rag.models.Scope(owner=user, thread_id=thread)``.
        parent_id: the Chainlit step the file steps nest under.
    Returns:
        One ``IndexReport`` per upload, in order.
    """
    steps = UploadSteps(uploads, parent_id)
    await steps.open()
    names = [u.name for u in uploads]
    try:
        reports = await rag.index_files([u.path for u in uploads], scope,
                                        on_progress=steps.on_progress, filenames=names)
    except Exception as exc:  # the service promises not to raise; stay safe anyway
        reports = [_failed(u, exc) for u in uploads]
    reports = list(reports) + [_failed(u, RuntimeError("the indexer returned no report"))
                               for u in uploads[len(reports):]]
    for upload, report in zip(uploads, reports):
        await steps.close(report, upload.name)
        log_index(thread_id=scope.thread_id, owner=scope.owner, filename=upload.name,
                  status=report.status, chunks=report.chunks, seconds=report.seconds,
                  error=report.error)
    return reports


def _failed(upload: Upload, exc: Exception) -> Any:
    from rag.models import IndexReport

    return IndexReport(path=str(upload.path), filename=upload.name, doc_id=None,
                       status="failed", chunks=0, error=str(exc) or type(exc).__name__,
                       seconds=0.0)


def remove_copies(folder: Path | None) -> None:
    """Delete the private copies once indexed (their text now lives in the index)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
