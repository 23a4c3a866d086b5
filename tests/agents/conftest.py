"""Fixtures for the flow tests: a real rag store with a few documents, an event recorder.

The rag store is real (Chroma on disk in a temp dir, the shipped MiniLM embedder): it is
indexed once per session and opened per test. Only the LLM is scripted
(bench.fake_llm.ScriptedLLM speaks the router's interface).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agents.graph import build_flow
from agents.observer import FlowEvent

# rag is imported inside the fixtures: this conftest also covers tests/agents/llm, which
# must collect without the rag package.

OWNER = "alice"
PUMP_DOC = ("zorblat-9-manual.md", (
    "# Zorblat-9 pump manual\n\n"
    "## Pressure limits\n\n"
    "The Zorblat-9 pump is rated for a maximum operating pressure of 41 bar. Above 41 bar "
    "the relief valve on the left flange opens and the pump stops within two seconds.\n\n"
    "## Maintenance\n\n"
    "Replace the quillon seal of the Zorblat-9 every 900 operating hours. The seal kit "
    "has the part number QS-7731 and ships with two spare O-rings."))
GARDEN_DOC = ("garden-notes.txt", (
    "Tomatoes in the north bed were planted on the fourth of May. They need watering "
    "every second day in July and a stake once they reach forty centimetres.\n\n"
    "The compost heap behind the shed is turned every three weeks; kitchen scraps go in, "
    "citrus peel and meat stay out."))


@pytest.fixture(scope="session")
def rag_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """A data dir whose store holds PUMP_DOC and GARDEN_DOC for owner "alice"."""
    from rag.config import RagSettings
    from rag.models import Scope, TextDocument
    from rag.service import RagService

    data_dir = tmp_path_factory.mktemp("docchat-agents")
    documents = [TextDocument(name=name, text=text) for name, text in (PUMP_DOC, GARDEN_DOC)]

    async def index() -> dict[str, str]:
        service = await RagService.open(RagSettings(data_dir=data_dir))
        try:
            reports = await service.index_texts(documents, Scope(owner=OWNER))
        finally:
            await service.close()
        assert [r.status for r in reports] == ["indexed", "indexed"], reports
        return {r.filename: r.doc_id for r in reports}

    doc_ids = asyncio.run(index())
    return data_dir, doc_ids


@pytest.fixture
async def rag(rag_data_dir):
    """An open RagService on the session's indexed store."""
    from rag.config import RagSettings
    from rag.service import RagService

    service = await RagService.open(RagSettings(data_dir=rag_data_dir[0]))
    yield service
    await service.close()


@pytest.fixture
def doc_ids(rag_data_dir) -> dict[str, str]:
    """File name -> doc_id of the indexed documents."""
    return rag_data_dir[1]


@pytest.fixture
def pump_doc():
    """The pump manual as a rag TextDocument (the only source of its facts)."""
    from rag.models import TextDocument

    return TextDocument(name=PUMP_DOC[0], text=PUMP_DOC[1])


@pytest.fixture
def scope():
    """alice's scope: both documents."""
    from rag.models import Scope

    return Scope(owner=OWNER)


@pytest.fixture
def empty_scope():
    """A user with nothing indexed."""
    from rag.models import Scope

    return Scope(owner="nobody-indexed-anything")


@pytest.fixture
def flow():
    """A fresh flow without waits between retries (2 attempts per node)."""
    return build_flow(max_retries=2, wait=0)


class Recorder:
    """An observer that keeps every event, in order."""

    def __init__(self) -> None:
        self.events: list[FlowEvent] = []

    async def __call__(self, event: FlowEvent) -> None:
        self.events.append(event)

    def of(self, *kinds: str) -> list[FlowEvent]:
        return [e for e in self.events if e.kind in kinds]

    def text(self) -> str:
        """The answer as a UI would show it: tokens, cleared at each stream_reset."""
        shown = ""
        for event in self.of("token", "stream_reset"):
            shown = shown + event.text if event.kind == "token" else ""
        return shown

    def shape(self) -> list[tuple]:
        """(kind, node, action) per event, tokens folded into one row per node."""
        rows: list[tuple] = []
        for e in self.events:
            row = (e.kind, e.node, e.action) if e.kind in ("node_end",) else (e.kind, e.node)
            if e.kind == "token" and rows and rows[-1] == row:
                continue
            rows.append(row)
        return rows


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    yield Recorder()


@pytest.fixture
def new_recorder():
    """The Recorder class, for tests that need many."""
    return Recorder
