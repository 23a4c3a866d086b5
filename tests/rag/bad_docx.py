"""Hostile .docx files built in the test itself (python-docx for a valid skeleton,
zipfile to rewrite ``word/document.xml``): small on disk, over the limits once opened."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def _rewrite_body(path: Path, body_xml: bytes) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("Skeleton paragraph.")
    buf = io.BytesIO()
    document.save(buf)
    source = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + body_xml, 1)
            out.writestr(item.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def empty_paragraphs_docx(path: Path, paragraphs: int, varied: bool = False) -> Path:
    """The attack's slow file: ``paragraphs`` empty paragraphs (python-docx ~2 ms each).

    varied: give each paragraph a random revision id as Word does, so that the XML
    compresses like a normal document (under the compression-ratio limit) and only the
    CPU and time limits can stop it.
    """
    if not varied:
        return _rewrite_body(path, b"<w:p/>" * paragraphs)
    import random

    rng = random.Random(11)
    return _rewrite_body(path, b"".join(
        b'<w:p w:rsidR="00%06X"/>' % rng.randrange(1 << 24) for _ in range(paragraphs)))


def whitespace_bomb_docx(path: Path, megabytes: int) -> Path:
    """A zip bomb: ``megabytes`` MB of whitespace inside document.xml (~1000:1)."""
    return _rewrite_body(path, b" " * (megabytes * 1024 * 1024))


def wordy_docx(path: Path, megabytes: float) -> Path:
    """Ordinary-looking text paragraphs totalling about ``megabytes`` MB of XML, with a
    normal compression ratio (varied words)."""
    import random

    rng = random.Random(7)
    words = [f"{w}{rng.randint(0, 99999)}" for w in ("alpha", "delta", "omega", "sigma")]
    paras = []
    size = 0
    while size < megabytes * 1024 * 1024:
        text = " ".join(rng.choice(words) + str(rng.randint(0, 10 ** 6)) for _ in range(40))
        para = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode()
        paras.append(para)
        size += len(para)
    return _rewrite_body(path, b"".join(paras))
