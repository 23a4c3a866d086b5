"""Chunks the keyword-index tests of both backends (SQLite FTS5, PostgreSQL) index."""

from __future__ import annotations

from rag.chunking import Chunk


def chunk(cid: str, text: str, owner: str = "u", thread: str = "", doc: str = "d",
          context: str = "") -> Chunk:
    """A chunk of document ``doc`` whose index is the last digit of ``cid``."""
    return Chunk(cid, text, {"owner": owner, "thread_id": thread, "doc_id": doc,
                             "chunk_index": int(cid[-1]), "source": f"{doc}.txt"},
                 context=context)


def sample_chunks() -> list[Chunk]:
    """Three chunks of user "u" (two about running), one of another user, one in a thread."""
    return [
        chunk("a0", "Running shoes for running marathons and running trails"),
        chunk("a1", "A shoe shop sells one running shoe"),
        chunk("a2", "Cooking pasta with garlic"),
        chunk("b0", "running secrets of another user", owner="other"),
        chunk("c0", "running in thread one", thread="t1", doc="e"),
    ]
