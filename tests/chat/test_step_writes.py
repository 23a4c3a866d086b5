"""Step writes committed in batches (chat.persistence.step_writes) on real SQLite and
PostgreSQL: fewer transactions, the same rows, the same ownership rules, and one bad
write failing alone."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from chainlit.user import User
from sqlalchemy.exc import SQLAlchemyError

from chat.persistence.step_writes import StepWrite
from test_data_layer import step, uid  # tests/chat is on sys.path (rootdir imports)


async def make_user(data_layer, name: str):
    return await data_layer.create_user(User(identifier=f"{name}-{uuid.uuid4().hex[:8]}"))


async def owned_thread(data_layer, owner) -> str:
    thread_id = uid()
    await data_layer.update_thread(thread_id, user_id=owner.id)
    return thread_id


async def test_steps_written_at_once_share_a_few_transactions(data_layer, user):
    """Forty sessions' worth of create + update: every row lands with its last output,
    in far fewer commits than writes (one at a time, each write was its own)."""
    threads = [await owned_thread(data_layer, user) for _ in range(4)]
    ids = [uid() for _ in range(40)]
    before = data_layer.step_writes.batches
    writes = []
    for n, step_id in enumerate(ids):
        thread_id = threads[n % 4]
        writes.append(data_layer.create_step(step(thread_id, step_id, streaming=True)))
        writes.append(data_layer.update_step(step(thread_id, step_id, output=f"answer {n}",
                                                  end="2026-11-22T10:00:02Z")))
    await asyncio.gather(*writes)

    assert data_layer.step_writes.batches - before <= 3
    for n, step_id in enumerate(ids):
        stored = await data_layer.get_step(step_id)
        assert (stored["threadId"], stored["output"], stored["streaming"]) == (
            threads[n % 4], f"answer {n}", False)


async def test_a_batch_keeps_each_writer_to_their_own_threads(data_layer, caplog):
    """In one batch: Mallory's writes into Alice's thread (a new step, and Alice's own
    step by its id) are refused and logged; Alice's write and Mallory's own land."""
    alice, mallory = await make_user(data_layer, "alice"), await make_user(data_layer, "mallory")
    alices, mallorys = await owned_thread(data_layer, alice), await owned_thread(data_layer, mallory)
    kept = uid()
    await data_layer.step_writes.submit(
        StepWrite.from_step(step(alices, kept, output="Alice's answer"), alice.identifier))
    planted, hers, mine = uid(), uid(), uid()
    caplog.set_level(logging.WARNING, logger="chat.persistence.step_writes")
    await asyncio.gather(
        data_layer.step_writes.submit(StepWrite.from_step(
            step(alices, planted, output="planted"), mallory.identifier)),
        data_layer.step_writes.submit(StepWrite.from_step(
            step(alices, kept, output="overwritten"), mallory.identifier)),
        data_layer.step_writes.submit(StepWrite.from_step(
            step(alices, hers, output="Alice again"), alice.identifier)),
        data_layer.step_writes.submit(StepWrite.from_step(
            step(mallorys, mine, output="Mallory's own"), mallory.identifier)),
    )

    assert await data_layer.get_step(planted) is None
    assert (await data_layer.get_step(kept))["output"] == "Alice's answer"
    assert (await data_layer.get_step(hers))["output"] == "Alice again"
    assert (await data_layer.get_step(mine))["output"] == "Mallory's own"
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and all(alices in line for line in refused)


async def test_a_batch_never_moves_a_step_to_another_thread(data_layer, user, caplog):
    first, second = await owned_thread(data_layer, user), await owned_thread(data_layer, user)
    moved = uid()
    await data_layer.create_step(step(first, moved, output="stays here"))
    caplog.set_level(logging.WARNING, logger="chat.persistence.step_writes")
    await asyncio.gather(data_layer.update_step(step(second, moved, output="moved?")),
                         data_layer.create_step(step(second, uid(), output="new")))

    stored = await data_layer.get_step(moved)
    assert (stored["threadId"], stored["output"]) == (first, "stays here")
    assert any("belongs to another thread" in r.getMessage() for r in caplog.records)


async def test_a_new_thread_is_created_once_for_a_batch(data_layer):
    """Steps of a thread that does not exist yet create it (as one at a time did)."""
    thread_id = uid()
    await asyncio.gather(*[data_layer.create_step(step(thread_id, uid(), output=str(n)))
                           for n in range(5)])
    thread = await data_layer.get_thread(thread_id)
    assert sorted(s["output"] for s in thread["steps"]) == ["0", "1", "2", "3", "4"]


async def test_close_commits_the_queued_writes(db_url):
    """Writes Chainlit fired and forgot are committed before the engine closes."""
    from chat.persistence.data_layer import DocChatDataLayer

    layer = DocChatDataLayer(db_url)
    thread_id, ids = uid(), [uid() for _ in range(10)]
    for step_id in ids:
        asyncio.get_running_loop().create_task(layer.create_step(step(thread_id, step_id)))
    await asyncio.sleep(0)  # the tasks queue their writes
    await layer.close()

    reader = DocChatDataLayer(db_url)
    try:
        assert len((await reader.get_thread(thread_id))["steps"]) == 10
    finally:
        await reader.close()


@pytest.fixture
async def pg_data_layer(postgresql_session_url):
    from chat.persistence.data_layer import DocChatDataLayer

    layer = DocChatDataLayer(postgresql_session_url)
    yield layer
    await layer.close()


async def test_a_bad_write_fails_alone_and_its_batch_lands(pg_data_layer):
    """PostgreSQL refuses a NUL character in text: that write's caller gets the error,
    the other writes of its batch are committed one by one."""
    thread_id = uid()
    good = [uid() for _ in range(5)]
    bad = uid()
    results = await asyncio.gather(
        *[pg_data_layer.create_step(step(thread_id, g, output="fine")) for g in good[:3]],
        pg_data_layer.create_step(step(thread_id, bad, output="nul \x00 byte")),
        *[pg_data_layer.create_step(step(thread_id, g, output="fine")) for g in good[3:]],
        return_exceptions=True)

    assert isinstance(results[3], SQLAlchemyError)
    assert [r for n, r in enumerate(results) if n != 3] == [None] * 5
    assert await pg_data_layer.get_step(bad) is None
    assert [(await pg_data_layer.get_step(g))["output"] for g in good] == ["fine"] * 5


async def test_a_database_outage_fails_the_batch_once_not_write_by_write(own_pg_database,
                                                                          pg_execute, caplog):
    """PostgreSQL refusing connections past the retry budget: every queued write's caller
    gets the error after one budget, without a retry per write (20 writes x the budget)."""
    from chat.persistence.data_layer import DocChatDataLayer
    from chat.persistence.db import is_transient

    name, url = own_pg_database
    layer = DocChatDataLayer(url, retry_budget_s=0.5)
    try:
        await asyncio.to_thread(pg_execute, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        caplog.set_level(logging.WARNING, logger="chat.persistence.step_writes")
        thread_id = uid()
        results = await asyncio.gather(
            *[layer.create_step(step(thread_id, uid())) for _ in range(20)],
            return_exceptions=True)
        assert all(is_transient(r) for r in results), results  # connection refused
        assert not any("one by one" in r.getMessage() for r in caplog.records)
        assert layer.step_writes.batches == 0
    finally:
        await asyncio.to_thread(pg_execute, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await layer.close()


async def test_every_step_write_shape_is_one_prepared_statement(pg_data_layer):
    """Writes that set different columns (a child step with input, a streamed output, an
    end time, an update with an empty output) store what each asked for, and PostgreSQL
    prepared one step upsert for all of them: a SQL text per column subset was prepared
    once per subset on each connection (15 texts in the load bench)."""
    thread_id = uid()
    parent, child = uid(), uid()
    await pg_data_layer.create_step(step(thread_id, parent, input="question?"))
    await pg_data_layer.create_step(step(thread_id, child, parentId=parent, type="tool",
                                         streaming=True))
    await pg_data_layer.update_step(step(thread_id, child, parentId=parent, type="tool",
                                         output="partial", isError=True))
    await pg_data_layer.update_step(step(thread_id, child, parentId=parent, type="tool",
                                         output="", end="2026-11-22T10:00:03Z",
                                         metadata={"passages": 5}))
    await pg_data_layer.update_step(step(thread_id, parent, output="answer",
                                         showInput="json"))

    stored = await pg_data_layer.get_step(child)
    assert stored["output"] == "partial"  # the empty output kept the stored one
    assert stored["end"] == "2026-11-22T10:00:03Z" and stored["isError"] is True
    assert stored["metadata"] == {"passages": 5} and stored["parentId"] == parent
    top = await pg_data_layer.get_step(parent)
    assert (top["input"], top["output"], top["showInput"]) == ("question?", "answer", "json")
    prepared = await pg_data_layer.execute_sql(  # the one connection these writes used
        "SELECT statement FROM pg_prepared_statements "
        "WHERE statement LIKE 'INSERT INTO steps%'", {})
    assert len(prepared) == 1, [row["statement"][:120] for row in prepared]
