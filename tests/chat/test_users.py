"""Users, argon2 passwords, login, the first admin and the JWT secret (real databases)."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import sys
import uuid

import pytest

from chat.auth import authenticate, bootstrap_admin, ensure_auth_secret
from chat.config import AppSettings
from chat.persistence.db import upgrade_database
from chat.persistence.users import UserError, UserStore


@pytest.fixture
def store(data_layer) -> UserStore:
    return UserStore(data_layer.engine)


def name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


async def test_add_verify_and_refuse(store):
    alice = name()
    info = await store.add(alice, "correct horse battery")
    assert info.role == "user"
    assert (await store.verify(alice, "correct horse battery")).identifier == alice
    assert await store.verify(alice, "wrong password") is None
    assert await store.verify(name(), "correct horse battery") is None
    with pytest.raises(UserError):
        await store.add(alice, "another password")
    with pytest.raises(UserError):
        await store.add(name(), "short")
    with pytest.raises(UserError):
        await store.add("../admin", "long enough password")


async def test_passwords_are_stored_as_argon2id_hashes(store, data_layer):
    alice = name()
    await store.add(alice, "correct horse battery")
    rows = await data_layer.execute_sql(
        "SELECT password_hash FROM credentials WHERE identifier = :n", {"n": alice}
    )
    digest = rows[0]["password_hash"]
    assert digest.startswith("$argon2id$") and "correct horse" not in digest


async def test_authenticate_returns_a_chainlit_user(store):
    bob = name()
    await store.add(bob, "s3cret-passphrase", role="admin")
    user = await authenticate(bob, "s3cret-passphrase", store=store)
    assert user.identifier == bob
    claims = await store.token_claims(bob)
    assert user.metadata == {"role": "admin", "provider": "credentials",
                             "uid": claims.user_id, "tv": 0}
    assert await authenticate(bob, "nope-nope-nope", store=store) is None
    assert await authenticate("", "", store=store) is None


async def test_change_password_list_and_remove(store, data_layer):
    carol = name()
    await store.add(carol, "first password")
    await store.set_password(carol, "second password")
    assert await store.verify(carol, "first password") is None
    assert await store.verify(carol, "second password") is not None
    assert carol in [u.identifier for u in await store.list()]

    persisted = await data_layer.get_user(carol)
    await data_layer.update_thread("t-" + carol, user_id=persisted.id)
    await store.remove(carol)
    assert carol not in [u.identifier for u in await store.list()]
    assert await data_layer.get_user(carol) is None
    assert await data_layer.get_thread("t-" + carol) is None
    with pytest.raises(UserError):
        await store.remove(carol)


async def test_first_start_creates_admin_once(fresh_db_url):
    from chat.persistence.db import create_engine

    await upgrade_database(fresh_db_url)
    engine = create_engine(fresh_db_url)
    try:
        store, out = UserStore(engine), io.StringIO()
        password = await bootstrap_admin(store, print_to=out)
        assert password and password in out.getvalue() and "admin" in out.getvalue()
        assert (await store.verify("admin", password)).role == "admin"
        again = io.StringIO()
        assert await bootstrap_admin(store, print_to=again) is None
        assert again.getvalue() == ""
    finally:
        await engine.dispose()


def test_auth_secret_is_generated_once_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET", raising=False)
    settings = AppSettings(data_dir=tmp_path)
    first = ensure_auth_secret(settings)
    path = tmp_path / "auth_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.environ["CHAINLIT_AUTH_SECRET"] == first and len(first) >= 32
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET")
    assert ensure_auth_secret(settings) == first

    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "from-the-environment-" + "y" * 20)
    assert ensure_auth_secret(settings).startswith("from-the-environment-")


@pytest.fixture
def users_cli(tmp_path, monkeypatch, capsys):
    """``python -m chat users ...`` in process on the SQLite database of ``tmp_path``:
    ``users_cli(*args, stdin="")`` returns (exit status, stdout, stderr)."""
    from chat.__main__ import main
    from chat.config import get_settings

    monkeypatch.setenv("DOCCHAT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()

    def cli(*args, stdin=""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(["users", *args])
        out = capsys.readouterr()
        return status, out.out, out.err

    yield cli
    get_settings.cache_clear()


def test_cli_users_add_list_remove(users_cli):
    cli = users_cli
    assert cli("add", "dora", "--password-stdin", stdin="a long passphrase\n")[0] == 0
    assert "dora\tuser" in cli("list")[1]
    status, _, err = cli("add", "eve", "--password-stdin", stdin="short\n")
    assert status == 1 and "too short" in err
    assert cli("remove", "dora")[0] == 0
    assert "dora" not in cli("list")[1]
    assert cli("remove", "dora")[0] == 1


# --- documents keyed by the stable user id (issue 9, leak 3) ----------------------------
async def _open_rag(data_dir):
    from rag.config import RagSettings
    from rag.service import RagService, shared_embedder

    return await RagService.open(RagSettings(data_dir=data_dir),
                                 embedder=shared_embedder(RagSettings()))


def _hits(results) -> list:
    return [(h.chunk_id, h.source, h.text, round(h.score, 5)) for h in results]


async def test_start_up_moves_name_keyed_documents_to_user_ids(store, data_layer, tmp_path):
    from chainlit.user import User

    from chat.owners import document_owner, migrate_name_owners
    from rag.models import Scope, TextDocument

    alice, bob = name(), name()
    await store.add(alice, "alice passphrase")
    await store.add(bob, "bob passphrase")
    alice_id = document_owner(await store.user_id(alice))
    bob_id = document_owner(await store.user_id(bob))
    assert alice_id not in (alice, bob_id)
    # an account whose name is alice's id must never receive alice's documents
    await data_layer.create_user(User(identifier=alice_id))
    rag = await _open_rag(tmp_path / "rag")
    try:  # what an older release indexed: keyed by the login name
        await rag.index_texts([TextDocument("vault.txt", "The vault access code is 4411."),
                               TextDocument("tulips.txt", "Alice grows tulips.")],
                              Scope(alice, "t1"))
        await rag.index_texts([TextDocument("bob.txt", "Bob keeps the vault code too.")],
                              Scope(bob))
        before = {who: [_hits(await rag.search(q, Scope(who), k=5, mode=mode))
                        for q in ("vault access code", "tulips") for mode in ("hybrid", "bm25")]
                  for who in (alice, bob)}
        assert await migrate_name_owners(rag, data_layer.engine) == {alice: 2, bob: 1}
        for who, owner in ((alice, alice_id), (bob, bob_id)):
            assert [_hits(await rag.search(q, Scope(owner), k=5, mode=mode))
                    for q in ("vault access code", "tulips")
                    for mode in ("hybrid", "bm25")] == before[who]
            assert await rag.search("vault", Scope(who), k=5) == []
        assert len(await rag.list_documents(Scope(alice_id, "t1"))) == 2
        assert await migrate_name_owners(rag, data_layer.engine) == {}  # idempotent
        assert _hits(await rag.search("vault access code", Scope(alice_id), k=5,
                                      mode="hybrid")) == before[alice][0]
        impostor = document_owner((await data_layer.get_user(alice_id)).id)
        assert await rag.list_documents(Scope(impostor)) == []
    finally:
        await rag.close()


def test_cli_users_remove_deletes_or_transfers_documents_by_user_id(tmp_path, users_cli):
    from chat.config import get_settings
    from rag.models import Scope, TextDocument

    cli = users_cli

    async def user_id(who: str) -> str | None:
        from chat.persistence.db import create_engine

        engine = create_engine(get_settings().database_url)
        try:
            return await UserStore(engine).user_id(who)
        finally:
            await engine.dispose()

    async def index(owner: str, filename: str, body: str) -> None:
        rag = await _open_rag(tmp_path)
        try:
            await rag.index_texts([TextDocument(filename, body)], Scope(owner, "t1"))
        finally:
            await rag.close()

    async def documents(owner: str) -> list[str]:
        rag = await _open_rag(tmp_path)
        try:
            return sorted(d.filename for d in await rag.list_documents(Scope(owner)))
        finally:
            await rag.close()

    for who in ("gus", "hana", "ivy"):
        assert cli("add", who, "--password-stdin", stdin="a long passphrase\n")[0] == 0
    gus, hana, ivy = (asyncio.run(user_id(w)) for w in ("gus", "hana", "ivy"))
    asyncio.run(index(gus, "gus.txt", "Gus keeps the spare key under the mat."))
    asyncio.run(index("gus", "old.txt", "Indexed by an older release, keyed by name."))
    asyncio.run(index(ivy, "ivy.txt", "Ivy's plans for the garden."))
    status, _, err = cli("remove", "gus", "--transfer-to", "nobody")
    assert status == 1 and "nobody" in err
    status, out, _ = cli("remove", "gus", "--transfer-to", "hana")
    assert status == 0 and "2 indexed documents transferred to hana" in out, out
    assert asyncio.run(documents(hana)) == ["gus.txt", "old.txt"]
    assert asyncio.run(documents(gus)) == asyncio.run(documents("gus")) == []
    status, out, _ = cli("remove", "ivy")
    assert status == 0 and "1 indexed documents deleted" in out, out
    assert asyncio.run(documents(ivy)) == []
    assert cli("add", "ivy", "--password-stdin", stdin="a new passphrase\n")[0] == 0
    assert asyncio.run(documents(asyncio.run(user_id("ivy")))) == []


async def test_token_check_on_postgresql_is_one_round_trip(postgresql_session_url, monkeypatch):
    """``token_claims`` runs on every socket event: a read in autocommit, no BEGIN and
    ROLLBACK around it (three round trips before); it still sees a revocation at once."""
    import asyncpg

    from chat.persistence.data_layer import DocChatDataLayer

    sent: list[str] = []
    original = asyncpg.Connection.execute

    async def spy(self, query, *args, **kwargs):  # what SQLAlchemy sends outside statements
        sent.append(query.split()[0].upper().rstrip(";"))
        return await original(self, query, *args, **kwargs)

    layer = DocChatDataLayer(postgresql_session_url)
    try:
        store, alice = UserStore(layer.engine), name()
        await store.add(alice, "correct horse battery")
        before = await store.token_claims(alice)
        await store.token_claims(alice)  # the pooled connection is set up by now
        monkeypatch.setattr(asyncpg.Connection, "execute", spy)
        assert await store.token_claims(alice) == before
        assert sent == []
        monkeypatch.undo()
        await store.revoke_tokens(alice)
        assert (await store.token_claims(alice)).token_version == before.token_version + 1
    finally:
        await layer.close()


async def test_a_request_reads_its_user_and_token_claims_in_one_query(
        data_layer, chainlit_data_layer, monkeypatch):
    """A socket connect and every REST request check the token and load the persisted
    user: one read of the user row with its token version (two before: the claims, then
    Chainlit's get_user). A revoked token or a removed user is still refused."""
    from chainlit.auth.jwt import create_jwt
    from fastapi import HTTPException
    from sqlalchemy import event

    import chat.auth
    from chat.access import verified_user

    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "test-secret-" + "x" * 40)
    monkeypatch.setattr(chat.auth, "_data_layer", data_layer)  # the app's, as when served
    store, alice = UserStore(data_layer.engine), name()
    await store.add(alice, "correct horse battery")
    token = create_jwt(await authenticate(alice, "correct horse battery", store))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(data_layer.engine.sync_engine, "before_cursor_execute", count)
    try:
        user = await verified_user(token)
    finally:
        event.remove(data_layer.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements
    assert (user.identifier, user.id) == (alice, (await store.token_claims(alice)).user_id)
    assert user.metadata["provider"] == "credentials" and user.createdAt

    await store.revoke_tokens(alice)
    with pytest.raises(HTTPException) as refused:
        await verified_user(token)
    assert refused.value.status_code == 401
    fresh = create_jwt(await authenticate(alice, "correct horse battery", store))
    assert (await verified_user(fresh)).identifier == alice
    await store.remove(alice)
    with pytest.raises(HTTPException) as removed:
        await verified_user(fresh)
    assert removed.value.status_code == 401
