"""What the queue's client and worker agree on: job ids, Redis keys, event encoding.

Keys (``Q`` = ``DOCCHAT_QUEUE_NAME``, default ``docchat:index``):

- the arq queue ``Q`` (a sorted set) and arq's own ``arq:job:<id>`` /
  ``arq:result:<id>`` / ``arq:in-progress:<id>`` / ``arq:retry:<id>`` keys;
- job id ``Q:<owner-thread hash>:<doc SHA-256>``: one job per document and scope, so
  the same upload twice (two tabs, two instances) is one job, and arq refuses a second
  enqueue while the first is queued or running;
- ``Q:upload:<job id>``: the uploaded bytes (at most ``DOCCHAT_UPLOAD_MAX_MB``), kept
  until the job ends or ``UPLOAD_TTL_S``;
- ``Q:events:<job id>``: the pub/sub channel of the job's progress and report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from rag.models import IndexProgress, IndexReport

#: seconds an upload's bytes wait in Redis for a worker (then the job fails, "expired")
UPLOAD_TTL_S = 24 * 3600
#: seconds a finished job's result stays readable (a session that missed the event)
RESULT_TTL_S = 3600
#: the arq function name of an indexing job
JOB_FUNCTION = "index_document"


def job_id(queue_name: str, owner: str, thread_id: str | None, doc_id: str) -> str:
    """The job id of a document in a scope: ``<queue>:<16 hex of the scope>:<doc_id>``.

    The scope is hashed (owners and threads may contain ``:``); doc_id is the SHA-256
    of the file's bytes (``rag.loaders.base``)."""
    scope = hashlib.sha256(json.dumps([owner, thread_id or ""]).encode()).hexdigest()[:16]
    return f"{queue_name}:{scope}:{doc_id}"


def upload_key(queue_name: str, job: str) -> str:
    """Redis key of the uploaded bytes of ``job``."""
    return f"{queue_name}:upload:{job}"


def events_channel(queue_name: str, job: str) -> str:
    """Redis pub/sub channel of ``job``'s events."""
    return f"{queue_name}:events:{job}"


def progress_event(event: IndexProgress, attempt: int) -> bytes:
    """A progress event as JSON: {"type": "progress", "try": n, ...IndexProgress}."""
    return json.dumps({"type": "progress", "try": attempt,
                       **dataclasses.asdict(event)}).encode()


def report_event(report: IndexReport, attempt: int) -> bytes:
    """The final report as JSON: {"type": "report", "try": n, "report": {...}}."""
    return json.dumps({"type": "report", "try": attempt,
                       "report": dataclasses.asdict(report)}).encode()


def retry_event(error: str, attempt: int, max_tries: int) -> bytes:
    """A try failed and another follows: {"type": "retry", "try", "max_tries", "error"}."""
    return json.dumps({"type": "retry", "try": attempt, "max_tries": max_tries,
                       "error": error}).encode()


def decode(raw: bytes | str) -> dict[str, Any]:
    """An event's dict (raises ValueError on a malformed one)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"not a queue event: {raw!r:.80}")
    return data


def report_from(data: dict[str, Any]) -> IndexReport:
    """The IndexReport of a ``report_event`` dict (or of a job's result dict)."""
    fields = {f.name for f in dataclasses.fields(IndexReport)}
    return IndexReport(**{k: v for k, v in data.items() if k in fields})


def progress_from(data: dict[str, Any]) -> IndexProgress:
    """The IndexProgress of a ``progress_event`` dict."""
    return IndexProgress(data["filename"], data["stage"], int(data["done"]),
                         int(data["total"]), str(data.get("message", "")))


def require_redis_url(url: str | None) -> str:
    """``url`` when it is a redis:// (or rediss://) URL.

    Raises:
        ValueError: naming DOCCHAT_QUEUE_URL, its value and an example.
    """
    if not url or not url.startswith(("redis://", "rediss://")):
        raise ValueError("DOCCHAT_QUEUE_URL must be a redis:// URL, e.g. "
                         f"redis://127.0.0.1:6379/0 (it is {url or 'unset'!s})")
    return url
