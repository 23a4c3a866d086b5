"""API keys on SQLite and PostgreSQL: only a digest stored, revocation, removed users."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from chat.api.auth import Principal, RateLimits
from chat.api.errors import ApiError
from chat.api.keys import ApiKeyError, ApiKeyStore, digest
from chat.persistence.db import create_engine
from chat.persistence.users import UserStore


@pytest.fixture
async def engine(db_url):
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


async def test_key_is_shown_once_stored_as_digest_and_revocable(engine):
    name = f"u{uuid.uuid4().hex[:8]}"
    await UserStore(engine).add(name, "a-long-password")
    store = ApiKeyStore(engine)
    key, info = await store.create("pipeline", name)
    assert key.startswith(f"dck_{info.id}_") and len(key) > 50
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_hash FROM api_keys WHERE id = :id"),
                                     {"id": info.id})).scalar_one()
    assert stored == digest(key) and key not in stored
    found = await store.verify(key)
    assert found is not None and found[:2] == (info.id, name)
    assert await store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert await store.verify("dck_x_y") is None and await store.verify("not a key") is None
    listed = await store.list(name)
    assert [(k.id, k.name, k.revoked_at) for k in listed] == [(info.id, "pipeline", None)]
    revoked = await store.revoke(info.id)
    assert revoked.revoked_at is not None
    assert await store.verify(key) is None
    with pytest.raises(ApiKeyError):
        await store.revoke("000000000000")


async def test_keys_need_a_user_and_die_with_it(engine):
    store = ApiKeyStore(engine)
    with pytest.raises(ApiKeyError, match="no user"):
        await store.create("k", f"ghost-{uuid.uuid4().hex[:6]}")
    name = f"u{uuid.uuid4().hex[:8]}"
    users = UserStore(engine)
    await users.add(name, "a-long-password")
    key, _ = await store.create("k", name)
    assert await store.verify(key) is not None
    await users.remove(name)
    assert await store.verify(key) is None
    await users.add(name, "another-long-password")  # the same name again: a new person
    assert await store.verify(key) is None  # the key was bound to the removed user's id


def test_rate_limits_count_per_key_and_say_when_to_retry():
    limits = RateLimits("3/minute", "2/minute")
    alice, bob = Principal("alice", "1", "k1"), Principal("bob", "2", "k2")
    limits.check(alice, run=True)
    limits.check(alice, run=True)
    with pytest.raises(ApiError) as refused:
        limits.check(alice, run=True)
    assert refused.value.status == 429 and 1 <= int(refused.value.headers["Retry-After"]) <= 60
    limits.check(bob)  # another key has its own count
    with pytest.raises(ApiError):
        limits.check(alice)  # the general limit counted the runs too
