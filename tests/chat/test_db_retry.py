"""Retried statements: a first try that succeeds leaves no cyclic garbage; transient
errors are retried with the same waits, log lines and budget as before."""

from __future__ import annotations

import gc
import itertools
import logging
import time

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from chat.persistence import db


def _transient() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection"))




async def test_statements_that_succeed_leave_no_cyclic_garbage(data_layer, user):
    n = 100
    for _ in range(3):  # warm SQLAlchemy's statement caches
        await data_layer.execute_sql("SELECT 1", {})
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            assert await data_layer.execute_sql("SELECT 1 AS one", {}) == [{"one": 1}]
        left = gc.collect()
    finally:
        gc.enable()
    assert left < n  # was ~40 objects per statement: one tenacity AsyncRetrying each

    async def ok():
        return 1

    async def through_tenacity():
        async for attempt in db.retrying():
            with attempt:
                return await ok()

    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            await through_tenacity()
        tenacity_left = gc.collect()
    finally:
        gc.enable()
    assert tenacity_left >= 20 * n  # what the first try no longer builds


async def test_transient_errors_are_retried_with_the_same_waits_and_log(caplog):
    tries: list[float] = []

    async def flaky():
        tries.append(time.monotonic())
        if len(tries) < 3:
            raise _transient()
        return "saved"

    with caplog.at_level(logging.WARNING, logger=db.log.name):
        assert await db.run_retrying(flaky, budget_s=30) == "saved"
    waits = [b - a for a, b in itertools.pairwise(tries)]
    assert len(tries) == 3
    assert 0.45 <= waits[0] < 0.9 and 0.95 <= waits[1] < 1.5  # 0.5 s, then 1 s
    assert [r.getMessage() for r in caplog.records] == [
        "database unavailable (OperationalError), retry 1",
        "database unavailable (OperationalError), retry 2"]


async def test_other_errors_and_a_spent_budget_are_raised():
    calls = []

    async def broken():
        calls.append(1)
        raise ProgrammingError("SELECT x", {}, Exception("no such column"))

    with pytest.raises(ProgrammingError):
        await db.run_retrying(broken)
    assert len(calls) == 1  # not transient: no retry

    started = time.monotonic()

    async def down():
        calls.append(1)
        raise _transient()

    with pytest.raises(OperationalError):
        await db.run_retrying(down, budget_s=1.2)
    took = time.monotonic() - started
    assert 1.2 <= took < 3.5 and len(calls) == 1 + 3  # tries at 0, 0.5 and 1.5 s
