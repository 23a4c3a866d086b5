"""PDF loader (pypdfium2): one section per page, with its 1-based page number.

PDFium is not thread-safe, so every call into it holds ``_PDFIUM_LOCK``.
"""

from __future__ import annotations

import threading

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from rag.errors import EncryptedDocumentError, UnreadableDocumentError
from rag.loaders.base import Section, require_text

_PDFIUM_LOCK = threading.Lock()


def load_pdf(data: bytes, filename: str) -> list[Section]:
    """Extract the text of every page.

    Raises:
        EncryptedDocumentError: the PDF needs a password.
        UnreadableDocumentError: not a PDF or corrupt.
        EmptyDocumentError: no page has text (e.g. a scanned PDF without OCR).
    """
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                raise EncryptedDocumentError(
                    filename,
                    "is password-protected. Remove the password (e.g. print it to a new "
                    "PDF) and upload it again.",
                ) from None
            raise UnreadableDocumentError(
                filename,
                f"cannot be read as a PDF ({exc}). Check that the file is a complete, "
                "valid PDF (re-export or re-download it).",
            ) from None
        try:
            sections = [
                Section(_page_text(pdf, i), page=i + 1) for i in range(len(pdf))
            ]
        except pdfium.PdfiumError as exc:
            raise UnreadableDocumentError(
                filename, f"has a page that cannot be read ({exc}). Re-export the PDF."
            ) from None
        finally:
            pdf.close()
    return require_text(
        sections, filename, "It may be a scanned PDF: run OCR on it first (e.g. ocrmypdf)."
    )


def _page_text(pdf: pdfium.PdfDocument, index: int) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            text: str = textpage.get_text_range()
            return text.replace("\r\n", "\n").replace("\r", "\n")
        finally:
            textpage.close()
    finally:
        page.close()
