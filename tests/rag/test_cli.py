"""`python -m rag` index / search / delete / eval wiring, in-process (shared embedder)
and once as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rag import cli


@pytest.fixture
def data_dir(tmp_path, monkeypatch, embedder):
    monkeypatch.setenv("DOCCHAT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_index_folder_search_delete(data_dir, write, make_pdf, capsys):
    write("docs/lakes.md", "# Lakes\n\n## Baikal\n\nLake Baikal is the deepest lake.\n")
    write("docs/sub/empty.txt", b"")
    write("docs/.hidden/skip.txt", "hidden file")
    make_pdf("docs/volcano.pdf", ["Volcanoes erupt magma.", "Etna is in Sicily."])
    folder = data_dir.parent / "docs"
    code = cli.main(["index", str(folder), "--scope", "t1"])
    out = capsys.readouterr().out
    assert code == 1  # one file failed
    assert "INDEXED" in out and "lakes.md" in out and "volcano.pdf" in out
    assert "FAILED" in out and "empty.txt: is empty (0 bytes)" in out
    assert "skip.txt" not in out
    assert "2/3 files indexed" in out

    assert cli.main(["search", "Where is Etna?", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(" 1. ") and "volcano.pdf p.2" in out.splitlines()[0]
    assert cli.main(["search", "deepest lake", "--scope", "t1", "--mode", "bm25"]) == 0
    assert "lakes.md [Lakes > Baikal]" in capsys.readouterr().out
    assert cli.main(["--owner", "someone-else", "search", "deepest lake"]) == 0
    assert capsys.readouterr().out.strip() == "no results"

    assert cli.main(["index", str(folder / "lakes.md"), "--scope", "t1"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("DUPLICATE")
    doc_id = line.split("doc_id=")[1].split()[0]
    assert cli.main(["delete", doc_id]) == 0
    assert capsys.readouterr().out.startswith(f"deleted 2 chunks of {doc_id}")  # 2 sections
    assert cli.main(["delete", doc_id]) == 1


def test_missing_path_is_reported(data_dir, capsys):
    assert cli.main(["index", str(data_dir / "nope.txt")]) == 1
    assert "no such file or folder" in capsys.readouterr().out


def test_eval_delegates_to_the_runner(monkeypatch):
    seen = {}

    def fake_main(args):
        seen.update(vars(args))
        return 0

    from evaluation import retrieval as runner

    monkeypatch.setattr(runner, "main", fake_main)
    assert cli.main(["eval", "/some/beir", "--split", "dev", "--mode", "bm25", "--json"]) == 0
    assert (seen["beir_dir"], seen["split"], seen["mode"], seen["json"]) == (
        "/some/beir", "dev", "bm25", True)


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "rag", "--help"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0
    for command in ("index", "search", "delete", "eval", "bench"):
        assert command in proc.stdout
