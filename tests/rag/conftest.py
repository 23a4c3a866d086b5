"""Fixtures for the rag tests: one real MiniLM embedder per session, a fresh real
store (Chroma on disk + SQLite FTS5) per test, a fresh real PostgreSQL database per test
that asks for ``pg_url`` (127.0.0.1:5432, random name, dropped after; PG_ADMIN_URL
overrides the server), and factories for real files (``make_pdf`` is in
tests/conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import RagSettings
from rag.service import RagService, shared_embedder


@pytest.fixture(scope="session")
def embedder():
    """The process-wide MiniLM embedder (the same instance RagService.open uses)."""
    return shared_embedder(RagSettings())


PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def create_pg_database() -> tuple[str, str]:
    """Create a uniquely named database; returns (name, postgresql:// URL)."""
    name = f"docchat_rag_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    return name, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_pg_database(name: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database (skips when no server answers)."""
    try:
        name, url = create_pg_database()
    except Exception as error:  # noqa: BLE001 - any failure means "no server"
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} unavailable: {error}")
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def settings(tmp_path: Path) -> RagSettings:
    """Embedded store settings (SQLite even when DATABASE_URL is set around the tests)."""
    return RagSettings(data_dir=tmp_path / "data", embed_batch=8, database_url=None)


@pytest.fixture
def pg_settings(tmp_path: Path, pg_url: str) -> RagSettings:
    """Settings whose keyword index and registry are in a fresh PostgreSQL database."""
    return RagSettings(data_dir=tmp_path / "data", embed_batch=8, database_url=pg_url)


@pytest.fixture
async def pg_service(pg_settings: RagSettings, embedder):
    svc = await RagService.open(pg_settings, embedder=embedder)
    yield svc
    await svc.close()


@pytest.fixture
async def service(settings: RagSettings, embedder):
    svc = await RagService.open(settings, embedder=embedder)
    yield svc
    await svc.close()


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
