"""Indexing on the job queue with real components: Redis 127.0.0.1:6379, a `chroma run`
server, `python -m rag worker` processes, the MiniLM embedder and SQLite in a data
directory the worker and the test share (one host). Each test has its own arq queue name,
so job ids, upload keys and channels are its own."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time

import pytest
import redis.asyncio as aioredis

from queue_support import (
    REDIS_URL,
    WorkerProcess,
    free_port,
    start_chroma,
    stop,
    unique_queue,
)
from rag.config import RagSettings
from rag.models import IndexProgress, Scope
from rag.queue.client import QueuedIndexer
from rag.queue.common import job_id, upload_key
from rag.service import RagService

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chroma") is None, reason="chroma CLI missing")]

WORDS = ["harbor", "lantern", "quartz", "meadow", "falcon", "ember", "cobalt", "willow",
         "prism", "tundra", "saffron", "glacier", "orchid", "basalt", "canyon", "thistle",
         "magnet", "vapor", "cedar", "nickel"]


def text_of(words: int, seed: int, head: str = "") -> str:
    """Deterministic prose of ``words`` words (paragraphs of 60) under a heading."""
    rng = random.Random(seed)
    paras = [" ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(words // 60)]
    return (head + "\n\n" if head else "") + "\n\n".join(paras)


@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    proc, port = start_chroma(tmp_path_factory.mktemp("chroma"))
    yield port
    stop(proc)


@pytest.fixture
async def setup(chroma, tmp_path, embedder):
    """(settings, test-side RagService, QueuedIndexer, worker factory) on a fresh queue."""
    queue = unique_queue()
    env = {"DOCCHAT_DATA_DIR": str(tmp_path / "data"), "CHROMA_HOST": "127.0.0.1",
           "CHROMA_PORT": str(chroma), "DOCCHAT_QUEUE_URL": REDIS_URL,
           "DOCCHAT_QUEUE_NAME": queue, "RAG_COLLECTION": queue.replace(":", "-")}
    settings = RagSettings(data_dir=tmp_path / "data", chroma_host="127.0.0.1",
                           chroma_port=chroma, queue_url=REDIS_URL, queue_name=queue,
                           collection=env["RAG_COLLECTION"])
    rag = await RagService.open(settings, embedder=embedder)
    indexer = await QueuedIndexer.open(rag)
    workers: list[WorkerProcess] = []

    def worker(**extra: str) -> WorkerProcess:
        w = WorkerProcess({**env, **extra}, tmp_path / f"worker{len(workers)}.log")
        workers.append(w)
        return w.start()

    yield settings, rag, indexer, worker
    for w in workers:
        w.stop()
    await indexer.close()
    await rag.close()
    r = aioredis.from_url(REDIS_URL)
    keys = [k async for k in r.scan_iter(f"{queue}*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def test_job_indexed_by_worker_with_progress_and_report(setup, tmp_path):
    settings, rag, indexer, worker = setup
    worker()
    doc = tmp_path / "harbor.txt"
    doc.write_text(text_of(1200, 1, "The zephyrine protocol of the harbor"))
    events: list[IndexProgress] = []
    reports = await indexer.index_files([doc], Scope("alice", "t1"),
                                        on_progress=events.append, filenames=["harbor.txt"])
    report = reports[0]
    assert report.status == "indexed", report.error
    assert report.chunks > 3 and report.path == str(doc) and report.filename == "harbor.txt"
    stages = [e.stage for e in events]
    assert {"load", "chunk", "embed", "store"} <= set(stages)
    assert stages.index("load") < stages.index("embed") < stages.index("store")
    assert all(e.filename == "harbor.txt" for e in events)
    hits = await rag.search("zephyrine protocol", Scope("alice", "t1"), k=3)
    assert hits and hits[0].doc_id == report.doc_id
    assert await rag.search("zephyrine protocol", Scope("bob"), k=3) == []  # owner only
    r = aioredis.from_url(REDIS_URL)  # the bytes left Redis with the job
    job = job_id(settings.queue_name, "alice", "t1", report.doc_id)
    assert await r.exists(upload_key(settings.queue_name, job)) == 0
    await r.aclose()


async def test_worker_runs_below_the_web_instances_cpu_priority(setup):
    """DOCCHAT_WORKER_NICE (default 10) lowers the worker's priority; 0 leaves it."""
    *_, worker = setup
    base = os.getpriority(os.PRIO_PROCESS, 0)
    default, unchanged = worker(), worker(DOCCHAT_WORKER_NICE="0")
    assert os.getpriority(os.PRIO_PROCESS, default.proc.pid) == min(base + 10, 19)
    assert os.getpriority(os.PRIO_PROCESS, unchanged.proc.pid) == base


def thread_policies(pid: int) -> set[int]:
    """The scheduling policy of every thread of process ``pid`` (ended ones skipped)."""
    out = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out.add(os.sched_getscheduler(int(tid)))
        except ProcessLookupError:  # the thread ended meanwhile
            continue
    return out


async def test_worker_threads_run_under_sched_idle(setup, tmp_path):
    """DOCCHAT_WORKER_IDLE (default on): the worker and every thread it runs, the
    embedder's included, get a core only when no web instance wants one; off, normal."""
    *_, indexer, worker = setup
    doc = tmp_path / "idle.txt"
    doc.write_text(text_of(900, 2, "Larkspur timetable"))
    idle = worker()
    reports = await indexer.index_files([doc], Scope("alice", "t1"))
    assert reports[0].status == "indexed", reports[0].error
    assert thread_policies(idle.proc.pid) == {os.SCHED_IDLE}
    assert len(os.listdir(f"/proc/{idle.proc.pid}/task")) > 1  # threads started later too
    normal = worker(DOCCHAT_WORKER_IDLE="false")
    assert thread_policies(normal.proc.pid) == {os.SCHED_OTHER}


async def test_same_document_twice_is_one_job(setup, tmp_path):
    settings, rag, indexer, worker = setup
    doc = tmp_path / "same.txt"
    doc.write_text(text_of(900, 2, "Quillfeather ledger"))
    other = await QueuedIndexer.open(rag)  # a second instance's client
    try:
        # both enqueue before any worker runs: the second enqueue is refused (same job id)
        first = asyncio.create_task(indexer.index_files([doc], Scope("alice", "t1")))
        second = asyncio.create_task(other.index_files([doc], Scope("alice", "t1")))
        await asyncio.sleep(1.0)
        r = aioredis.from_url(REDIS_URL)
        assert await r.zcard(settings.queue_name) == 1  # one job queued, not two
        await r.aclose()
        worker()
        a, b = (await first)[0], (await second)[0]
    finally:
        await other.close()
    assert (a.status, b.status) == ("indexed", "indexed"), (a.error, b.error)
    assert a.doc_id == b.doc_id and a.chunks == b.chunks
    assert await rag.count_chunks(Scope("alice", "t1")) == a.chunks  # stored once
    again = (await indexer.index_files([doc], Scope("alice", "t1")))[0]
    assert again.status == "duplicate"
    # deleted, then uploaded again: indexed again (the old job's kept result is not reused)
    assert await rag.delete_document(a.doc_id, Scope("alice", "t1")) == a.chunks
    third = (await indexer.index_files([doc], Scope("alice", "t1")))[0]
    assert third.status == "indexed" and third.chunks == a.chunks


async def test_bad_file_fails_at_once_and_timeouts_retry_a_bounded_number_of_times(
        setup, tmp_path):
    _settings, rag, indexer, worker = setup
    worker(DOCCHAT_QUEUE_JOB_TIMEOUT_S="0.5", DOCCHAT_QUEUE_MAX_TRIES="2")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7 this is not a PDF at all")
    events: list[IndexProgress] = []
    report = (await indexer.index_files([bad], Scope("alice"), on_progress=events.append))[0]
    assert report.status == "failed" and report.error.startswith("broken.pdf: ")
    assert "tried" not in report.error and not any(e.stage == "retry" for e in events)

    slow = tmp_path / "long.txt"  # far more than 0.5 s of embedding
    slow.write_text(text_of(30000, 3, "Longwinded"))
    events.clear()
    started = time.monotonic()
    report = (await indexer.index_files([slow], Scope("alice"), on_progress=events.append))[0]
    assert report.status == "failed"
    assert "did not finish within 0.5 s (DOCCHAT_QUEUE_JOB_TIMEOUT_S)" in report.error
    assert report.error.endswith("(tried 2 times)")
    retries = [e for e in events if e.stage == "retry"]
    assert [(e.done, e.total) for e in retries] == [(1, 2)]  # one retry, then the bound
    assert time.monotonic() - started < 60
    assert await rag.list_documents(Scope("alice")) == []
    assert await rag.search("Longwinded", Scope("alice"), k=3, mode="bm25") == []


async def test_queue_unreachable_fails_the_upload_clearly(setup, tmp_path):
    from arq.connections import ArqRedis

    settings, rag, _indexer, _worker = setup
    dead = QueuedIndexer(rag, ArqRedis.from_url(f"redis://127.0.0.1:{free_port()}/0"),
                         settings)
    doc = tmp_path / "note.txt"
    doc.write_text("Nothing will index this note.")
    try:
        report = (await dead.index_files([doc], Scope("alice")))[0]
    finally:
        await dead.close()
    assert report.status == "failed" and report.filename == "note.txt"
    assert report.error == ("note.txt: was not indexed: the indexing queue "
                            "(DOCCHAT_QUEUE_URL) does not answer; upload it again later")
    assert await rag.list_documents(Scope("alice")) == []


def _state(rag: RagService, doc_id: str) -> str | None:
    """The registry state of ``doc_id`` in carol's thread t9 (None: no row)."""
    for _owner, _thread, doc, state in rag.store.registry.not_indexed(None):
        if doc == doc_id:
            return state
    return "indexed" if rag.store.registry.exists("carol", "t9", doc_id) else None


async def test_worker_killed_mid_job_then_restarted_completes_it(setup, tmp_path):
    _settings, rag, indexer, worker = setup
    w = worker(DOCCHAT_QUEUE_JOB_TIMEOUT_S="40")
    doc = tmp_path / "killed.txt"
    body = text_of(10000, 4, "Brontide almanac")
    doc.write_text(body)
    import hashlib

    doc_id = hashlib.sha256(doc.read_bytes()).hexdigest()
    task = asyncio.create_task(indexer.index_files([doc], Scope("carol", "t9")))
    chroma = rag.store.chroma
    deadline = time.monotonic() + 240
    while True:  # kill once vectors are half written (state "indexing")
        state = await asyncio.to_thread(_state, rag, doc_id)
        if state == "indexing" and await asyncio.to_thread(
                chroma.count, "carol", {"doc_id": doc_id}) > 0:
            break
        assert state != "indexed", "indexed before the kill: make the document longer"
        assert time.monotonic() < deadline and not task.done(), w.log()[-2000:]
        await asyncio.sleep(0.01)
    w.kill9()
    half = await asyncio.to_thread(chroma.count, "carol", {"doc_id": doc_id})
    assert half > 0 and _state(rag, doc_id) == "indexing"
    for mode in ("dense", "bm25", "hybrid"):  # the half-written document is not searchable
        hits = await rag.search("Brontide almanac", Scope("carol"), k=5, mode=mode)  # type: ignore[arg-type]
        assert all(h.doc_id != doc_id for h in hits)
    assert await rag.list_documents(Scope("carol")) == []
    assert not task.done()  # the session still waits
    w2 = worker(DOCCHAT_QUEUE_JOB_TIMEOUT_S="40")  # reconcile at start leaves the fresh row
    assert "0 unfinished documents swept" in w2.log()
    report = (await asyncio.wait_for(task, 240))[0]
    assert report.status == "indexed", report.error
    assert _state(rag, doc_id) == "indexed"
    assert await asyncio.to_thread(chroma.count, "carol", {"doc_id": doc_id}) == report.chunks
    hits = await rag.search("Brontide almanac", Scope("carol"), k=5, mode="bm25")
    assert hits and hits[0].doc_id == doc_id
    assert "try=2" in w2.log()  # arq ran it a second time
