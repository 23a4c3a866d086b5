"""Uploads: copied out of Chainlit's temporary folder at once, indexed under one progress
message updated in place (overall bar, time left, each file's state); a bad file never
stops the others."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from test_handlers import chat_app, reply_of, steps_named, user_message  # noqa: F401
from test_steps import chainlit_session, emitted

from chat import uploads
from chat.logging import EVENTS_LOGGER, JsonLineFormatter


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


async def test_good_bad_and_duplicate_files_each_end_in_their_own_summary(chat_app, make_pdf):  # noqa: F811
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
            view = reply_of(session)
            summary = view["output"]
            progress = [p["output"] for e, p in emitted(session, "update_message")
                        if p.get("id") == view["id"]]
            assert not steps_named(session, "Indexing manual.pdf")  # one message, no steps
            chunks = await chat_app.rag.count_chunks(Scope(owner="id-alice",
                                                           thread_id=session.thread_id))
            # the conversation goes on after the bad files
            await chat_app.handlers.on_message(user_message("Who runs the night shift?"))
            answer = reply_of(session)["output"]
    finally:
        logging.getLogger(EVENTS_LOGGER).removeHandler(handler)

    rows = {name: next(x for x in summary.splitlines() if f"**{name}**" in x).removeprefix("- ")
             for name in ("notes.md", "broken.pdf", "notes-copy.md", "empty.txt", "manual.pdf")}
    # notes.md and notes-copy.md hold the same bytes and are indexed concurrently:
    # whichever stores first is indexed, the other is reported as already indexed.
    twins = sorted(rows[n].split(": ")[1] for n in ("notes.md", "notes-copy.md"))
    assert twins == ["already indexed", "indexed"], twins
    first = "notes.md" if ": indexed:" in rows["notes.md"] else "notes-copy.md"
    second = "notes-copy.md" if first == "notes.md" else "notes.md"
    assert rows["manual.pdf"].startswith("**manual.pdf**: indexed: 3 pages, ")
    assert rows["broken.pdf"].startswith("**broken.pdf**: failed: ")
    assert "broken.pdf" in rows["broken.pdf"].split("failed: ", 1)[1]
    assert rows["empty.txt"].startswith("**empty.txt**: failed: ")
    assert summary.startswith("**Indexed 3 of 5 files**")
    assert "Ask me anything about them." in summary
    # live updates of the same message: overall percentage, reading/embedding states
    assert any(p.startswith("**Indexing 5 files** · ") and "%" in p for p in progress), progress
    assert any("manual.pdf**: embedding" in p or "manual.pdf**: reading" in p
               for p in progress), progress
    assert not any("0/1 pages" in p for p in progress)
    assert chunks > 0
    assert "Olga" in answer

    logged = [json.loads(x) for x in lines.getvalue().splitlines()]
    by_file = {x["filename"]: x for x in logged if x["event"] == "index"}
    assert by_file[first]["status"] == "indexed" and by_file[first]["chunks"] > 0
    assert by_file[second]["status"] == "duplicate"
    assert by_file["broken.pdf"]["status"] == "failed" and by_file["broken.pdf"]["error"]
    assert by_file["notes.md"]["owner"] == "id-alice"  # the stable user id


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


def test_unique_names_and_progress_in_plain_words():
    from chat.upload_progress import FileProgress, bar, render, time_left

    assert uploads.unique_names(["a.pdf", "a.pdf", "b", "b"]) == ["a.pdf", "a (2).pdf", "b",
                                                                  "b (2)"]
    failed = FileProgress("x.pdf", state="failed",
                          error="x.pdf is encrypted: remove the password and upload it again.")
    assert failed.line() == ("**x.pdf**: failed: x.pdf is encrypted: remove the password "
                             "and upload it again.")
    big = FileProgress("big.pdf", size=300, state="embed", pdf=True, pages=36, chunks=100,
                       batches=(3, 6))
    small = FileProgress("small.md", size=100)
    text = render([big, small], elapsed_s=10.0)
    # big: 0.15 + 0.8 * 3/6 = 0.55 of 3/4 of the weight -> 41 %; 10 s for 41 % -> ~15 s left
    assert text.startswith("**Indexing 2 files** · 41% · about 15 s left")
    assert "0 of 2 files done · 36 pages read · 50 of 100 chunks embedded" in text
    assert "**big.pdf**: embedding: 50 of 100 chunks" in text
    assert "**small.md**: queued" in text
    assert time_left(0.01, 10.0) == "estimating time left…" and bar(0.5, 4) == "▓▓░░"
    big.state, small.state = "indexed", "indexed"
    done = render([big, small], elapsed_s=20.0)
    assert done.startswith("**Indexed 2 files** · 20 s") and "left" not in done
