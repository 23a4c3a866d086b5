"""Denial of service through bad files: parsing runs in a killable child process under
CPU-time, memory and wall-clock limits, zip bombs are refused before parsing, and each
user has a quota of files in flight. Real files, real processes, real Chroma and MiniLM.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from rag.config import RagSettings
from rag.models import Scope
from rag.service import RagService

sys.path.insert(0, str(Path(__file__).parent))
from bad_docx import empty_paragraphs_docx, whitespace_bomb_docx, wordy_docx

GOOD = "# Pumps\n\nThe Heliotrope pump must be serviced every 43 days.\n"


async def _open(tmp_path: Path, embedder, **limits) -> RagService:
    settings = RagSettings(data_dir=tmp_path / "data", embed_batch=8, **limits)
    return await RagService.open(settings, embedder=embedder)


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.md"
    path.write_text(GOOD)
    return path


async def test_zip_bomb_docx_is_refused_by_ratio_before_parsing(tmp_path, embedder):
    bomb = whitespace_bomb_docx(tmp_path / "bomb.docx", 30)
    assert bomb.stat().st_size < 200_000
    service = await _open(tmp_path, embedder)
    try:
        started = time.perf_counter()
        [report] = await service.index_files([bomb], Scope("alice"))
        assert report.status == "failed"
        assert "zip bomb" in report.error and "RAG_MAX_COMPRESSION_RATIO" in report.error
        assert report.error.startswith("bomb.docx: ")
        assert time.perf_counter() - started < 5
    finally:
        await service.close()


async def test_docx_over_the_uncompressed_size_limit_is_refused(tmp_path, embedder):
    big = wordy_docx(tmp_path / "big.docx", 3)
    service = await _open(tmp_path, embedder, max_uncompressed_mb=2)
    try:
        [report] = await service.index_files([big], Scope("alice"))
        assert report.status == "failed"
        assert "RAG_MAX_UNCOMPRESSED_MB" in report.error and "2 MB limit" in report.error
    finally:
        await service.close()


async def test_slow_docx_is_stopped_by_the_cpu_limit_and_frees_its_slot(tmp_path, embedder):
    """The attack's file (empty paragraphs, ~2 ms each) with one indexing slot: it is
    stopped after its CPU budget with a clear message, and the next file then indexes."""
    slow = empty_paragraphs_docx(tmp_path / "slow.docx", 20_000)
    service = await _open(tmp_path, embedder, parse_cpu_s=1, parse_timeout_s=60,
                          index_concurrency=1)
    try:
        started = time.perf_counter()
        slow_report, good_report = await service.index_files([slow, _good(tmp_path)],
                                                             Scope("alice"))
        assert slow_report.status == "failed"
        assert "RAG_PARSE_CPU_S" in slow_report.error and "stopped" in slow_report.error
        assert good_report.status == "indexed", good_report.error
        assert time.perf_counter() - started < 30
        assert service.parser.running == 0
    finally:
        await service.close()


async def test_wall_clock_timeout_kills_the_parser(tmp_path, embedder):
    slow = empty_paragraphs_docx(tmp_path / "slow.docx", 20_000)
    service = await _open(tmp_path, embedder, parse_cpu_s=600, parse_timeout_s=1)
    try:
        started = time.perf_counter()
        [report] = await service.index_files([slow], Scope("alice"))
        assert "RAG_PARSE_TIMEOUT_S" in report.error
        assert time.perf_counter() - started < 10
        assert not service.parser.pids
    finally:
        await service.close()


async def test_memory_limit_stops_a_parser_that_needs_too_much(tmp_path, embedder):
    page = tmp_path / "huge.html"
    page.write_text("<html><body>" + "<p>word</p>" * 2_000_000 + "</body></html>")
    service = await _open(tmp_path, embedder, parse_memory_mb=150, parse_timeout_s=120)
    try:
        [report] = await service.index_files([page], Scope("alice"))
        assert report.status == "failed"
        assert "RAG_PARSE_MEMORY_MB" in report.error, report.error
    finally:
        await service.close()


async def test_cancelling_an_indexing_kills_its_parser(tmp_path, embedder):
    """Stop in the chat cancels the task: the child process must die with it, not keep
    burning a core."""
    slow = empty_paragraphs_docx(tmp_path / "slow.docx", 50_000)
    service = await _open(tmp_path, embedder, parse_cpu_s=600, parse_timeout_s=600)
    try:
        task = asyncio.create_task(service.index_files([slow], Scope("alice")))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if service.parser.pids:
                break
        [pid] = list(service.parser.pids)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"parser process {pid} still alive after cancel")
        assert service.indexing_load()["running"] == 0
    finally:
        await service.close()


async def test_per_user_quota_of_files_in_flight(tmp_path, embedder):
    files = []
    for i in range(3):
        path = tmp_path / f"note{i}.md"
        path.write_text(f"# Note {i}\n\nDistinct fact number {i} about turbines.\n")
        files.append(path)
    service = await _open(tmp_path, embedder, user_max_pending_files=2)
    try:
        reports = await service.index_files(files, Scope("alice"))
        assert [r.status for r in reports] == ["indexed", "indexed", "failed"]
        assert "RAG_USER_MAX_PENDING_FILES=2" in reports[2].error
        assert reports[2].error.startswith("note2.md: was not indexed")
        # the quota is released afterwards, and is per user
        again = await service.index_files(files[2:], Scope("alice"))
        assert again[0].status == "indexed"
    finally:
        await service.close()


async def test_readiness_load_reports_saturation(tmp_path, embedder):
    slow = empty_paragraphs_docx(tmp_path / "slow.docx", 20_000)
    service = await _open(tmp_path, embedder, index_concurrency=1, ready_max_waiting=1,
                          parse_timeout_s=3)
    try:
        assert service.indexing_load()["saturated"] is False
        task = asyncio.create_task(service.index_files(
            [slow, _good(tmp_path)], Scope("alice")))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if service.indexing_load()["saturated"]:
                break
        assert service.indexing_load() == {"running": 1, "waiting": 1, "slots": 1,
                                           "saturated": True}
        await task
        assert service.indexing_load()["saturated"] is False
    finally:
        await service.close()
