"""Chainlit's steps and messages: ordered time stamps without the 1 ms sleep on the loop."""

from __future__ import annotations

import importlib
import itertools
import time
from datetime import datetime

import pytest
from chainlit.message import Message
from chainlit.step import Step
from test_steps import chainlit_session

from chat import step_clock

N = 40
# by module path: ``chainlit.step`` as an attribute is the ``@step`` decorator
STEP_MODULE, MESSAGE_MODULE = map(importlib.import_module, ("chainlit.step", "chainlit.message"))


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.rstrip("Z"))


def _make_steps() -> tuple[float, list[datetime]]:
    """Create N steps and N messages; (seconds taken, their created_at in order)."""
    t0 = time.perf_counter()
    stamps = []
    for i in range(N):
        stamps.append(_stamp(Step(name=f"s{i}", thread_id="t").created_at))
        message = Message(content=f"m{i}", id=f"m{i}")
        message.created_at = message.created_at or MESSAGE_MODULE.utc_now()
        stamps.append(_stamp(message.created_at))
    return time.perf_counter() - t0, stamps


@pytest.fixture
def restore_chainlit(monkeypatch):
    """Undo install() after the test (the patched names come back)."""
    for module in (STEP_MODULE, MESSAGE_MODULE):
        monkeypatch.setattr(module, "time", module.time)
        monkeypatch.setattr(module, "utc_now", module.utc_now)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Every ``time.sleep`` call of the process, counted (and still slept)."""
    calls: list[float] = []
    real = time.sleep

    def counting(seconds: float) -> None:
        calls.append(seconds)
        real(seconds)

    monkeypatch.setattr(time, "sleep", counting)
    return calls


async def test_chainlit_still_sleeps_on_every_step_without_the_clock(restore_chainlit, sleeps):
    async with chainlit_session():
        took, _ = _make_steps()
    assert took >= 2 * N * 0.001  # the pinned Chainlit's pause (re-check on upgrade)
    assert sleeps.count(0.001) >= 2 * N


async def test_installed_clock_keeps_order_and_does_not_sleep(restore_chainlit, sleeps):
    step_clock.install()
    step_clock.install()  # idempotent
    async with chainlit_session():
        _, stamps = _make_steps()
    assert sleeps == []  # not one sleep on the loop (a count, not a timing)
    gaps = [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= step_clock.STEP_MS  # strictly ordered at the client's resolution
    assert abs((stamps[-1] - datetime.utcnow()).total_seconds()) < 1.0  # still wall time
    assert step_clock._TimeWithoutSleep().monotonic() <= time.monotonic()  # rest is real


def test_ordered_stamps_follow_the_wall_clock_when_calls_are_sparse():
    time.sleep(0.3)  # an earlier burst's lead over the wall clock has passed
    first = _stamp(step_clock.ordered_utc_now())
    time.sleep(0.02)
    second = _stamp(step_clock.ordered_utc_now())
    assert (second - first).total_seconds() >= 0.019
