"""Login for the Chainlit app: the JWT secret, the first admin, password checks, start-up.

For app.py / chat.handlers:
    ensure_auth_secret()            # at import: Chainlit checks the secret before start-up
    ctx = await prepare_app()       # in @cl.on_app_startup: migrations, admin bootstrap
    @cl.data_layer -> get_app_data_layer()
    @cl.password_auth_callback -> await authenticate(username, password)
OAuth and header auth stay available through Chainlit's own settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import chainlit as cl
from chainlit.data.storage_clients.base import BaseStorageClient

from chat.config import AppSettings, get_settings
from chat.persistence.data_layer import DocChatDataLayer
from chat.persistence.db import upgrade_database
from chat.persistence.storage import make_storage_client
from chat.persistence.users import UserError, UserStore

log = logging.getLogger(__name__)

ADMIN_NAME = "admin"
SECRET_ENV = "CHAINLIT_AUTH_SECRET"
_data_layer: DocChatDataLayer | None = None


def ensure_auth_secret(settings: AppSettings | None = None) -> str:
    """Make sure CHAINLIT_AUTH_SECRET is set; returns it.

    Order: the environment (or .env through settings), else <data_dir>/auth_secret,
    else a new random secret written there with mode 0600 (created atomically, so
    concurrent starts agree). Sets os.environ so Chainlit signs and checks JWTs with it.
    """
    settings = settings or get_settings()
    secret = os.environ.get(SECRET_ENV) or (
        settings.auth_secret.get_secret_value() if settings.auth_secret else None
    )
    if not secret:
        secret = _read_or_create_secret(settings.auth_secret_file)
    os.environ[SECRET_ENV] = secret
    return secret


def _read_or_create_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if len(secret) < 32:
            raise RuntimeError(f"{path} holds no usable secret: delete it to regenerate") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    log.info("generated a JWT secret in %s", path)
    return secret


def get_app_data_layer(settings: AppSettings | None = None) -> DocChatDataLayer:
    """The process-wide data layer (created on first call; no connection until used)."""
    global _data_layer
    if _data_layer is None:
        settings = settings or get_settings()
        _data_layer = DocChatDataLayer(
            settings.database_url, storage_provider=make_storage_client(settings),
            retry_budget_s=settings.db_retry_s, pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
    return _data_layer


def reset_app_data_layer() -> None:
    """Forget the process-wide data layer (tests; call after closing it)."""
    global _data_layer
    _data_layer = None


def user_store() -> UserStore:
    """The user store on the app data layer's engine."""
    return UserStore(get_app_data_layer().engine)


async def authenticate(
    username: str, password: str, store: UserStore | None = None
) -> cl.User | None:
    """The Chainlit user for a correct name and password, else None (never raises for bad input).

    Returns: cl.User(identifier=name, metadata={"role", "provider": "credentials",
        "uid": stable user id, "tv": token version}); the token carries uid and tv, and
        chat.access refuses it once the user is removed or its version is raised.
    Raises: SQLAlchemyError when the database is down.
    """
    if not username or not password or len(password) > 1024:
        return None
    info = await (store or user_store()).verify(username, password)
    if info is None:
        log.info("login refused for %r", username[:64])
        return None
    return cl.User(
        identifier=info.identifier,
        metadata={"role": info.role, "provider": "credentials", "uid": info.user_id,
                  "tv": info.token_version},
    )


async def bootstrap_admin(store: UserStore, print_to=None) -> str | None:
    """With no password user at all, create `admin` with a random password and print it once.

    Returns: the password when the admin was created, else None.
    """
    if await store.count() > 0:
        return None
    password = secrets.token_urlsafe(15)
    try:
        await store.add(ADMIN_NAME, password, role="admin")
    except UserError:  # another process created it first
        return None
    out = print_to or sys.stderr
    print(
        "\n" + "=" * 64 + f"\nCreated the first user.\n  user:     {ADMIN_NAME}\n"
        f"  password: {password}\nIt is shown only this once. Change it with:\n"
        f"  python -m chat users passwd {ADMIN_NAME} --password-stdin\n" + "=" * 64,
        file=out,
        flush=True,
    )
    return password


@dataclass
class AppContext:
    """What start-up prepared: settings, the data layer, its element storage."""

    settings: AppSettings
    data_layer: DocChatDataLayer
    storage: BaseStorageClient | None


async def prepare_app(settings: AppSettings | None = None) -> AppContext:
    """Start-up: secret, data directory, migrations (in a thread), first admin, the
    database connection pool opened (``DocChatDataLayer.open_pool``).

    Idempotent; call from @cl.on_app_startup. Raises when the database is unreachable.
    """
    settings = settings or get_settings()
    ensure_auth_secret(settings)
    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    await upgrade_database(settings.database_url)
    data_layer = get_app_data_layer(settings)
    if settings.bootstrap_admin:
        await bootstrap_admin(UserStore(data_layer.engine))
    await data_layer.open_pool()
    return AppContext(settings, data_layer, data_layer.storage_provider)
