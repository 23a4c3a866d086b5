"""The web side of the indexing queue: ``QueuedIndexer.index_files`` has the signature
and the promises of ``RagService.index_files`` (one report per file, never raises for a
bad file, progress through ``on_progress``) but the work runs on a ``python -m rag
worker``.

Per file: check the quota (per instance, as in process), read and hash the bytes (a
worker thread), answer ``duplicate`` at once if the document is already indexed in the
scope, subscribe to the job's channel, store the bytes in Redis (``UPLOAD_TTL_S``),
enqueue the job (arq refuses a second job with the same id while one is queued or
running: both sessions then follow the one job), then turn its events into progress
until its report arrives. While waiting, the job's arq status is read every
``STATUS_EVERY_S`` so that a report missed or never published (the job failed in arq
itself, e.g. too many tries after killed workers) still ends the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job, JobStatus
from redis.exceptions import RedisError

from rag.config import RagSettings
from rag.errors import QuotaExceededError
from rag.indexing.context import ProgressCallback, Source, emit_progress
from rag.loaders.base import content_id
from rag.models import IndexProgress, IndexReport, Scope
from rag.queue.common import (
    JOB_FUNCTION,
    UPLOAD_TTL_S,
    decode,
    events_channel,
    job_id,
    progress_from,
    report_from,
    require_redis_url,
    upload_key,
)

log = logging.getLogger(__name__)
#: seconds between reads of a job's arq status while no event arrives
STATUS_EVERY_S = 2.0
RESULT_KEY_PREFIX = "arq:result:"


class QueuedIndexer:
    """Index files through the queue; build with ``await QueuedIndexer.open(rag)``.

    Args:
        rag: the instance's ``RagService`` (quota, duplicate check: reads only).
        redis: an arq pool on ``settings.queue_url``.
    """

    def __init__(self, rag: Any, redis: ArqRedis, settings: RagSettings) -> None:
        self.rag = rag
        self.redis = redis
        self.settings = settings

    @classmethod
    async def open(cls, rag: Any, settings: RagSettings | None = None) -> QueuedIndexer:
        """Connect to ``settings.queue_url`` (default ``rag.settings``).

        Raises:
            ValueError: the URL is unset or not redis://. redis errors: unreachable.
        """
        settings = settings or rag.settings
        url = require_redis_url(settings.queue_url)
        redis = await create_pool(RedisSettings.from_dsn(url),
                                  default_queue_name=settings.queue_name)
        return cls(rag, redis, settings)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.redis.aclose()

    async def check(self) -> dict[str, Any]:
        """Readiness: {"queue": "ok", "queued": jobs waiting or running} (raises when
        Redis does not answer)."""
        queued = await self.redis.zcard(self.settings.queue_name)
        return {"queue": "ok", "queued": int(queued)}

    async def index_files(self, paths: Sequence[str | Path], scope: Scope,
                          on_progress: ProgressCallback | None = None,
                          filenames: Sequence[str] | None = None) -> list[IndexReport]:
        """Like ``RagService.index_files``; the files are indexed by a worker.

        Returns:
            One report per path, in order; a failure is a ``failed`` report naming the
            file and why (bad file, quota, over the upload limit, retries exhausted).
        """
        if filenames is not None and len(filenames) != len(paths):
            raise ValueError("filenames must match paths one to one")
        names = list(filenames) if filenames is not None else [Path(p).name for p in paths]
        return list(await asyncio.gather(*(
            self._index_one(Path(p), n, scope, on_progress) for p, n in zip(paths, names))))

    async def _index_one(self, path: Path, name: str, scope: Scope,
                         on_progress: ProgressCallback | None) -> IndexReport:
        start = time.perf_counter()
        try:
            with self.rag._quota(Source(filename=name, path=path), scope.owner):
                report = await self._queued(path, name, scope, on_progress)
        except QuotaExceededError as exc:
            report = _failed(name, None, str(exc))
        except OSError as exc:
            report = _failed(name, None, f"{name}: could not be read ({exc.strerror or exc})")
        except RedisError as exc:
            log.error("indexing queue unreachable: %s", exc)
            report = _failed(name, None, f"{name}: was not indexed: the indexing queue "
                             "(DOCCHAT_QUEUE_URL) does not answer; upload it again later")
        report.path = str(path)
        report.seconds = report.seconds or time.perf_counter() - start
        return report

    async def _queued(self, path: Path, name: str, scope: Scope,
                      on_progress: ProgressCallback | None) -> IndexReport:
        data = await asyncio.to_thread(path.read_bytes)
        limit = self.settings.upload_max_bytes
        if len(data) > limit:
            return _failed(name, None, f"{name}: {len(data) / 1048576:.1f} MB is over the "
                           f"limit of {limit / 1048576:.0f} MB (DOCCHAT_UPLOAD_MAX_MB)")
        doc_id = await asyncio.to_thread(content_id, data)
        if await asyncio.to_thread(self.rag.store.is_indexed, scope.owner, scope.thread_id,
                                   doc_id):
            return IndexReport(str(path), name, doc_id, "duplicate", 0, None, 0.0)
        q = self.settings.queue_name
        job = job_id(q, scope.owner, scope.thread_id, doc_id)
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(events_channel(q, job))  # before the job can publish
        try:
            await self.redis.set(upload_key(q, job), data, ex=UPLOAD_TTL_S)
            await self._enqueue(job, scope, doc_id, name)
            return await self._wait(job, pubsub, name, doc_id, on_progress)
        finally:
            await asyncio.shield(_close_pubsub(pubsub))

    async def _enqueue(self, job: str, scope: Scope, doc_id: str, name: str) -> None:
        args = (JOB_FUNCTION, scope.owner, scope.thread_id, doc_id, name)
        if await self.redis.enqueue_job(*args, _job_id=job) is not None:
            return
        # refused: the job is queued or running (follow it), or finished earlier for a
        # document since deleted (its kept result would answer: drop it, run again)
        handle = Job(job, self.redis, _queue_name=self.settings.queue_name)
        if await handle.status() == JobStatus.complete:
            await self.redis.delete(RESULT_KEY_PREFIX + job)
            await self.redis.enqueue_job(*args, _job_id=job)

    async def _wait(self, job: str, pubsub: Any, name: str, doc_id: str,
                    on_progress: ProgressCallback | None) -> IndexReport:
        checked = time.monotonic()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                try:
                    event = decode(message["data"])
                except ValueError:
                    log.warning("job %s: ignored a malformed event", job)
                    continue
                if event["type"] == "report":
                    return report_from(event["report"])
                if event["type"] == "progress":
                    await emit_progress(on_progress, progress_from(event))
                elif event["type"] == "retry":
                    await emit_progress(on_progress, IndexProgress(
                        name, "retry", int(event["try"]), int(event["max_tries"]),
                        str(event["error"])))
            if time.monotonic() - checked >= STATUS_EVERY_S:
                checked = time.monotonic()
                ended = await self._ended(job, name, doc_id)
                if ended is not None:
                    return ended

    async def _ended(self, job: str, name: str, doc_id: str) -> IndexReport | None:
        """The report of a job arq says is finished (or gone), else None."""
        handle = Job(job, self.redis, _queue_name=self.settings.queue_name)
        status = await handle.status()
        if status == JobStatus.not_found:
            return _failed(name, doc_id, f"{name}: the indexing job was lost from the queue "
                           "(Redis restarted or flushed?): upload it again")
        if status != JobStatus.complete:
            return None
        info = await handle.result_info()
        if info is None:
            return None
        if info.success and isinstance(info.result, dict):
            return report_from(info.result)
        return _failed(name, doc_id, f"{name}: indexing failed on the worker "
                       f"({type(info.result).__name__}: {info.result}); upload it again")


async def _close_pubsub(pubsub: Any) -> None:
    try:
        await pubsub.unsubscribe()
    finally:
        await pubsub.aclose()


def _failed(name: str, doc_id: str | None, error: str) -> IndexReport:
    return IndexReport(name, name, doc_id, "failed", 0, error, 0.0)
