"""Fixtures shared by every test package: real PDFs built with fpdf2.

``make_pdf`` is the one PDF builder of the suite; ``report_pdf`` is the three-page
maintenance report the chat and browser tests upload, whose page 2 alone holds
``report_fact`` (the fact the question "How often must the Heliotrope reactor be
inspected?" asks for).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPORT_FACT = "The Heliotrope reactor must be inspected every 43 days by a certified engineer."
REPORT_PAGES = [
    ("Annual maintenance report. This report covers the cooling plant and its pumps. "
     "Pumps are replaced every five years."),
    f"Safety schedule. {REPORT_FACT} Inspections are logged in the blue binder.",
    "Budget. The maintenance budget for next year is forty thousand euros.",
]


def write_pdf(path: Path, pages: list[str], user_password: str | None = None) -> Path:
    """Write a real PDF with one paragraph per page ("" = a page without text).

    Args:
        path: where to write it (parent folders are created).
        pages: the text of each page, in order.
        user_password: encrypt the PDF with this user password (owner "owner-<password>").
    Returns:
        ``path``.
    """
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    if user_password:
        pdf.set_encryption(owner_password="owner-" + user_password,
                           user_password=user_password)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


@pytest.fixture
def make_pdf(tmp_path: Path) -> Callable[..., Path]:
    """``make_pdf(name, pages, user_password=None) -> Path``: a real PDF under tmp_path
    (an absolute ``name`` is used as is)."""

    def _make(name: str | Path, pages: list[str], user_password: str | None = None) -> Path:
        return write_pdf(tmp_path / name, pages, user_password)

    return _make


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    """``tmp_path/heliotrope-report.pdf``: the three-page maintenance report."""
    return write_pdf(tmp_path / "heliotrope-report.pdf", REPORT_PAGES)


@pytest.fixture
def report_fact() -> str:
    """The sentence on page 2 of ``report_pdf``."""
    return REPORT_FACT


@pytest.fixture
def clean_llm_env(monkeypatch, tmp_path) -> None:
    """No provider key, ``DOCCHAT_LLM_*`` setting or LLM settings file of the machine
    reaches an in-process test. Names are compared upper-cased: pydantic-settings reads
    ``openai_api_key`` as ``OPENAI_API_KEY`` (CI's machine has a key, with no internet)."""
    from agents.llm.settings import variables

    names = set(variables())
    for key in [k for k in os.environ if k.upper() in names]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DOCCHAT_LLM_SETTINGS_FILE", str(tmp_path / "absent.toml"))


@pytest.fixture
def offline_router(clean_llm_env, tmp_path):
    """The router with no key and no local model: its answer chain is extractive only."""
    from agents.llm import LLMRouter, LLMSettings

    router = LLMRouter.from_settings(LLMSettings(local_model_path=tmp_path / "none.gguf"))
    assert router.chain("answer") == ["extractive"]
    return router
