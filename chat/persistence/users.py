"""Password users: argon2id hashes in the `credentials` table, Chainlit rows in `users`.

Used by `python -m chat users ...` and by chat.auth.authenticate.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import weakref
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chat.persistence.data_rows import decode_json, encode_json

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
MIN_PASSWORD_CHARS = 8
_hasher = PasswordHasher()  # argon2id, the library's recommended parameters
# A hash to verify against for unknown names, so their timing matches known ones.
_DUMMY_HASH = _hasher.hash("docchat-dummy-password")


class UserError(ValueError):
    """A user operation was refused (bad name, short password, exists, unknown)."""


@dataclass(frozen=True)
class UserInfo:
    """A password user: identifier, role ("admin" or "user"), creation time (ISO UTC);
    from `verify` also the stable user id (the `users` row) and the token version."""

    identifier: str
    role: str
    created_at: str
    user_id: str | None = None
    token_version: int = 0


@dataclass(frozen=True)
class TokenClaims:
    """What a login token must still match: the stable user id and the token version."""

    user_id: str
    token_version: int


@dataclass(frozen=True)
class SessionUser:
    """A user row as Chainlit persists it (``users``: id, identifier, createdAt,
    metadata as a dict) and, for a password user, the claims its token must match
    (None for users of other providers)."""

    id: str
    identifier: str
    created_at: str | None
    metadata: dict
    claims: TokenClaims | None


def _now() -> str:
    from chat.persistence.data_rows import utc_timestamp

    return utc_timestamp()


def validate_name(name: str) -> str:
    """The name if valid (1-64 of letters, digits, ._@+-, starting alnum); raises UserError."""
    if not NAME_PATTERN.match(name or ""):
        raise UserError(f"invalid user name {name!r}: use 1-64 letters, digits, . _ @ + -")
    return name


def validate_password(password: str) -> str:
    """The password if long enough (>= 8 characters); raises UserError."""
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise UserError(f"password too short: at least {MIN_PASSWORD_CHARS} characters")
    return password


async def hash_password(password: str) -> str:
    """argon2id hash of a password (computed in a worker thread, ~50 ms of CPU)."""
    return await asyncio.to_thread(_hasher.hash, password)


#: each engine's autocommit variant, built once: building one per read registers event
#: listeners each time (~4% of a loaded instance's loop samples in a socket burst, py-spy)
_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def _autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` with ``isolation_level="AUTOCOMMIT"``, sharing its pool (cached)."""
    found = _AUTOCOMMIT.get(engine)
    if found is None:
        found = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


class UserStore:
    """CRUD and verification of password users over an AsyncEngine (SQLite or PostgreSQL).

    The schema comes from chat.persistence.db.upgrade_database. Raises SQLAlchemyError on database errors.
    """

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    def _reading(self) -> AsyncConnection:
        """A connection for reads: in autocommit on a server database, so a read is one
        round trip instead of BEGIN, the read, ROLLBACK (``token_claims`` runs on every
        socket event; see chat.persistence.sql_layer.RetryingSQLLayer._run)."""
        if self.engine.dialect.name == "sqlite":
            return self.engine.connect()
        return _autocommit_engine(self.engine).connect()

    async def add(self, name: str, password: str, role: str = "user") -> UserInfo:
        """Create a user with a password. Raises UserError if invalid or already present."""
        validate_name(name)
        validate_password(password)
        digest, now = await hash_password(password), _now()
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                text(
                    "INSERT INTO credentials (identifier, password_hash, role, created_at, "
                    "updated_at) VALUES (:name, :hash, :role, :now, :now) "
                    "ON CONFLICT (identifier) DO NOTHING"
                ),
                {"name": name, "hash": digest, "role": role, "now": now},
            )
            if inserted.rowcount != 1:
                raise UserError(f"user {name!r} already exists")
            await conn.execute(
                text(
                    'INSERT INTO users ("id", "identifier", "metadata", "createdAt") '
                    'VALUES (:id, :name, :metadata, :now) ON CONFLICT ("identifier") DO NOTHING'
                ),
                {
                    "id": str(uuid.uuid4()),
                    "name": name,
                    "now": now,
                    "metadata": encode_json({"role": role, "provider": "credentials"}),
                },
            )
        return UserInfo(name, role, now)

    async def set_password(self, name: str, password: str) -> None:
        """Replace a user's password. Raises UserError for an unknown user or short password."""
        validate_password(password)
        if not await self._store_hash(name, await hash_password(password)):
            raise UserError(f"no user {name!r}")

    async def _store_hash(self, name: str, digest: str, revoke: bool = True) -> bool:
        """Store a new hash; with ``revoke`` raise the token version (every login token
        issued before stops working)."""
        bump = ", token_version = token_version + 1" if revoke else ""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text(
                    f"UPDATE credentials SET password_hash = :h, updated_at = :now{bump} "
                    "WHERE identifier = :name"
                ),
                {"h": digest, "now": _now(), "name": name},
            )
        return result.rowcount == 1

    async def revoke_tokens(self, name: str) -> None:
        """Refuse every login token issued so far to ``name``. Raises UserError if unknown."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text("UPDATE credentials SET token_version = token_version + 1 "
                     "WHERE identifier = :name"), {"name": name})
        if result.rowcount != 1:
            raise UserError(f"no user {name!r}")

    async def token_claims(self, name: str) -> TokenClaims | None:
        """The stable id and token version of a password user, or None when there is no
        such user (removed). One indexed read; called on every request."""
        async with self._reading() as conn:
            row = (await conn.execute(
                text('SELECT u."id", c.token_version FROM credentials c '
                     'JOIN users u ON u."identifier" = c.identifier WHERE c.identifier = :name'),
                {"name": name})).first()
        return TokenClaims(str(row[0]), int(row[1])) if row else None

    async def session_user(self, name: str) -> SessionUser | None:
        """Chainlit's user row of ``name`` with its password login's token claims, or None
        when there is no such user. One indexed read: a socket connect and every REST
        request check the token and load the user, which were two reads (these claims,
        then Chainlit's ``get_user``)."""
        async with self._reading() as conn:
            row = (await conn.execute(
                text('SELECT u."id", u."identifier", u."createdAt", u."metadata", '
                     'c.token_version FROM users u LEFT JOIN credentials c '
                     'ON c.identifier = u."identifier" WHERE u."identifier" = :name'),
                {"name": name})).first()
        if row is None:
            return None
        metadata = decode_json(row[3], {})
        claims = None if row[4] is None else TokenClaims(str(row[0]), int(row[4]))
        return SessionUser(str(row[0]), row[1], row[2], metadata, claims)

    async def user_id(self, name: str) -> str | None:
        """The stable Chainlit ``users.id`` of the user named ``name`` (any provider),
        or None when there is none."""
        async with self._reading() as conn:
            row = (await conn.execute(text('SELECT "id" FROM users WHERE "identifier" = :name'),
                                      {"name": name})).first()
        return str(row[0]) if row else None

    async def remove(self, name: str) -> list[str]:
        """Delete the login, the Chainlit user and their threads (steps, elements cascade).

        Returns: the storage object keys of the removed elements (for the caller to delete).
        Raises: UserError for an unknown user.
        """
        async with self.engine.begin() as conn:
            params = {"name": name}
            keys = await conn.execute(
                text(
                    'SELECT e."objectKey" FROM elements e JOIN threads t ON e."threadId" = t."id" '
                    'WHERE t."userIdentifier" = :name AND e."objectKey" IS NOT NULL'
                ),
                params,
            )
            object_keys = [r[0] for r in keys]
            thread_ids = [
                r[0]
                for r in await conn.execute(
                    text('SELECT "id" FROM threads WHERE "userIdentifier" = :name'), params
                )
            ]
            if thread_ids:
                for table, column in (
                    ("feedbacks", "threadId"),
                    ("elements", "threadId"),
                    ("steps", "threadId"),
                    ("threads", "id"),
                ):
                    stmt = text(f'DELETE FROM {table} WHERE "{column}" IN :ids').bindparams(
                        bindparam("ids", expanding=True)
                    )
                    await conn.execute(stmt, {"ids": thread_ids})
            await conn.execute(text('DELETE FROM users WHERE "identifier" = :name'), params)
            removed = await conn.execute(
                text("DELETE FROM credentials WHERE identifier = :name"), params
            )
        if removed.rowcount != 1:
            raise UserError(f"no user {name!r}")
        return object_keys

    async def list(self) -> list[UserInfo]:
        """Every password user, by name."""
        async with self._reading() as conn:
            result = await conn.execute(
                text("SELECT identifier, role, created_at FROM credentials ORDER BY identifier")
            )
            return [UserInfo(*row) for row in result]

    async def count(self) -> int:
        """Number of password users."""
        async with self._reading() as conn:
            return int((await conn.execute(text("SELECT COUNT(*) FROM credentials"))).scalar_one())

    async def verify(self, name: str, password: str) -> UserInfo | None:
        """The user if the password matches its argon2 hash, else None.

        Unknown names cost one hash verification too (no timing oracle); an outdated
        hash is upgraded in place after a successful login.
        """
        async with self._reading() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT c.identifier, c.role, c.created_at, c.password_hash, u.\"id\", "
                        'c.token_version FROM credentials c LEFT JOIN users u '
                        'ON u."identifier" = c.identifier WHERE c.identifier = :name'
                    ),
                    {"name": name},
                )
            ).first()
        digest = row[3] if row else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, digest, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _hasher.check_needs_rehash(digest):
            await self._store_hash(name, await hash_password(password), revoke=False)
        user_id = str(row[4]) if row[4] is not None else None
        return UserInfo(row[0], row[1], row[2], user_id, int(row[5] or 0))
