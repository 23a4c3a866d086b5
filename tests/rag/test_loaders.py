"""Loaders on real files made by the tests: text, citations and every bad-input case."""

from __future__ import annotations

import pytest

from rag.errors import (
    BinaryContentError,
    DocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    NotUtf8Error,
    UnreadableDocumentError,
    UnsupportedTypeError,
)
from rag.loaders.files import content_id, load_file, load_text_document


def test_pdf_pages_are_numbered_from_one(make_pdf):
    path = make_pdf("report.pdf", ["Alpha page about turbines.", "Beta page about rivers."])
    doc = load_file(path)
    assert doc.kind == "pdf"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "turbines" in doc.sections[0].text and "rivers" in doc.sections[1].text
    assert doc.doc_id == content_id(path.read_bytes())


def test_pdf_blank_pages_are_dropped_but_numbers_kept(make_pdf):
    doc = load_file(make_pdf("gap.pdf", ["first", "", "third"]))
    assert [s.page for s in doc.sections] == [1, 3]


def test_markdown_heading_paths_and_code_fences(write):
    text = ("Preface line.\n\n# Guide\n\nIntro.\n\n```\n# not a heading\n```\n\n"
            "## Install\n\nRun pip.\n\n### Linux\n\napt.\n\n## Use\n\nCall it.\n\n# Other\n\nx\n")
    doc = load_file(write("guide.md", text))
    assert [s.heading for s in doc.sections] == [
        None, "Guide", "Guide > Install", "Guide > Install > Linux", "Guide > Use", "Other"]
    assert "# not a heading" in doc.sections[1].text


def test_html_heading_paths_skip_scripts(write):
    html = ("<html><head><title>T</title><style>p{}</style></head><body>"
            "<p>Lead <b>bold</b> text</p><h1>Main</h1><p>one</p><script>var x=1;</script>"
            "<h2>Sub</h2><ul><li>a</li><li>b</li></ul><h1>Next</h1><p>two</p></body></html>")
    doc = load_file(write("page.html", html))
    assert [s.heading for s in doc.sections] == [None, "Main", "Main > Sub", "Next"]
    assert doc.sections[0].text == "Lead bold text"
    assert all("var x" not in s.text for s in doc.sections)
    assert "a\n\nb" in doc.sections[2].text


def test_docx_heading_paths_and_tables(make_docx):
    path = make_docx("notes.docx", [
        ("P", "Before any heading."), ("H1", "Budget"), ("P", "Totals follow."),
        ("TABLE", "item,cost;ink,5"), ("H2", "Travel"), ("P", "Train fares."),
        ("H1", "Staff"), ("P", "Two people."),
    ])
    doc = load_file(path)
    assert [s.heading for s in doc.sections] == [None, "Budget", "Budget > Travel", "Staff"]
    assert "ink | 5" in doc.sections[1].text
    assert doc.sections[2].text.startswith("Travel")


def test_plain_text_and_bom(write):
    doc = load_file(write("a.txt", "\ufeffhello world".encode("utf-8")))
    assert doc.kind == "text" and doc.sections[0].text == "hello world"


def test_text_document_id_is_sha256_of_utf8():
    doc = load_text_document("q1", "héllo", {"title": "T"})
    assert doc.doc_id == content_id("héllo".encode())
    assert doc.metadata == {"title": "T"}


@pytest.mark.parametrize(
    "name,content,error,words",
    [
        ("empty.txt", b"", EmptyDocumentError, "0 bytes"),
        ("blank.md", b"  \n\n\t ", EmptyDocumentError, "no text"),
        ("image.png", b"\x89PNG....", UnsupportedTypeError, ".png"),
        ("noext", b"text", UnsupportedTypeError, "no extension"),
        ("fake.txt", b"\x7fELF\x02\x01\x01\x00\x00\x00binary", BinaryContentError, "binary"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), NotUtf8Error, "UTF-8"),
        ("latin1.md", "# T\n\nna\u00efve".encode("latin-1"), NotUtf8Error, "iconv"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", UnreadableDocumentError, "PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip really", UnreadableDocumentError, ".docx"),
        ("empty.html", b"<html><body><script>x()</script></body></html>", EmptyDocumentError,
         "no extractable text"),
    ],
)
def test_bad_input_raises_typed_error_naming_the_file(write, name, content, error, words):
    path = write(name, content)
    with pytest.raises(error) as info:
        load_file(path)
    assert isinstance(info.value, DocumentError)
    assert info.value.filename == name
    assert str(info.value).startswith(f"{name}: ")
    assert words in str(info.value)


def test_encrypted_pdf(make_pdf):
    path = make_pdf("secret.pdf", ["classified"], user_password="pw")
    with pytest.raises(EncryptedDocumentError, match="secret.pdf: is password-protected"):
        load_file(path)


def test_scanned_like_pdf_without_text(make_pdf):
    with pytest.raises(EmptyDocumentError, match="OCR"):
        load_file(make_pdf("scan.pdf", ["", ""]))


def test_file_over_size_limit(write):
    path = write("big.txt", "x" * 2048)
    with pytest.raises(FileTooLargeError, match="big.txt: is .* over the .* limit"):
        load_file(path, max_bytes=1024)
    assert load_file(path, max_bytes=4096).sections


def test_display_name_decides_type_and_appears_in_errors(write):
    path = write("upload-tmp-123", b"")
    with pytest.raises(EmptyDocumentError, match="^report.md: "):
        load_file(path, filename="report.md")
