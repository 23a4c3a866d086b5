"""No local state left: with DATABASE_URL on PostgreSQL and CHROMA_HOST on a real
`chroma run` server, two processes with different DOCCHAT_DATA_DIRs are one store.

Process A indexes a file with `python -m rag index`; process B, another data directory,
finds it with `python -m rag search`, another owner does not, B deletes it, and A no
longer finds it. Neither data directory holds a keyword index, registry or vectors.
The database is a fresh one per test (``pg_url``), the Chroma server has its own path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_chroma_server import chroma_server  # noqa: F401 - the module's server fixture

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("chroma") is None, reason="chroma CLI missing")

TEXT = ("The lighthouse keeper logs the quasar-7731 beacon every night.\n\n"
        "Storms on the northern reef delay the supply boat by two days.")


def rag(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m rag ARGS` as a separate process over ``data_dir``."""
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT,
                          env={**env, "DOCCHAT_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=300, check=False)


def test_two_processes_with_different_data_dirs_share_documents(
        tmp_path, pg_url, chroma_server):  # noqa: F811
    host, port = chroma_server
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": pg_url,
           "CHROMA_HOST": host, "CHROMA_PORT": str(port), "RAG_CLI_OWNER": "alice"}
    dir_a, dir_b = tmp_path / "a", tmp_path / "b"
    doc = tmp_path / "lighthouse.txt"
    doc.write_text(TEXT)

    indexed = rag(dir_a, env, "index", str(doc))
    assert indexed.returncode == 0, indexed.stdout + indexed.stderr[-2000:]
    doc_id = re.search(r"doc_id=([0-9a-f]{64})", indexed.stdout)
    assert doc_id, indexed.stdout
    for mode in ("bm25", "hybrid"):
        found = rag(dir_b, env, "search", "quasar-7731 beacon", "--mode", mode)
        assert found.returncode == 0, found.stderr[-2000:]
        assert "lighthouse.txt" in found.stdout and doc_id[1][:12] in found.stdout, mode
    stranger = rag(dir_b, env, "--owner", "bob", "search", "quasar-7731 beacon")
    assert stranger.stdout.strip() == "no results"

    deleted = rag(dir_b, env, "delete", doc_id[1])
    chunks = re.search(r"chunks=(\d+)", indexed.stdout)
    assert chunks and int(chunks[1]) > 0, indexed.stdout
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr[-2000:]
    assert f"deleted {chunks[1]} chunks" in deleted.stdout, deleted.stdout
    gone = rag(dir_a, env, "search", "quasar-7731 beacon")
    assert gone.returncode == 0 and gone.stdout.strip() == "no results", gone.stdout
    again = rag(dir_a, env, "index", str(doc))  # A can index it again: nothing stale
    assert again.returncode == 0 and "INDEXED" in again.stdout, again.stdout

    local = sorted(str(p.relative_to(tmp_path)) for d in (dir_a, dir_b) if d.exists()
                   for p in d.rglob("*") if p.suffix in (".db", ".sqlite3") or p.name == "chroma")
    assert local == [], f"local state left: {local}"
