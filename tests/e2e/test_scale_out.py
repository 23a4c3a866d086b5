"""Several instances for real on loopback: two `chainlit run` apps (own ports, data dirs and
app roots), one `python -m rag worker`, one `chroma run`, PostgreSQL 127.0.0.1:5432 (a
database created for the test) and Redis 127.0.0.1:6379 (a queue name of its own).

Checks the issue's scenario through the headless API: upload on A, ask on B, delete on
B, gone on A; a worker killed with SIGKILL mid-job (the document never searchable
half-written), `python -m rag reconcile` sweeping what it left, and a new worker
completing the job."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rag"))

from e2e_support import ROOT, AppServer, FakeLLM, fake_llm_env
from queue_support import (
    REDIS_URL,
    WorkerProcess,
    start_chroma,
    stop,
    unique_queue,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200),
              pytest.mark.skipif(shutil.which("chroma") is None or shutil.which("psql") is None,
                                 reason="chroma or psql missing")]
PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tA"]
NOTE = ("# Heliotrope maintenance\n\nThe Heliotrope reactor must be inspected every 43 days "
        "by a certified engineer. The coolant pump is replaced every 4 years.\n")
FACT_Q = "How often must the Heliotrope reactor be inspected?"


def sql(db: str, statement: str) -> str:
    done = subprocess.run([*PG, "-d", db, "-c", statement], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def long_text(words: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    vocab = ["basalt", "cedar", "ember", "falcon", "glacier", "harbor", "lantern", "meadow",
             "nickel", "orchid", "prism", "quartz", "saffron", "thistle", "vapor", "willow"]
    paras = [" ".join(rng.choice(vocab) for _ in range(60)) + "." for _ in range(words // 60)]
    return "# Brontide almanac\n\n" + "\n\n".join(paras)


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    """(app A, app B, worker, env shared by every process, database name, fake LLM)."""
    root = tmp_path_factory.mktemp("scale")
    db = f"docchat_scale_{uuid.uuid4().hex[:10]}"
    sql("test", f"CREATE DATABASE {db}")
    chroma, chroma_port = start_chroma(root / "chroma")
    fake = FakeLLM(needle="Heliotrope", delay=0.02).start()
    queue = unique_queue()
    shared = {"DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
              "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(chroma_port),
              "DOCCHAT_QUEUE_URL": REDIS_URL, "DOCCHAT_QUEUE_NAME": queue,
              "DOCCHAT_QUEUE_JOB_TIMEOUT_S": "90", "DOCCHAT_API_RATE_LIMIT": "1000/minute"}
    apps = [AppServer(root / name, env_extra={**fake_llm_env(fake.port), **shared})
            for name in ("a", "b")]
    for app in apps:
        app.data_dir.mkdir(parents=True, exist_ok=True)
    # 64-token chunks: the kill test's document writes ~14 upserts of 16 vectors, a window
    # of a second or more between the first vector and "indexed" (with 256-token chunks
    # it was four upserts, and on a quiet machine the kill came after the commit)
    worker = WorkerProcess({**shared, "DOCCHAT_DATA_DIR": str(root / "worker"),
                            "RAG_CHUNK_TOKENS": "64"}, root / "worker.log")
    try:
        apps[0].add_user("alice", "alice-password-1")
        apps[0].start()  # migrates the database first, alone
        apps[1].start()
        worker.start()
        yield apps[0], apps[1], worker, shared, db, fake
    finally:
        for proc in (*apps, worker):
            proc.stop()
        fake.stop()
        stop(chroma)
        sql("test", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        import redis

        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(f"{queue}*"))
        if keys:
            r.delete(*keys)


def api_key(app: AppServer, user: str) -> str:
    done = subprocess.run([sys.executable, "-m", "chat", "keys", "create", "scale", "--user",
                           user], cwd=ROOT, env=app.env(), capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.split()[0]


def wait_state(app: AppServer, key: str, doc_id: str, timeout: float = 300) -> dict:
    deadline, doc = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        doc = httpx.get(f"{app.url}/api/v1/documents/{doc_id}", headers=auth(key),
                        timeout=30).json()
        if doc.get("state") in ("indexed", "failed"):
            return doc
        time.sleep(0.5)
    raise TimeoutError(f"{doc_id} not done: {doc}")


def rag_cli(shared: dict, data_dir: Path, *args: str) -> str:
    import os

    env = {**os.environ, **shared, "DOCCHAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
           "RAG_CLI_OWNER": "x"}
    done = subprocess.run([sys.executable, "-m", "rag", *args], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return done.stdout


def vectors(shared: dict) -> int:
    """Vectors in every collection of the Chroma server (its HTTP API, v2)."""
    base = (f"http://127.0.0.1:{shared['CHROMA_PORT']}/api/v2/tenants/default_tenant/"
            "databases/default_database/collections")
    cols = httpx.get(base, timeout=10).json()
    return sum(int(httpx.get(f"{base}/{c['id']}/count", timeout=10).json()) for c in cols)


def owner_of(db: str, doc_id: str) -> str:
    return sql(db, f"SELECT owner FROM rag_documents WHERE doc_id = '{doc_id}' LIMIT 1")


def test_upload_on_a_ask_on_b_delete_on_b_gone_on_a(topology):
    a, b, worker, _shared, db, _fake = topology
    key = api_key(a, "alice")  # one database: a key made through A works on B
    up = httpx.post(f"{a.url}/api/v1/documents", headers=auth(key), timeout=60,
                    files=[("files", ("heliotrope.md", NOTE.encode(), "text/markdown"))])
    assert up.status_code == 202, up.text
    doc_id = up.json()["documents"][0]["id"]
    done = wait_state(a, key, doc_id)
    assert done["state"] == "indexed" and done["chunks"] >= 1, done
    assert "index_document" in worker.log()  # the worker did it, not A
    assert hashlib.sha256(NOTE.encode()).hexdigest() == done["id"]

    listed = httpx.get(f"{b.url}/api/v1/documents", headers=auth(key), timeout=30).json()
    assert [d["id"] for d in listed["data"]] == [doc_id]
    run = httpx.post(f"{b.url}/api/v1/runs", json={"question": FACT_Q}, headers=auth(key),
                     timeout=180)
    assert run.status_code == 200, run.text
    body = run.json()
    assert "43 days" in body["answer"] and body["citations"][0]["document"] == doc_id

    gone = httpx.delete(f"{b.url}/api/v1/documents/{doc_id}", headers=auth(key), timeout=60)
    assert gone.status_code == 200 and gone.json()["chunks"] >= 1
    assert httpx.get(f"{a.url}/api/v1/documents/{doc_id}", headers=auth(key),
                     timeout=30).status_code == 404
    assert httpx.get(f"{a.url}/api/v1/documents", headers=auth(key),
                     timeout=30).json()["data"] == []
    assert sql(db, f"SELECT count(*) FROM rag_chunks WHERE doc_id = '{doc_id}'") == "0"


def test_worker_killed_mid_job_reconcile_then_a_new_worker_completes_it(topology,
                                                                       tmp_path):
    a, b, worker, shared, db, _fake = topology
    key = api_key(a, "alice")
    text = long_text(10000, 7)
    doc_id = hashlib.sha256(text.encode()).hexdigest()
    up = httpx.post(f"{a.url}/api/v1/documents", headers=auth(key), timeout=60,
                    files=[("files", ("almanac.md", text.encode(), "text/markdown"))])
    assert up.status_code == 202, up.text
    deadline = time.monotonic() + 300
    state = ""
    while state != "indexing":  # the row says indexing before the first vector is written
        state = sql(db, f"SELECT state FROM rag_documents WHERE doc_id = '{doc_id}'")
        assert state != "indexed" and time.monotonic() < deadline, worker.log()[-2000:]
        time.sleep(0.01)
    while vectors(shared) == 0:  # then kill as soon as some vectors are written
        assert time.monotonic() < deadline, worker.log()[-2000:]
    worker.kill9()
    assert sql(db, f"SELECT state FROM rag_documents WHERE doc_id = '{doc_id}'") == "indexing"
    listed = httpx.get(f"{b.url}/api/v1/documents", headers=auth(key), timeout=30).json()
    assert doc_id not in {d["id"] for d in listed["data"]}  # never listed half-written
    owner = owner_of(db, doc_id)
    found = rag_cli(shared, tmp_path / "cli", "--owner", owner, "search", "Brontide almanac",
                    "--mode", "bm25")
    assert doc_id[:12] not in found  # never searchable half-written

    swept = rag_cli(shared, tmp_path / "cli", "reconcile", "--stale-after", "0")
    assert f"marked failed  indexing  owner={owner}" in swept and doc_id in swept, swept
    assert "removed 0 orphan vectors" not in swept  # the half-written vectors went
    assert sql(db, f"SELECT state FROM rag_documents WHERE doc_id = '{doc_id}'") == "failed"

    worker.start()  # arq hands the job out again once its in-progress mark expires
    done = wait_state(a, key, doc_id, timeout=300)
    assert done["state"] == "indexed", (done, worker.log()[-3000:])
    assert "try=2" in worker.log()
    found = rag_cli(shared, tmp_path / "cli", "--owner", owner, "search", "Brontide almanac",
                    "--mode", "bm25")
    assert doc_id[:12] in found
    on_b = httpx.get(f"{b.url}/api/v1/documents/{doc_id}", headers=auth(key), timeout=30)
    assert on_b.json()["state"] == "indexed"
