"""Static checks as tests, so the README's test command (and CI, `.ci/run`) runs them:
ruff with the rule set of ``[tool.ruff.lint]`` and mypy with ``[tool.mypy]`` (strict on
agents/ and rag/; it also checks that ``RagService`` and ``LLMRouter`` satisfy the flow's
``agents.protocols`` where chat hands them over)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, check=False,
                          text=True, timeout=600)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", ".", "--no-cache", "--output-format", "concise")
    assert result.returncode == 0, f"ruff check . found:\n{result.stdout}{result.stderr}"


@pytest.mark.timeout(900)
def test_mypy_finds_nothing():
    result = _run("mypy")
    assert result.returncode == 0, f"mypy found:\n{result.stdout}{result.stderr}"
