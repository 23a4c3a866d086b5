"""Ordered step time stamps without blocking the event loop.

Chainlit 2.12's ``Step.__init__`` and ``Message.__init__`` call ``time.sleep(0.001)``
on the event loop before stamping ``created_at`` (``chainlit.utils.utc_now``): the
pause makes the time stamps of steps created one after another differ, so that the UI
and the data layer, which order steps by ``createdAt``, keep their order. Each answer
creates several (a step per flow node, the details step, the reply), each blocking the
loop, and on a busy host each sleep also gives the core away: the thread has to wait in
the run queue to get it back. In the scaled-out load bench (``scripts/bench_load.py
--instances 2 --worker``) py-spy found the loop thread inside those two sleeps in 2.9%
of its samples, about a tenth of its non-idle ones (README, "The app under load").

:func:`install` keeps the ordering and drops the pause: the two modules get a clock
that never repeats or goes back (each stamp at least ``STEP_MS`` after the previous
one, otherwise the wall clock) and a ``time`` whose ``sleep`` does nothing.
Everything else of ``time`` is the real module. Within a burst of more than 1,000
steps a second the stamps run ahead of the wall clock by the excess (the original
paid for the same guarantee by holding the loop that long).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

#: the smallest gap between two stamps: what the JavaScript client resolves (ms)
STEP_MS = 1.0

_lock = threading.Lock()
_last: list[datetime | None] = [None]


def ordered_utc_now() -> str:
    """The current UTC time as Chainlit writes it (``2026-12-01T12:00:00.123456Z``),
    strictly later than every earlier result, by at least ``STEP_MS``. Thread-safe."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with _lock:
        last = _last[0]
        if last is not None and now < last + timedelta(milliseconds=STEP_MS):
            now = last + timedelta(milliseconds=STEP_MS)
        _last[0] = now
    return now.isoformat() + "Z"


class _TimeWithoutSleep:
    """``time`` as Chainlit's step and message modules see it: ``sleep`` is a no-op."""

    @staticmethod
    def sleep(_seconds: float) -> None:
        """Do not block (the ordering it bought comes from :func:`ordered_utc_now`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def install() -> None:
    """Give ``chainlit.step`` and ``chainlit.message`` the ordered clock and a ``time``
    without ``sleep`` (idempotent). Raises AttributeError when a Chainlit release no
    longer has the names this replaces (then re-check whether it still sleeps)."""
    import importlib

    # by module path: ``chainlit.step`` as an attribute is the ``@step`` decorator
    for module in map(importlib.import_module, ("chainlit.step", "chainlit.message")):
        for name in ("time", "utc_now"):
            if not hasattr(module, name):
                raise AttributeError(f"{module.__name__}.{name} is gone: re-check step_clock")
        setattr(module, "time", _TimeWithoutSleep())  # noqa: B010 - a module attribute
        setattr(module, "utc_now", ordered_utc_now)  # noqa: B010
