"""Fixtures for the rag tests: one real MiniLM embedder per session, a fresh real
store (Chroma on disk + SQLite FTS5) per test, and factories for real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import RagSettings
from rag.service import RagService, shared_embedder


@pytest.fixture(scope="session")
def embedder():
    """The process-wide MiniLM embedder (the same instance RagService.open uses)."""
    return shared_embedder(RagSettings())


@pytest.fixture
def settings(tmp_path: Path) -> RagSettings:
    return RagSettings(data_dir=tmp_path / "data", embed_batch=8)


@pytest.fixture
async def service(settings: RagSettings, embedder):
    svc = await RagService.open(settings, embedder=embedder)
    yield svc
    await svc.close()


@pytest.fixture
def make_pdf(tmp_path: Path):
    """make_pdf(name, pages, user_password=None) -> Path: a real PDF via fpdf2."""
    from fpdf import FPDF

    def _make(name: str, pages: list[str], user_password: str | None = None) -> Path:
        pdf = FPDF()
        pdf.set_font("helvetica", size=12)
        for text in pages:
            pdf.add_page()
            if text:
                pdf.multi_cell(0, 8, text)
        if user_password:
            pdf.set_encryption(owner_password="owner-" + user_password,
                               user_password=user_password)
        path = tmp_path / name
        pdf.output(str(path))
        return path

    return _make


@pytest.fixture
def make_docx(tmp_path: Path):
    """make_docx(name, blocks) -> Path; blocks are (style, text), style "H1".."H3",
    "Title", "P" or "TABLE" (text = rows joined by ';', cells by ',')."""
    import docx

    def _make(name: str, blocks: list[tuple[str, str]]) -> Path:
        document = docx.Document()
        for style, text in blocks:
            if style == "Title":
                document.add_heading(text, level=0)
            elif style.startswith("H"):
                document.add_heading(text, level=int(style[1:]))
            elif style == "TABLE":
                rows = [r.split(",") for r in text.split(";")]
                table = document.add_table(rows=len(rows), cols=len(rows[0]))
                for i, row in enumerate(rows):
                    for j, cell in enumerate(row):
                        table.cell(i, j).text = cell
            else:
                document.add_paragraph(text)
        path = tmp_path / name
        document.save(str(path))
        return path

    return _make


@pytest.fixture
def write(tmp_path: Path):
    """write(name, content: str | bytes) -> Path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
