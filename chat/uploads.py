"""Files attached to a message: copied out of Chainlit's ``.files`` and indexed.

Chainlit keeps uploads in ``.files/<session>/`` and deletes them when the session
ends, so :func:`copy_uploads` copies every attached file into a private folder of the
data directory first thing in the handler. :func:`index_uploads` then indexes them with
``RagService.index_files`` in the user's scope under one progress message that stays in
sight (:mod:`chat.upload_progress`): an overall bar, time left, and each file's state,
ending "indexed" or "failed" with the reason. A bad file fails alone; the other files
and the conversation go on.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat.guards import safe_upload_name
from chat.logging import log_index
from chat.upload_progress import UploadProgress


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
    names = unique_names([safe_upload_name(str(getattr(f, "name", "") or Path(f.path).name))
                          for f in files])
    uploads_dir.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="upload-", dir=uploads_dir))
    uploads = await asyncio.to_thread(_copy_all, [(n, f.path) for n, f in zip(names, files)],
                                      dest)
    return uploads, dest


async def index_uploads(rag: Any, uploads: Sequence[Upload], scope: Any, *,
                        parent_id: str | None = None) -> list[Any]:
    """Index ``uploads`` in ``scope`` under one progress message; never raises for a bad file.

    Args:
        rag: an open ``RagService``.
        uploads: copies made by :func:`copy_uploads`.
        scope: ``rag.models.Scope(owner=user, thread_id=thread)``.
        parent_id: unused (the progress is a message of its own, in sight); kept for
            callers.
    Returns:
        One ``IndexReport`` per upload, in order.
    Raises:
        asyncio.CancelledError: when stopped (the message says which files stopped).
    """
    progress = UploadProgress(uploads, thread_id=scope.thread_id)
    await progress.open()
    names = [u.name for u in uploads]
    try:
        reports = await rag.index_files([u.path for u in uploads], scope,
                                        on_progress=progress.on_progress, filenames=names)
    except asyncio.CancelledError:
        await asyncio.shield(progress.stop())
        raise
    except Exception as exc:  # noqa: BLE001 - the service promises not to raise; stay safe
        reports = [_failed(u, exc) for u in uploads]
    reports = list(reports) + [_failed(u, RuntimeError("the indexer returned no report"))
                               for u in uploads[len(reports):]]
    for upload, report in zip(uploads, reports):
        await progress.finish(upload.name, report)
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
