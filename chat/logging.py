"""Structured JSON log lines: one per node execution and one per indexed file.

Each line is a single JSON object on the ``docchat.events`` logger, written to stderr
by the handler :func:`configure` installs, so a log shipper can parse it as is::

    {"ts": "2026-11-22T10:00:00.123Z", "event": "node", "run_id": "...",
     "thread_id": "...", "node": "Retrieve", "action": "default",
     "duration_ms": 41.7, "error": null}
    {"ts": "...", "event": "index", "thread_id": "...", "owner": "alice",
     "filename": "report.pdf", "status": "indexed", "chunks": 42,
     "duration_ms": 3120.0, "error": null}
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

EVENTS_LOGGER = "docchat.events"
_log = logging.getLogger(EVENTS_LOGGER)


class JsonLineFormatter(logging.Formatter):
    """Formats a record whose ``msg`` is a dict as one compact JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        payload = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        return json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))


def configure(stream: Any = None) -> None:
    """Send ``docchat.events`` lines to ``stream`` (stderr by default), once.

    Args:
        stream: a text stream; calling again does not add a second handler.
    """
    if any(getattr(h, "_docchat", False) for h in _log.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler._docchat = True  # type: ignore[attr-defined]
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def log_node(*, run_id: str, thread_id: str | None, node: str, action: str | None,
             duration_ms: float | None, error: str | None) -> dict:
    """Write the line for one node execution.

    Args:
        run_id: the run (one question answered).
        thread_id: the Chainlit thread the run belongs to.
        node: node class name, e.g. ``"Supervisor"``.
        action: the action its ``post`` returned (None when it failed).
        duration_ms: wall time in milliseconds.
        error: ``"CancelledError"`` / exception text, None on success.
    Returns:
        The logged payload (handy for tests).
    """
    payload = {"ts": _now(), "event": "node", "run_id": run_id, "thread_id": thread_id,
               "node": node, "action": action, "duration_ms": _round(duration_ms),
               "error": error}
    _log.info(payload)
    return payload


def log_index(*, thread_id: str | None, owner: str, filename: str, status: str,
              chunks: int, seconds: float, error: str | None) -> dict:
    """Write the line for one indexed (or refused) file.

    Args:
        thread_id: the thread the file was uploaded in.
        owner: the document owner (the user's stable id).
        filename: the name the user gave the file.
        status: ``indexed`` / ``duplicate`` / ``failed``.
        chunks: chunks stored.
        seconds: indexing wall time in seconds.
        error: the error in plain words, None on success.
    Returns:
        The logged payload.
    """
    payload = {"ts": _now(), "event": "index", "thread_id": thread_id, "owner": owner,
               "filename": filename, "status": status, "chunks": chunks,
               "duration_ms": _round(seconds * 1000.0), "error": error}
    _log.info(payload)
    return payload
