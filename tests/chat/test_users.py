"""Users, argon2 passwords, login, the first admin and the JWT secret (real databases)."""

from __future__ import annotations

import io
import os
import stat
import sys
import uuid

import pytest

from chat.auth import authenticate, bootstrap_admin, ensure_auth_secret
from chat.config import AppSettings
from chat.db import upgrade_database
from chat.users import UserError, UserStore


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
    assert user.metadata == {"role": "admin", "provider": "credentials"}
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
    from chat.db import create_engine

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


def test_cli_users_add_list_remove(tmp_path, monkeypatch, capsys):
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

    try:
        assert cli("add", "dora", "--password-stdin", stdin="a long passphrase\n")[0] == 0
        assert "dora\tuser" in cli("list")[1]
        status, _, err = cli("add", "eve", "--password-stdin", stdin="short\n")
        assert status == 1 and "too short" in err
        assert cli("remove", "dora")[0] == 0
        assert "dora" not in cli("list")[1]
        assert cli("remove", "dora")[0] == 1
    finally:
        get_settings.cache_clear()
