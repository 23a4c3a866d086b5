"""Personal API keys: created from the command line, checked on every API request.

A key is ``dck_<id>_<secret>``: ``id`` (12 hex digits) names it in listings and
``revoke``; ``secret`` is 32 random bytes (``secrets.token_urlsafe``). Only the SHA-256
digest of the whole key is stored (table ``api_keys``, migration 0004): with 256 bits
of entropy there is no dictionary to attack, so a fast hash is safe and lets a request
find its key by digest in one indexed lookup. The key is shown once, at creation.

A key acts as its user. It stops working when revoked or when its user is removed:
it is bound to the user's Chainlit ``users.id`` (the lookup joins that table), so a
later user given the same name does not inherit it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.persistence.data_rows import utc_timestamp

PREFIX = "dck_"
MAX_NAME_CHARS = 64


class ApiKeyError(ValueError):
    """A key operation was refused (unknown user, unknown key, bad name)."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """A stored key (never its secret).

    Attributes:
        id: public key id (12 hex digits).
        name: what the owner called it.
        user: the Chainlit identifier the key acts as.
        created_at / last_used_at / revoked_at: ISO 8601 UTC, the last two None if never.
    """

    id: str
    name: str
    user: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


def digest(key: str) -> str:
    """Hex SHA-256 of a key (what is stored and looked up)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def looks_like_key(token: str) -> bool:
    """True when a bearer token has the API key shape (else it may be a login JWT)."""
    return token.startswith(PREFIX) and token.count("_") >= 2


class ApiKeyStore:
    """Create, list, revoke and verify API keys over an AsyncEngine (SQLite or PostgreSQL).

    Raises (every method): sqlalchemy.exc.SQLAlchemyError when the database fails.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, name: str, user: str) -> tuple[str, ApiKeyInfo]:
        """A new key for ``user``; returns ``(key, info)``: the key is not stored.

        Raises:
            ApiKeyError: empty or over-long name, or no such user.
        """
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise ApiKeyError(f"a key name needs 1-{MAX_NAME_CHARS} characters")
        async with self.engine.begin() as conn:
            found = (await conn.execute(
                text('SELECT "id" FROM users WHERE "identifier" = :u'), {"u": user})).first()
            if found is None:
                raise ApiKeyError(f"no user {user!r}: create it with `python -m chat users add`")
            key_id = secrets.token_hex(6)
            key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            now = utc_timestamp()
            await conn.execute(
                text("INSERT INTO api_keys (id, name, user_identifier, user_id, key_hash, "
                     "created_at) VALUES (:id, :name, :user, :uid, :hash, :now)"),
                {"id": key_id, "name": name, "user": user, "uid": str(found[0]),
                 "hash": digest(key), "now": now})
        return key, ApiKeyInfo(key_id, name, user, now, None, None)

    async def list(self, user: str | None = None) -> list[ApiKeyInfo]:
        """Every key (or ``user``'s), oldest first."""
        sql = ("SELECT id, name, user_identifier, created_at, last_used_at, revoked_at "
               "FROM api_keys")
        params: dict = {}
        if user:
            sql += " WHERE user_identifier = :user"
            params["user"] = user
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(sql + " ORDER BY created_at, id"), params)
            return [ApiKeyInfo(*row) for row in rows]

    async def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key by id (idempotent). Raises ApiKeyError for an unknown id."""
        async with self.engine.begin() as conn:
            await conn.execute(
                text("UPDATE api_keys SET revoked_at = :now "
                     "WHERE id = :id AND revoked_at IS NULL"),
                {"id": key_id, "now": utc_timestamp()})
        found = [k for k in await self.list() if k.id == key_id]
        if not found:
            raise ApiKeyError(f"no API key {key_id!r}: see `python -m chat keys list`")
        return found[0]

    async def verify(self, key: str) -> tuple[str, str, str] | None:
        """``(key id, user identifier, Chainlit user id)`` for a valid key, else None.

        None for unknown or revoked keys and for keys whose user was removed.
        """
        if not looks_like_key(key) or len(key) > 200:
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                text('SELECT k.id, u."identifier", u."id" FROM api_keys k '
                     'JOIN users u ON u."id" = k.user_id '
                     "WHERE k.key_hash = :hash AND k.revoked_at IS NULL"),
                {"hash": digest(key)})).first()
        return (row[0], row[1], str(row[2])) if row else None

    async def touch(self, key_id: str) -> None:
        """Record that a key was just used."""
        async with self.engine.begin() as conn:
            await conn.execute(text("UPDATE api_keys SET last_used_at = :now WHERE id = :id"),
                               {"id": key_id, "now": utc_timestamp()})
