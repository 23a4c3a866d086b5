"""What belongs to this app instance on disk, and the clean-up after a crash.

Chainlit keeps uploads in ``<app root>/.files/<session>/`` and its shutdown deletes the
whole ``<app root>/.files``: a second instance, a test server or a benchmark started
from the same folder deleted every upload of the first. :func:`use_own_files_dir` gives
this process its own folder, ``<data dir>/chainlit-files/<host>-<pid>``, which is all
Chainlit's shutdown then deletes.

The data directory belongs to one instance (the SQLite registry, local Chroma), so at
start-up whatever a killed process left there is stale: other processes' Chainlit
folders whose pid is gone, private upload copies (``<data dir>/uploads``), and the
indexing journal (``<data dir>/indexing-jobs``: one file per file being indexed, naming
its chat step), whose steps are told they were interrupted (:func:`recover`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INTERRUPTED = ("Interrupted: the server stopped while this file was being indexed, and "
               "nothing of it was kept. Upload it again.")


def _data_dir() -> Path:
    from chat.config import get_settings

    return get_settings().data_dir.resolve()


def instance_name() -> str:
    """``<host>-<pid>`` of this process."""
    return f"{socket.gethostname()}-{os.getpid()}"


def files_root() -> Path:
    """Parent of every instance's Chainlit files folder (<data dir>/chainlit-files)."""
    return _data_dir() / "chainlit-files"


def use_own_files_dir() -> Path:
    """Point Chainlit's ``FILES_DIRECTORY`` at this instance's own folder (before the
    server starts) and remove the folders of dead instances of this host. Returns it."""
    import chainlit.config
    import chainlit.server

    own = files_root() / instance_name()
    own.mkdir(parents=True, exist_ok=True)
    chainlit.config.FILES_DIRECTORY = own
    chainlit.server.FILES_DIRECTORY = own
    _remove_dead_instances(files_root(), own)
    return own


def _remove_dead_instances(root: Path, own: Path) -> None:
    host = socket.gethostname()
    for folder in root.iterdir() if root.is_dir() else ():
        name_host, _, pid = folder.name.rpartition("-")
        if folder == own or name_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive: another instance of this host
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(folder, ignore_errors=True)


def journal_dir() -> Path:
    """Where the indexing journal lives (<data dir>/indexing-jobs)."""
    return _data_dir() / "indexing-jobs"


def journal_open(step_id: str, thread_id: str | None, name: str) -> None:
    """Record that a file's step is indexing (removed by :func:`journal_close`)."""
    folder = journal_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{step_id}.json").write_text(json.dumps(
        {"step_id": step_id, "thread_id": thread_id, "name": name,
         "started": datetime.now(UTC).isoformat(timespec="seconds")}))


def journal_close(step_id: str) -> None:
    """The file's step ended (indexed, failed or stopped)."""
    with contextlib.suppress(OSError):
        (journal_dir() / f"{step_id}.json").unlink()


async def recover(data_layer: Any, uploads_dir: Path) -> dict:
    """Start-up clean-up: every journalled step gets the "interrupted" text, stale upload
    copies are deleted. Returns {"interrupted": [step ids], "upload_copies": n}."""
    interrupted = []
    for entry in sorted(journal_dir().glob("*.json")) if journal_dir().is_dir() else ():
        try:
            job = json.loads(entry.read_text())
            await _mark_interrupted(data_layer, job["step_id"])
            interrupted.append(job["step_id"])
            log.warning("indexing of %s (step %s) was interrupted by a restart",
                        job.get("name"), job["step_id"])
        except Exception as exc:  # noqa: BLE001 - one bad entry must not stop start-up
            log.warning("could not recover indexing job %s: %s", entry.name, exc)
        entry.unlink(missing_ok=True)
    copies = 0
    for folder in uploads_dir.iterdir() if uploads_dir.is_dir() else ():
        if folder.is_dir():  # chat (upload-*) and API (api-upload-*) copies alike
            shutil.rmtree(folder, ignore_errors=True)
            copies += 1
    if copies:
        log.warning("removed %d stale upload copies from %s", copies, uploads_dir)
    return {"interrupted": interrupted, "upload_copies": copies}


async def _mark_interrupted(data_layer: Any, step_id: str) -> None:
    if data_layer is None:
        return
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await data_layer.execute_sql(
        'UPDATE steps SET output = :output, "isError" = :error, "end" = :end'
        " WHERE id = :id", {"output": INTERRUPTED, "error": True, "end": now, "id": step_id})
