"""One progress view per upload: a single message, updated in place, that stays in sight.

The message (sent right after the user's message, so Chainlit scrolls to it) shows an
overall bar, counts of files, pages and chunks, a time-left estimate from the rate
measured so far, and one line per file: queued / reading / chunking / embedding /
saving / indexed / already indexed / failed (with the reason). Once every file is
finished nothing in it says "running".

Overall progress weighs each file by its size in bytes (indexing time grows with it)
and places a file's stages on one scale: reading 0-10 %, chunking 10-15 %, embedding
15-95 % (by batches done), saving 95-100 %. Time left = elapsed x (1 - f) / f once
``f`` >= 3 % and 1.5 s have passed (before that: "estimating...").
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import chainlit as cl

from chat import instance

UPDATE_EVERY_S = 0.3
BAR_CELLS = 20
STATE_WORDS = {"queued": "queued", "load": "reading", "chunk": "chunking",
               "embed": "embedding", "store": "saving", "indexed": "indexed",
               "duplicate": "already indexed", "failed": "failed", "stopped": "stopped"}
FINISHED = frozenset({"indexed", "duplicate", "failed", "stopped"})


@dataclass
class FileProgress:
    """What is known about one file being indexed.

    Attributes:
        name: display name.  size: bytes (the file's weight in the overall bar).
        state: a key of ``STATE_WORDS``.  pages: pages (PDF) or sections read.
        chunks: chunks made.  batches: (done, total) embedding batches.
        seconds: time it took (finished files).  error: why it failed.
    """

    name: str
    size: int = 1
    state: str = "queued"
    pages: int = 0
    pdf: bool = False
    chunks: int = 0
    batches: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    error: str = ""

    @property
    def fraction(self) -> float:
        """How far this file is, 0..1 (see the module docstring)."""
        if self.state in FINISHED:
            return 1.0
        if self.state == "embed" and self.batches[1]:
            return 0.15 + 0.8 * self.batches[0] / self.batches[1]
        return {"queued": 0.0, "load": 0.02 if not self.pages else 0.1, "chunk": 0.15,
                "embed": 0.15, "store": 0.95}.get(self.state, 0.0)

    @property
    def chunks_embedded(self) -> int:
        """Chunks whose embeddings are done (estimated from batches while embedding)."""
        if self.state in ("store", "indexed") or (self.state == "embed" and self.batches[0]
                                                  >= self.batches[1] > 0):
            return self.chunks
        if self.state == "embed" and self.batches[1]:
            return int(self.chunks * self.batches[0] / self.batches[1])
        return 0

    def line(self) -> str:
        """``"**a.pdf**: embedding, 40 of 97 chunks"`` and the like."""
        pages = f"{self.pages} {'pages' if self.pdf else 'sections'}" if self.pages else ""
        words = STATE_WORDS.get(self.state, self.state)
        if self.state == "indexed":
            detail = ", ".join(x for x in [pages, f"{self.chunks} chunks",
                                           f"{self.seconds:.1f} s"] if x)
        elif self.state == "duplicate":
            detail = "the same content was uploaded before, nothing to do"
        elif self.state in ("failed", "stopped"):
            detail = self.error or "unknown error"
        elif self.state == "embed":
            detail = f"{self.chunks_embedded} of {self.chunks} chunks" if self.chunks else ""
        elif self.state in ("chunk", "store"):
            detail = f"{self.chunks} chunks" if self.chunks else pages
        else:
            detail = pages if self.state == "load" else ""
        return f"**{self.name}**: {words}" + (f": {detail}" if detail else "")


def bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """A text progress bar, ``"▓▓▓▓░░░░"``."""
    full = max(0, min(cells, round(fraction * cells)))
    return "▓" * full + "░" * (cells - full)


def time_left(fraction: float, elapsed_s: float) -> str:
    """``"about 20 s left"`` from the measured rate (module docstring), or a placeholder."""
    if fraction >= 1.0:
        return ""
    if fraction < 0.03 or elapsed_s < 1.5:
        return "estimating time left…"
    seconds = elapsed_s * (1.0 - fraction) / fraction
    if seconds < 5:
        return "a few seconds left"
    if seconds < 90:
        return f"about {round(seconds / 5) * 5:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


def render(files: Sequence[FileProgress], elapsed_s: float) -> str:
    """The message's markdown for the files' current state."""
    total_size = sum(max(1, f.size) for f in files) or 1
    fraction = sum(max(1, f.size) * f.fraction for f in files) / total_size
    finished = [f for f in files if f.state in FINISHED]
    n = len(files)
    pages = sum(f.pages for f in files if f.pdf)
    sections = sum(f.pages for f in files if not f.pdf)
    chunks = sum(f.chunks for f in files)
    read = " · ".join(x for x in [f"{pages} pages" if pages else "",
                                  f"{sections} sections" if sections else ""] if x)
    embedded = sum(f.chunks_embedded for f in files)
    if len(finished) == n:
        ok = [f for f in files if f.state in ("indexed", "duplicate")]
        head = (f"**Indexed {len(ok)} of {n} files**" if len(ok) != n else
                f"**Indexed {n} file{'s' if n != 1 else ''}**") + f" · {elapsed_s:.0f} s"
        counts = " · ".join(x for x in [read, f"{chunks} chunks"] if x)
        tail = (f"Ask me anything about {'them' if len(ok) > 1 else 'it'}." if ok else
                "Nothing new was indexed: see the reasons above.")
        lines = [head, f"`{bar(1.0)}` {counts}", "", *[f"- {f.line()}" for f in files],
                 "", tail]
        return "\n".join(lines)
    left = time_left(fraction, elapsed_s)
    head = f"**Indexing {n} file{'s' if n != 1 else ''}** · {fraction:.0%}" + (
        f" · {left}" if left else "")
    counts = " · ".join(x for x in [f"{len(finished)} of {n} files done",
                                    f"{read} read" if read else "",
                                    f"{embedded} of {chunks} chunks embedded"] if x)
    return "\n".join([head, f"`{bar(fraction)}` {counts}", "",
                      *[f"- {f.line()}" for f in files]])


class UploadProgress:
    """The progress message of one upload, fed by ``RagService`` progress events.

    While it runs, the message is journalled (``chat.instance``): a restart marks it
    interrupted.

    Args:
        uploads: ``chat.uploads.Upload`` copies (name, path), in attachment order.
        thread_id: the thread (for the journal).
    """

    def __init__(self, uploads: Sequence[Any], thread_id: str | None = None) -> None:
        self.thread_id = thread_id
        self.files = {u.name: FileProgress(name=u.name, size=_size(u.path),
                                           pdf=u.name.lower().endswith(".pdf"))
                      for u in uploads}
        self.message = cl.Message(content="")
        self.started = time.monotonic()
        self._shown_at = 0.0

    def text(self) -> str:
        """The current markdown."""
        return render(list(self.files.values()), time.monotonic() - self.started)

    async def open(self) -> None:
        """Send the message (every file queued)."""
        self.started = time.monotonic()
        self.message.content = self.text()
        await self.message.send()
        instance.journal_open(self.message.id, self.thread_id,
                              ", ".join(f.name for f in self.files.values()))

    async def on_progress(self, progress: Any) -> None:
        """``RagService`` progress callback: a file's new state shows at once, counters
        within a state at most every 0.3 s."""
        f = self.files.get(progress.filename)
        if f is None or f.state in FINISHED:
            return
        before = f.state
        if progress.stage == "load":
            f.state = "load"
            if progress.done and progress.done >= progress.total:
                f.pages = progress.done
        elif progress.stage == "chunk":
            f.state, f.chunks = "chunk", progress.total
        elif progress.stage == "embed":
            f.state, f.batches = "embed", (progress.done, progress.total)
        elif progress.stage == "store":
            f.state = "store"
            f.chunks = progress.total or f.chunks
        else:
            return  # "done" / "failed" come with the report (finish)
        await self._show(force=f.state != before)  # a new state always shows

    async def finish(self, name: str, report: Any) -> None:
        """A file's report arrived: mark it indexed / already indexed / failed."""
        f = self.files[name]
        f.state = report.status if report.status in FINISHED else "failed"
        f.chunks = report.chunks or f.chunks
        f.seconds = report.seconds or 0.0
        f.error = report.error or ""
        done = all(x.state in FINISHED for x in self.files.values())
        await self._show(force=done)
        if done:
            instance.journal_close(self.message.id)

    async def stop(self) -> None:
        """Indexing was cancelled: the unfinished files say so."""
        for f in self.files.values():
            if f.state not in FINISHED:
                f.state, f.error = "stopped", "cancelled, nothing of this file was kept"
        await self._show(force=True)
        instance.journal_close(self.message.id)

    async def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._shown_at < UPDATE_EVERY_S:
            return
        self._shown_at = now
        self.message.content = self.text()
        await self.message.update()


def _size(path: Any) -> int:
    try:
        return max(1, int(path.stat().st_size))
    except (OSError, AttributeError):
        return 1
