"""Writing an API run into its thread without delaying the stream.

The chat's step renderer (``chat.steps.FlowRenderer``) writes every node as a Chainlit
step; each write costs a database transaction, and done inline they added ~10 ms
before an API client saw the first token (``python -m chat bench-api``). A
:class:`HistoryWriter` feeds the renderer from a queue in a task of its own, in event
order, and holds the writes back until the first answer token has been streamed (at
most ``HOLD_S``): history is written right after the first token, never before it.
Step start/end times may then lag the real ones by up to ``HOLD_S``; the durations
shown come from the flow's own timing and are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

HOLD_S = 0.25


class HistoryWriter:
    """Feeds FlowEvents to ``renderer`` in order, after ``setup`` (thread row, question).

    Create it inside the run's Chainlit context (its task inherits the context).

    Args:
        renderer: the step renderer (an observer).
        setup: awaited once before the first event is rendered.
        hold_s: longest wait for :meth:`release` before writing anyway.
    """

    def __init__(self, renderer: Any, setup: Callable[[], Awaitable[None]],
                 hold_s: float = HOLD_S) -> None:
        self.renderer, self.setup, self.hold_s = renderer, setup, hold_s
        self.queue: asyncio.Queue = asyncio.Queue()
        self.released = asyncio.Event()
        self.task = asyncio.create_task(self._work())

    def put(self, event: Any) -> None:
        """Queue one event for the renderer."""
        self.queue.put_nowait(event)

    def release(self) -> None:
        """Start writing now (the first token is out)."""
        self.released.set()

    async def _work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.released.wait(), self.hold_s)
        await self.setup()
        while (event := await self.queue.get()) is not None:
            await self.renderer(event)

    async def close(self) -> None:
        """Write everything queued and wait until done.

        Raises:
            Whatever the setup or the renderer raised (e.g. the database is down).
        """
        self.release()
        self.queue.put_nowait(None)
        await asyncio.shield(self.task)
