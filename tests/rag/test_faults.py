"""Faults: a process killed with SIGKILL in the middle of Store leaves no ghost.

A child process indexes a document into a real data directory (real Chroma on disk,
real MiniLM, real SQLite); right after Chroma accepted the vectors, and before the
keyword rows and the registry were committed, it kills itself with SIGKILL, exactly what
``kill -9`` during Store does. The test then opens the same data directory: search in
every mode, owner-wide (scope "all") and per thread, must never return those chunks;
the sweep (``reconcile``, run at start-up) removes them from Chroma; the document is
marked failed as interrupted; ``python -m rag reconcile`` prints what it removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.config import RagSettings
from rag.models import Scope, TextDocument
from rag.service import RagService

ROOT = Path(__file__).resolve().parents[2]
SECRET = "The orphan vault code is Zanzibar-4471, stored under the marigold ledger."
CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from rag.config import RagSettings
    from rag.models import Scope, TextDocument
    from rag.service import RagService
    from rag.store.chroma import ChromaStore

    real_add = ChromaStore.add

    def add_then_die(self, *args, **kwargs):  # kill -9 right after the vectors landed
        real_add(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    ChromaStore.add = add_then_die

    async def main():
        service = await RagService.open(RagSettings(data_dir=sys.argv[1]))
        text = "\\n\\n".join([sys.argv[2]] * 3 + [f"Filler paragraph {i} about pumps."
                                                    for i in range(40)])
        await service.index_texts([TextDocument("vault.txt", text)],
                                  Scope(owner="alice", thread_id="t1"))

    asyncio.run(main())
""")


def _kill_during_store(data_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data_dir), SECRET], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, check=False,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


@pytest.fixture
def killed_data_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    _kill_during_store(data_dir)
    return data_dir


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
async def test_orphan_vectors_of_a_killed_store_are_never_returned(killed_data_dir, embedder,
                                                                   mode):
    settings = RagSettings(data_dir=killed_data_dir)
    service = await RagService.open(settings, embedder=embedder)
    try:
        # the kill really left vectors behind
        assert service.store.chroma.count("alice") > 0
        for scope in (Scope("alice"), Scope("alice", "t1")):
            results = await service.search("orphan vault code Zanzibar marigold", scope, k=5,
                                           mode=mode)
            assert not [r for r in results if "Zanzibar" in r.text], (mode, scope)
        assert await service.list_documents(Scope("alice")) == []
    finally:
        await service.close()


async def test_sweep_at_start_removes_orphans_and_marks_the_document_interrupted(
        killed_data_dir, embedder):
    service = await RagService.open(RagSettings(data_dir=killed_data_dir), embedder=embedder)
    try:
        orphans = service.store.chroma.count("alice")
        report = await service.reconcile()
        assert report.vectors == orphans > 0
        assert [(o, t, s) for o, t, _, s in report.documents] == [("alice", "t1", "indexing")]
        assert service.store.chroma.count("alice") == 0
        state, error = service.store.db.query("SELECT state, error FROM documents")[0]
        assert state == "failed" and "interrupted" in error
        # the same file indexed again afterwards is found normally
        reports = await service.index_texts([TextDocument("vault.txt", SECRET)],
                                            Scope("alice", "t1"))
        assert reports[0].status == "indexed", reports[0].error
        hits = await service.search("Zanzibar vault code", Scope("alice"), k=3)
        assert hits and "Zanzibar" in hits[0].text
        assert (await service.reconcile()).empty
    finally:
        await service.close()


def test_reconcile_command_prints_what_it_removed(killed_data_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCCHAT_DATA_DIR": str(killed_data_dir)}
    out = subprocess.run([sys.executable, "-m", "rag", "reconcile", "--stale-after", "0"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "marked failed" in out.stdout and "owner=alice thread=t1" in out.stdout
    assert "orphan vectors" in out.stdout and "removed 0 orphan" not in out.stdout
    # a second run finds nothing left
    again = subprocess.run([sys.executable, "-m", "rag", "reconcile", "--stale-after", "0"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert "removed 0 orphan vectors and 0 keyword rows; 0 unfinished" in again.stdout


async def test_delete_in_progress_is_hidden_and_finished_by_the_sweep(tmp_path, embedder):
    """A row left in ``deleting`` (killed mid-delete) hides its chunks; the sweep ends it."""
    service = await RagService.open(RagSettings(data_dir=tmp_path / "d"), embedder=embedder)
    try:
        [report] = await service.index_texts([TextDocument("v.txt", SECRET)], Scope("bob"))
        with service.store.db.transaction() as conn:
            service.store.registry.set_state(conn, "bob", None, report.doc_id, "deleting")
        assert await service.search("Zanzibar vault", Scope("bob"), k=3) == []
        swept = await service.reconcile()
        assert swept.vectors == report.chunks and swept.keyword_rows == report.chunks
        assert service.store.db.query("SELECT count(*) FROM documents")[0][0] == 0
    finally:
        await service.close()
