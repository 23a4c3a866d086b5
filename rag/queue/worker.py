"""``python -m rag worker``: an arq worker that runs indexing jobs (rag.queue.client).

At start it opens a ``RagService`` (the store of ``DATABASE_URL`` / ``CHROMA_HOST`` /
``DOCCHAT_DATA_DIR``) and runs ``reconcile`` on what is older than one try of a job
(``DOCCHAT_QUEUE_JOB_TIMEOUT_S`` + 15 s): a job still running on another worker is left
alone, what a killed process left is swept, as ``python -m rag reconcile`` does.

One job indexes one document (:func:`index_document`). Its tries:

- a bad file (``rag.errors.DocumentError``) fails at once, its reason published;
- any other failure (store or embedder down, the try timed out) is tried again after
  ``min(2 ** try, 30)`` s, up to ``DOCCHAT_QUEUE_MAX_TRIES`` tries, then fails saying so;
- a worker killed mid-job (``kill -9``) leaves the job in the queue: arq hands it to a
  worker again once its in-progress mark expires (timeout + 15 s); the document's row
  says ``indexing`` meanwhile, so search does not see its half-written vectors, and the
  new try rewrites the same chunk ids (upserts) and marks it ``indexed``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Retry, Worker, func

from rag.config import RagSettings
from rag.loaders.base import content_id
from rag.models import IndexProgress, IndexReport, Scope
from rag.queue.common import (
    JOB_FUNCTION,
    RESULT_TTL_S,
    events_channel,
    progress_event,
    report_event,
    require_redis_url,
    retry_event,
    upload_key,
)

log = logging.getLogger(__name__)
#: extra seconds arq allows a try beyond our own timeout (the try cleans up in them)
GRACE_S = 5.0


def retry_delay_s(attempt: int) -> float:
    """Seconds before try ``attempt + 1``: 2, 4, 8, 16, then 30 at most."""
    return float(min(2 ** attempt, 30))


async def index_document(ctx: dict[str, Any], owner: str, thread_id: str | None,
                         doc_id: str, filename: str) -> dict[str, Any]:
    """The arq job: index the uploaded bytes of ``doc_id`` into (owner, thread_id).

    Args:
        ctx: arq's context: "redis", "job_id", "job_try", and "rag", "settings" set at
            start-up.
        doc_id: SHA-256 of the bytes (checked: other bytes fail the job).
        filename: display name (progress events and citations).
    Returns:
        The ``IndexReport`` as a dict (also published as the job's last event).
    Raises:
        arq.worker.Retry: a retryable failure with tries left.
    """
    settings: RagSettings = ctx["settings"]
    redis, job, attempt = ctx["redis"], ctx["job_id"], int(ctx["job_try"])
    channel = events_channel(settings.queue_name, job)

    async def publish(event: IndexProgress) -> None:
        await redis.publish(channel, progress_event(event, attempt))

    report = await _index_try(ctx, owner, thread_id, doc_id, filename, publish)
    if report.status == "failed" and report.retryable:
        if attempt < settings.queue_max_tries:
            log.warning("job %s try %d failed, trying again: %s", job, attempt, report.error)
            await redis.publish(channel, retry_event(report.error or "", attempt,
                                                     settings.queue_max_tries))
            raise Retry(defer=retry_delay_s(attempt))
        report.error = f"{report.error} (tried {attempt} times)"
    await redis.publish(channel, report_event(report, attempt))
    await redis.delete(upload_key(settings.queue_name, job))
    return dataclasses.asdict(report)


async def _index_try(ctx: dict[str, Any], owner: str, thread_id: str | None, doc_id: str,
                     filename: str, publish: Any) -> IndexReport:
    settings: RagSettings = ctx["settings"]
    rag = ctx["rag"]
    data = await ctx["redis"].get(upload_key(settings.queue_name, ctx["job_id"]))
    if data is None:
        if await asyncio.to_thread(rag.store.is_indexed, owner, thread_id, doc_id):
            return IndexReport(filename, filename, doc_id, "duplicate", 0, None, 0.0)
        return _failed(filename, doc_id, "the uploaded file is no longer on the queue "
                       "(it waits 24 h for a worker): upload it again")
    if await asyncio.to_thread(content_id, data) != doc_id:
        return _failed(filename, doc_id, "the bytes on the queue do not match the "
                       "document's SHA-256: upload it again")
    folder = Path(await asyncio.to_thread(_private_copy_dir, settings))
    try:
        path = folder / f"document{Path(filename).suffix.lower()}"
        await asyncio.to_thread(path.write_bytes, data)
        try:
            reports = await asyncio.wait_for(
                rag.index_files([path], Scope(owner, thread_id), on_progress=publish,
                                filenames=[filename]),
                settings.queue_job_timeout_s)
        except TimeoutError:
            return _failed(filename, doc_id, f"indexing did not finish within "
                           f"{settings.queue_job_timeout_s:g} s (DOCCHAT_QUEUE_JOB_TIMEOUT_S)",
                           retryable=True)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    report: IndexReport = reports[0]
    report.path = filename
    return report


def _private_copy_dir(settings: RagSettings) -> str:
    root = settings.data_dir / "worker-uploads"
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix="job-", dir=root)


def _failed(filename: str, doc_id: str, why: str, retryable: bool = False) -> IndexReport:
    return IndexReport(filename, filename, doc_id, "failed", 0, f"{filename}: {why}", 0.0,
                       retryable=retryable)


async def _startup(ctx: dict[str, Any]) -> None:
    from rag.cli import print_reconcile
    from rag.service import RagService

    settings: RagSettings = ctx["settings"]
    ctx["rag"] = rag = await RagService.open(settings)
    report = await rag.reconcile(stale_after_s=settings.queue_job_timeout_s + GRACE_S + 10)
    print_reconcile(report)
    print(f"worker ready: queue {settings.queue_name!r}, {settings.index_concurrency} jobs"
          f" at a time", flush=True)


async def _shutdown(ctx: dict[str, Any]) -> None:
    rag = ctx.get("rag")
    if rag is not None:
        await rag.close()


def make_worker(settings: RagSettings, burst: bool = False) -> Worker:
    """The arq Worker of ``settings`` (``queue_url`` must be set).

    Raises:
        ValueError: ``DOCCHAT_QUEUE_URL`` is unset or not a redis:// URL.
    """
    url = require_redis_url(settings.queue_url)
    timeout = settings.queue_job_timeout_s + GRACE_S
    return Worker(
        functions=[func(index_document, name=JOB_FUNCTION, timeout=timeout,
                        max_tries=settings.queue_max_tries)],
        queue_name=settings.queue_name,
        redis_settings=RedisSettings.from_dsn(url),
        on_startup=_startup, on_shutdown=_shutdown, ctx={"settings": settings},
        max_jobs=settings.index_concurrency, keep_result=RESULT_TTL_S,
        job_timeout=timeout, max_tries=settings.queue_max_tries, burst=burst,
        poll_delay=0.2)


def lower_cpu_priority(settings: RagSettings) -> None:
    """Lower this process's CPU priority: ``nice`` by ``worker_nice`` (needs no
    privilege) and, with ``worker_idle`` on Linux, the ``SCHED_IDLE`` policy for every
    thread that exists now (``sched_setscheduler`` sets one thread; threads and children
    started later inherit it). A policy the kernel refuses is logged, not raised."""
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    if not settings.worker_idle or not hasattr(os, "SCHED_IDLE"):
        return
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        except OSError as exc:
            log.warning("SCHED_IDLE refused (%s): the worker runs with nice %d only", exc,
                        settings.worker_nice)
            return


def run(settings: RagSettings | None = None, burst: bool = False) -> int:
    """Run a worker until SIGINT/SIGTERM (burst: until the queue is empty). Exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings or RagSettings()
    try:
        worker = make_worker(settings, burst)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    lower_cpu_priority(settings)
    worker.run()
    return 0
