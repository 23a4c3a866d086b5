"""Uploads: copied out of Chainlit's temporary folder at once, indexed one step per file
with live progress and a plain-words summary; a bad file never stops the others."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from test_handlers import chat_app, make_pdf, reply_of, steps_named, user_message  # noqa: F401
from test_steps import chainlit_session, emitted

from chat import uploads
from chat.logging import EVENTS_LOGGER, JsonLineFormatter


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


async def test_good_bad_and_duplicate_files_each_end_in_their_own_summary(chat_app):  # noqa: F811
    from rag.models import Scope

    folder = chat_app.dir / "incoming"
    folder.mkdir()
    notes = write(folder, "notes.md", "# Plant notes\n\nThe north valve is painted green.\n\n"
                                      "## Staff\n\nOlga runs the night shift on Tuesdays.\n")
    again = write(folder, "notes-copy.md", notes.read_text())
    broken = write(folder, "broken.pdf", b"%PDF-1.4\n this is not really a pdf \x00\x01\x02")
    empty = write(folder, "empty.txt", "")
    pdf = make_pdf(folder / "manual.pdf", ["Page one of the manual. Turn the crank slowly.",
                                           "Page two. Oil the hinge weekly.",
                                           "Page three. Call Dana for spare parts."])
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonLineFormatter())
    logging.getLogger(EVENTS_LOGGER).addHandler(handler)
    logging.getLogger(EVENTS_LOGGER).setLevel(logging.INFO)
    try:
        async with chainlit_session() as session:
            await chat_app.handlers.on_message(
                user_message("", [notes, broken, again, empty, pdf]))
            summary = reply_of(session)["output"]
            steps = {name: steps_named(session, f"Indexing {name}")[0]
                     for name in ("notes.md", "broken.pdf", "notes-copy.md", "empty.txt",
                                  "manual.pdf")}
            progress = [p["output"] for e, p in emitted(session, "update_message")
                        if p.get("id") == steps["manual.pdf"]["id"]]
            chunks = await chat_app.rag.count_chunks(Scope(owner="alice",
                                                           thread_id=session.thread_id))
            # the conversation goes on after the bad files
            await chat_app.handlers.on_message(user_message("Who runs the night shift?"))
            answer = reply_of(session)["output"]
    finally:
        logging.getLogger(EVENTS_LOGGER).removeHandler(handler)

    # notes.md and notes-copy.md hold the same bytes and are indexed concurrently:
    # whichever stores first is indexed, the other is reported as already indexed.
    twins = sorted(steps[n]["output"].split(" ")[0] for n in ("notes.md", "notes-copy.md"))
    assert twins == ["Already", "Indexed"], twins
    first, second = (("notes.md", "notes-copy.md")
                     if steps["notes.md"]["output"].startswith("Indexed with ")
                     else ("notes-copy.md", "notes.md"))
    assert steps[second]["output"].startswith("Already indexed")
    assert steps["manual.pdf"]["output"].startswith("Indexed with ")
    assert steps["broken.pdf"]["isError"] and "broken.pdf" in steps["broken.pdf"]["output"]
    assert steps["broken.pdf"]["output"].startswith("Could not index this file.")
    assert steps["empty.txt"]["isError"] and "Could not index" in steps["empty.txt"]["output"]
    assert not steps["notes.md"]["isError"] and not steps["notes-copy.md"]["isError"]
    assert any(p.startswith("Reading") and "pages" in p for p in progress), progress
    assert chunks > 0
    assert summary.count("\n- ") == 4 and "Ask me anything about them." in summary
    assert "Olga" in answer

    logged = [json.loads(x) for x in lines.getvalue().splitlines()]
    by_file = {x["filename"]: x for x in logged if x["event"] == "index"}
    assert by_file[first]["status"] == "indexed" and by_file[first]["chunks"] > 0
    assert by_file[second]["status"] == "duplicate"
    assert by_file["broken.pdf"]["status"] == "failed" and by_file["broken.pdf"]["error"]
    assert by_file["notes.md"]["owner"] == "alice"


async def test_copies_survive_chainlit_deleting_its_files_and_are_removed_after(tmp_path):
    chainlit_files = tmp_path / ".files" / "session"
    chainlit_files.mkdir(parents=True)
    original = write(chainlit_files, "3f2a9c", "hello")
    async with chainlit_session():
        message = user_message("", [original])
        message.elements[0].name = "greeting.txt"
        copies, folder = await uploads.copy_uploads(message, tmp_path / "uploads")
    original.unlink()  # Chainlit ends the session and clears .files
    assert [(c.name, c.path.read_text(), c.path.suffix) for c in copies] == [
        ("greeting.txt", "hello", ".txt")]
    assert folder.parent == tmp_path / "uploads"
    uploads.remove_copies(folder)
    assert not folder.exists()


def test_unique_names_and_summaries_in_plain_words():
    from rag.models import IndexReport

    assert uploads.unique_names(["a.pdf", "a.pdf", "b", "b"]) == ["a.pdf", "a (2).pdf", "b",
                                                                  "b (2)"]
    failed = IndexReport(path="x", filename="x.pdf", doc_id=None, status="failed", chunks=0,
                         error="x.pdf is encrypted: remove the password and upload it again.",
                         seconds=0.1)
    assert uploads.summary_text(failed) == ("Could not index this file. x.pdf is encrypted: "
                                            "remove the password and upload it again.")
