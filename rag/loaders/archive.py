"""Zip-bomb checks for zip-based formats (.docx), run before any parser sees the bytes.

A .docx is a zip archive; a small one can expand to hundreds of MB of XML (a 300 MB
whitespace bomb ended in ``XMLSyntaxError: Resource limit exceeded`` at 656 MB peak).
The zip's central directory states every member's compressed and uncompressed size,
so both limits are checked from it without inflating anything (OWASP's guidance on
zip bombs: cap the total uncompressed size and the compression ratio).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from rag.errors import UnreadableDocumentError, UnsafeArchiveError

#: A member smaller than this is never rejected for its ratio (tiny XML parts of a
#: normal .docx compress very well and are harmless).
RATIO_MIN_BYTES = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits of a zip-based document.

    max_uncompressed_bytes: all members together, once inflated.
    max_ratio: uncompressed / compressed size of one member (members over 1 MiB).
    """

    max_uncompressed_bytes: int = 100 * 1024 * 1024
    max_ratio: float = 100.0


def check_zip(data: bytes, filename: str, limits: ArchiveLimits) -> None:
    """Reject a zip whose members would inflate past ``limits``.

    Raises:
        UnsafeArchiveError: over the total uncompressed size or the compression ratio.
        UnreadableDocumentError: not a zip archive.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableDocumentError(
            filename, f"cannot be read as a Word .docx file ({type(exc).__name__}). Save it "
            "as .docx from your word processor and upload it again.") from None
    total = sum(m.file_size for m in members)
    if total > limits.max_uncompressed_bytes:
        raise UnsafeArchiveError(
            filename, f"would expand to {total / 1048576:.0f} MB when unpacked, over the "
            f"{limits.max_uncompressed_bytes / 1048576:.0f} MB limit "
            "(RAG_MAX_UNCOMPRESSED_MB). It was not opened. Split the document or remove "
            "embedded files, and upload it again.")
    for member in members:
        if member.file_size < RATIO_MIN_BYTES:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > limits.max_ratio:
            raise UnsafeArchiveError(
                filename, f"contains a part ({member.filename}) compressed {ratio:.0f} times "
                f"(limit {limits.max_ratio:.0f}, RAG_MAX_COMPRESSION_RATIO): this is how a "
                "zip bomb looks, so it was not opened. Save the document again from your "
                "word processor and upload it again.")
