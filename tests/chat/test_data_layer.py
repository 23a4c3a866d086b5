"""DocChatDataLayer on real SQLite and PostgreSQL: what Chainlit 2.12 loses comes back."""

from __future__ import annotations

import asyncio
import logging
import uuid

import chainlit as cl
import pytest
from chainlit.context import init_http_context
from chainlit.types import Feedback, Pagination, ThreadFilter
from sqlalchemy.exc import SQLAlchemyError


def uid(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


async def settle() -> None:
    """Wait for the persistence tasks Chainlit starts with asyncio.create_task."""
    for _ in range(50):
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


def step(thread_id: str, step_id: str, **fields) -> dict:
    base = {
        "id": step_id,
        "threadId": thread_id,
        "name": "Answer",
        "type": "llm",
        "streaming": False,
        "metadata": {},
        "input": "",
        "output": "",
        "createdAt": "2026-11-22T10:00:00.000000Z",
    }
    return {**base, **fields}


async def test_a_conversation_comes_back_with_every_step_and_output(chainlit_data_layer, user):
    """Real Chainlit Message/Step objects; create and update tasks race as in the app."""
    thread_id = uid()
    init_http_context(thread_id=thread_id, user=user)
    await cl.Message(
        content="What does the report say about churn?", author="User", type="user_message"
    ).send()
    async with cl.Step(name="Supervisor", type="run") as run:
        run.input = "route the question"
        async with cl.Step(name="Retrieve", type="retrieval") as retrieve:
            retrieve.input = "churn"
            retrieve.output = "3 chunks from report.pdf"
        run.output = "retrieve"
    answer = cl.Message(content="")
    for token in ["Churn ", "fell ", "to 4% [1]."]:
        await answer.stream_token(token)
    await answer.send()
    await settle()

    thread = await chainlit_data_layer.get_thread(thread_id)
    by_name = {s["name"]: s for s in thread["steps"]}
    assert thread["userIdentifier"] == user.identifier
    assert by_name["User"]["output"] == "What does the report say about churn?"
    assert by_name["Supervisor"]["output"] == "retrieve"
    assert by_name["Retrieve"]["output"] == "3 chunks from report.pdf"
    assert by_name["Retrieve"]["parentId"] == run.id
    assert by_name["Retrieve"]["type"] == "retrieval"
    assert by_name["Retrieve"]["end"] is not None
    assert by_name[answer.author]["output"] == "Churn fell to 4% [1]."
    assert by_name[answer.author]["streaming"] is False
    assert len(thread["steps"]) == 4


@pytest.mark.parametrize("update_first", [False, True])
async def test_create_and_update_racing_never_lose_the_output(data_layer, user, update_first):
    """Chainlit issue 2789: an empty create landing after the update must not blank it."""
    thread_id, step_id = uid(), uid()
    await data_layer.update_thread(thread_id, user_id=user.id)
    created = step(thread_id, step_id, streaming=True)
    updated = step(thread_id, step_id, output="the final answer", end="2026-11-22T10:00:02Z")
    calls = [data_layer.create_step(created), data_layer.update_step(updated)]
    if update_first:
        calls.reverse()
    tasks = [asyncio.create_task(c) for c in calls]
    await asyncio.gather(*tasks)

    stored = (await data_layer.get_thread(thread_id))["steps"]
    assert [s["output"] for s in stored] == ["the final answer"]
    assert stored[0]["end"] == "2026-11-22T10:00:02Z"


async def test_many_concurrent_updates_of_one_step_keep_the_last_output(data_layer, user):
    thread_id, step_id = uid(), uid()
    await data_layer.update_thread(thread_id, user_id=user.id)
    outputs = [f"partial {i}" for i in range(20)]
    await asyncio.gather(
        *[data_layer.update_step(step(thread_id, step_id, output=o)) for o in outputs]
    )
    assert (await data_layer.get_step(step_id))["output"] == "partial 19"


async def test_new_columns_round_trip(data_layer, user):
    thread_id, step_id = uid(), uid()
    await data_layer.update_thread(thread_id, user_id=user.id)
    await data_layer.create_step(
        step(
            thread_id,
            step_id,
            command="search",
            modes={"model": "openai:gpt-4.1-mini"},
            defaultOpen=True,
            autoCollapse=False,
            showInput="json",
            input='{"q": 1}',
            tags=["flow", "answer"],
            generation={"provider": "openai"},
            metadata={"duration_ms": 12.5},
        )
    )
    got = await data_layer.get_step(step_id)
    assert got["command"] == "search"
    assert got["modes"] == {"model": "openai:gpt-4.1-mini"}
    assert got["defaultOpen"] is True and got["autoCollapse"] is False
    assert got["tags"] == ["flow", "answer"]
    assert got["generation"] == {"provider": "openai"}
    assert got["metadata"] == {"duration_ms": 12.5}
    assert got["input"] == '{"q": 1}'


async def test_thread_tags_and_metadata_round_trip(data_layer, user):
    thread_id = uid()
    memory = {"turns": [{"role": "user", "content": "hi"}], "summary": "ünïcode"}
    await data_layer.update_thread(
        thread_id,
        name="Churn",
        user_id=user.id,
        tags=["a", "b"],
        metadata={"memory": memory, "scope": "thread"},
    )
    await data_layer.update_thread(thread_id, metadata={"chat_settings": {"k": 7}})
    await data_layer.update_thread(thread_id, metadata={"scope": None})

    thread = await data_layer.get_thread(thread_id)
    assert thread["tags"] == ["a", "b"]
    assert thread["name"] == "Churn"
    assert thread["metadata"] == {"memory": memory, "chat_settings": {"k": 7}}
    listed = await data_layer.list_threads(Pagination(first=5), ThreadFilter(userId=user.id))
    assert listed.data[0]["metadata"]["memory"] == memory


async def test_concurrent_metadata_updates_are_all_kept(data_layer, user):
    thread_id = uid()
    await data_layer.update_thread(thread_id, user_id=user.id)
    await asyncio.gather(
        *[data_layer.update_thread(thread_id, metadata={f"k{i}": i}) for i in range(10)]
    )
    metadata = (await data_layer.get_thread(thread_id))["metadata"]
    assert {k: metadata[k] for k in metadata if k.startswith("k")} == {
        f"k{i}": i for i in range(10)
    }


async def test_a_thread_named_by_its_first_message_takes_one_statement(data_layer, user):
    """Chainlit's first message of a thread (name and user, no metadata) is one upsert
    once the user's identifier is known (it was three statements: the stored metadata,
    the identifier, the upsert); an existing thread keeps its metadata and creation
    time, and a user's identifier is read once however many threads."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(data_layer.engine.sync_engine, "before_cursor_execute", seen)
    try:
        first, second = uid(), uid()
        await data_layer.update_thread(first, name="first question", user_id=user.id)
        statements.clear()
        await data_layer.update_thread(second, name="second question", user_id=user.id)
        assert statements == ["INSERT"], statements
        await data_layer.update_thread(first, metadata={"is_shared": True, "memory": [1]})
        created = (await data_layer.get_thread(first))["createdAt"]
        statements.clear()
        await data_layer.update_thread(first, name="renamed", user_id=user.id)
        assert statements == ["INSERT"], statements
    finally:
        event.remove(data_layer.engine.sync_engine, "before_cursor_execute", seen)
    thread = await data_layer.get_thread(first)
    assert (thread["name"], thread["userIdentifier"]) == ("renamed", user.identifier)
    assert thread["metadata"] == {"is_shared": True, "memory": [1]}
    assert thread["createdAt"] == created
    fresh = await data_layer.get_thread(second)
    assert (fresh["name"], fresh["userId"], fresh["metadata"]) == (
        "second question", user.id, {})


async def test_a_thread_never_changes_hands(data_layer, user, caplog):
    """Naming a thread with another user (the one-statement path) or writing its metadata
    with another user leaves Alice's thread as it was, and says so in the log."""
    from chainlit.user import User

    mallory = await data_layer.create_user(User(identifier=uid("mallory-")))
    thread_id = uid()
    await data_layer.update_thread(thread_id, name="Alice's", user_id=user.id,
                                   metadata={"memory": [1]})
    with caplog.at_level(logging.WARNING, logger="chat.persistence.data_layer"):
        await data_layer.update_thread(thread_id, name="taken", user_id=mallory.id)
        await data_layer.update_thread(thread_id, user_id=mallory.id,
                                       metadata={"is_shared": True})
    thread = await data_layer.get_thread(thread_id)
    assert (thread["name"], thread["userId"], thread["userIdentifier"]) == (
        "Alice's", user.id, user.identifier)
    assert thread["metadata"] == {"memory": [1]}
    refusals = [r for r in caplog.records if "another user's thread" in r.getMessage()]
    assert len(refusals) == 2
    await data_layer.update_thread(thread_id, name="renamed by Alice", user_id=user.id)
    assert (await data_layer.get_thread(thread_id))["name"] == "renamed by Alice"


async def test_a_stale_session_copy_cannot_reshare_an_unshared_thread(data_layer, user):
    thread_id = uid()
    await data_layer.update_thread(thread_id, user_id=user.id)
    from chat.persistence.data_rows import utc_timestamp

    shared = {"is_shared": True, "shared_at": utc_timestamp()}
    await data_layer.update_thread(thread_id, metadata=shared)
    stale_copy = dict((await data_layer.get_thread(thread_id))["metadata"])
    await data_layer.update_thread(thread_id, metadata={"is_shared": False})
    await data_layer.update_thread(thread_id, metadata={**stale_copy, "memory": {"turns": []}})

    metadata = (await data_layer.get_thread(thread_id))["metadata"]
    assert metadata["is_shared"] is False
    assert metadata["memory"] == {"turns": []}
    assert await data_layer.thread_visibility(thread_id) == (user.identifier, False)

    await data_layer.update_thread(
        thread_id, metadata={"is_shared": True, "shared_at": "2099-01-01T00:00:00Z"}
    )
    assert await data_layer.thread_visibility(thread_id) == (user.identifier, True)


async def _thread_with_output(data_layer, user, name: str, output: str, when: str) -> str:
    thread_id = uid()
    await data_layer.update_thread(thread_id, name=name, user_id=user.id)
    await data_layer.create_step(step(thread_id, uid(), output=output, createdAt=when))
    return thread_id


async def test_list_threads_pages_searches_and_filters(data_layer, user):
    ids = [
        await _thread_with_output(
            data_layer,
            user,
            f"thread {i}",
            f"answer {i} 100%_sure",
            f"2026-11-2{i}T10:00:00.000000Z",
        )
        for i in range(5)
    ]
    newest_first = list(reversed(ids))
    filters = ThreadFilter(userId=user.id)

    page1 = await data_layer.list_threads(Pagination(first=2), filters)
    page2 = await data_layer.list_threads(
        Pagination(first=2, cursor=page1.pageInfo.endCursor), filters
    )
    page3 = await data_layer.list_threads(
        Pagination(first=2, cursor=page2.pageInfo.endCursor), filters
    )
    assert [t["id"] for t in page1.data + page2.data + page3.data] == newest_first
    assert page1.pageInfo.hasNextPage and page2.pageInfo.hasNextPage
    assert not page3.pageInfo.hasNextPage
    assert page1.data[0]["createdAt"] == "2026-11-24T10:00:00.000000Z"

    found = await data_layer.list_threads(
        Pagination(first=10), ThreadFilter(userId=user.id, search="ANSWER 3")
    )
    assert [t["id"] for t in found.data] == [ids[3]]
    by_name = await data_layer.list_threads(
        Pagination(first=10), ThreadFilter(userId=user.id, search="thread 1")
    )
    assert [t["id"] for t in by_name.data] == [ids[1]]
    literal = await data_layer.list_threads(
        Pagination(first=10), ThreadFilter(userId=user.id, search="0%_s")
    )
    assert len(literal.data) == 5
    wildcard = await data_layer.list_threads(
        Pagination(first=10), ThreadFilter(userId=user.id, search="1_0")
    )
    assert wildcard.data == []

    first_step = (await data_layer.get_thread(ids[2]))["steps"][0]
    await data_layer.upsert_feedback(Feedback(forId=first_step["id"], value=1, threadId=ids[2]))
    liked = await data_layer.list_threads(
        Pagination(first=10), ThreadFilter(userId=user.id, feedback=1)
    )
    assert [t["id"] for t in liked.data] == [ids[2]]


async def test_list_threads_shows_only_the_users_threads(data_layer, user):
    from chainlit.user import User

    other = await data_layer.create_user(User(identifier=uid("other-")))
    mine = await _thread_with_output(data_layer, user, "mine", "x", "2026-11-22T10:00:00Z")
    await _thread_with_output(data_layer, other, "theirs", "x", "2026-11-22T11:00:00Z")
    listed = await data_layer.list_threads(Pagination(first=10), ThreadFilter(userId=user.id))
    assert [t["id"] for t in listed.data] == [mine]
    with pytest.raises(ValueError):
        await data_layer.list_threads(Pagination(first=10), ThreadFilter())


async def test_delete_thread_removes_steps_elements_feedback_and_files(
    chainlit_data_layer, user, tmp_path
):
    thread_id = uid()
    init_http_context(thread_id=thread_id, user=user)
    message = cl.Message(
        content="see the chunk",
        elements=[cl.Text(name="[1] report.pdf p.3", content="Churn fell to 4%.")],
    )
    await message.send()
    await settle()
    thread = await chainlit_data_layer.get_thread(thread_id)
    assert len(thread["elements"]) == 1
    key = thread["elements"][0]["objectKey"]
    assert (tmp_path / "files" / key).read_text() == "Churn fell to 4%."
    await chainlit_data_layer.upsert_feedback(
        Feedback(forId=thread["steps"][0]["id"], value=0, threadId=thread_id)
    )

    await chainlit_data_layer.delete_thread(thread_id)
    assert await chainlit_data_layer.get_thread(thread_id) is None
    assert await chainlit_data_layer.get_step(thread["steps"][0]["id"]) is None
    assert await chainlit_data_layer.get_element_by_object_key(key) is None
    assert not (tmp_path / "files" / key).exists()
    assert await chainlit_data_layer.get_thread_author(thread_id) == ""


async def test_element_row_is_kept_without_a_storage_provider(db_url, user):
    from chat.persistence.data_layer import DocChatDataLayer

    layer = DocChatDataLayer(db_url)
    try:
        thread_id = uid()
        await layer.update_thread(thread_id, user_id=user.id)
        element = cl.Image(
            name="chart", url="https://example.org/chart.png", for_id=uid(), thread_id=thread_id
        )
        await layer.create_element(element)
        stored = (await layer.get_thread(thread_id))["elements"]
        assert [(e["name"], e["url"], e["type"]) for e in stored] == [
            ("chart", "https://example.org/chart.png", "image")
        ]
    finally:
        await layer.close()


async def test_element_props_round_trip_and_get_element(data_layer, user):
    thread_id = uid()
    await data_layer.update_thread(thread_id, user_id=user.id)
    element = cl.CustomElement(
        name="Citation", props={"n": 1, "page": 3}, for_id=uid(), thread_id=thread_id
    )
    element.content = '{"n": 1}'
    await data_layer.create_element(element)
    got = await data_layer.get_element(thread_id, element.id)
    assert got["props"] == {"n": 1, "page": 3}
    assert got["url"].startswith("/files/")


async def test_sql_errors_surface(data_layer):
    with pytest.raises(SQLAlchemyError):
        await data_layer.execute_sql("SELECT * FROM no_such_table", {})
    with pytest.raises(SQLAlchemyError):  # NOT NULL: a feedback needs a value
        await data_layer.execute_sql(
            'INSERT INTO feedbacks ("id", "forId") VALUES (:id, :f)', {"id": uid(), "f": "x"}
        )


async def test_writes_to_an_unmigrated_database_raise(fresh_db_url):
    from chat.persistence.data_layer import DocChatDataLayer

    layer = DocChatDataLayer(fresh_db_url)
    try:
        with pytest.raises(SQLAlchemyError):
            await layer.create_step(step(uid(), uid(), output="lost?"))
    finally:
        await layer.close()


async def test_user_upsert_and_metadata(data_layer):
    from chainlit.user import User

    name = uid("u-")
    first, again = await asyncio.gather(
        data_layer.create_user(User(identifier=name, metadata={"role": "user"})),
        data_layer.create_user(User(identifier=name, metadata={"role": "user"})),
    )
    assert first.id == again.id
    updated = await data_layer.create_user(User(identifier=name, metadata={"role": "admin"}))
    assert updated.id == first.id and updated.metadata == {"role": "admin"}


async def test_one_statement_on_postgresql_is_one_round_trip(postgresql_session_url,
                                                              monkeypatch):
    """A lone statement runs in autocommit on PostgreSQL (no BEGIN and COMMIT round trips,
    a third of a loaded instance's loop CPU); its write is committed; several statements
    still share one transaction."""
    import asyncpg
    from chainlit.user import User

    from chat.persistence.data_layer import DocChatDataLayer

    sent: list[str] = []
    original = asyncpg.Connection.execute

    async def spy(self, query, *args, **kwargs):  # what SQLAlchemy sends outside statements
        sent.append(query.split()[0].upper().rstrip(";"))
        return await original(self, query, *args, **kwargs)

    def committed() -> list[str]:
        """``sent`` without a new connection's set-up (SQLAlchemy's BEGIN, ROLLBACK)."""
        out: list[str] = []
        for command in sent:
            if command == "ROLLBACK" and out[-1:] == ["BEGIN"]:
                out.pop()
            else:
                out.append(command)
        return out

    monkeypatch.setattr(asyncpg.Connection, "execute", spy)
    layer, reader = DocChatDataLayer(postgresql_session_url), None
    try:
        assert await layer.execute_sql("SELECT 1 AS one", {}) == [{"one": 1}]
        assert await layer.execute_sql("SELECT 2 AS two", {}) == [{"two": 2}]
        name = uid("u-")
        created = await layer.create_user(User(identifier=name))
        assert committed() == [], sent
        reader = DocChatDataLayer(postgresql_session_url)  # its own connection
        assert (await reader.get_user(name)).id == created.id
        sent.clear()
        await layer._execute_many([("SELECT 1", {}), ("SELECT 2", {})])
        assert committed() == ["BEGIN", "COMMIT"], sent  # all or nothing, as before
    finally:
        await layer.close()
        if reader is not None:
            await reader.close()


async def test_ping(data_layer):
    assert (await data_layer.ping())["database"] in ("sqlite", "postgresql")


async def test_a_server_database_gets_the_configured_pool_sqlite_keeps_its_own(tmp_path):
    """On PostgreSQL the chat's pool is DOCCHAT_DB_POOL_SIZE + _MAX_OVERFLOW (Chainlit's
    default 5 + 10 ran out under the two-instance load bench); nothing connects here."""
    from chat.persistence.data_layer import DocChatDataLayer

    pg = DocChatDataLayer("postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                          pool_size=7, max_overflow=3)
    sqlite = DocChatDataLayer(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        assert (pg.engine.pool.size(), pg.engine.pool._max_overflow) == (7, 3)
        assert pg.async_session.kw["bind"] is pg.engine
        assert sqlite.engine.dialect.name == "sqlite"
    finally:
        await pg.engine.dispose()
        await sqlite.engine.dispose()
