"""Settings of the chat app: data directory, database, auth secret, uploads, storage.

Read from the environment and a `.env` file in the working directory
(pydantic-settings, through the configuration root ``docchat.settings``, which also
declares the shared `data_dir` and `upload_max_mb`). Every field names its environment
variable; `.env.example` lists them all.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from docchat.settings import DocChatSettings, env

log = logging.getLogger(__name__)


class AppSettings(DocChatSettings):
    """Configuration of the Chainlit app (persistence, auth, storage, uploads).

    Environment variables (all optional):
        DOCCHAT_DATA_DIR: data directory (default ./.docchat): chat.db, files/, auth_secret.
        DATABASE_URL: SQLAlchemy async URL. Default `sqlite+aiosqlite:///<data_dir>/chat.db`;
            `postgresql+asyncpg://user:pass@host:5432/db` switches to PostgreSQL.
        CHAINLIT_AUTH_SECRET: JWT secret; when unset one is generated into
            <data_dir>/auth_secret (mode 0600) and reused.
        DOCCHAT_UPLOAD_MAX_MB: largest accepted upload in MB (default 50); the indexer
            refuses larger files and Chainlit's `max_size_mb` is set from it at start-up.
        DOCCHAT_DEFAULT_K: chunks retrieved per question (default 5).
        DOCCHAT_STORAGE: "local" or "s3"; default "s3" when BUCKET_NAME is set, else "local".
        BUCKET_NAME, APP_AWS_REGION, APP_AWS_ACCESS_KEY, APP_AWS_SECRET_KEY,
            DEV_AWS_ENDPOINT: S3 settings, same names as Chainlit's own.
        DOCCHAT_PUBLIC_BASE_PATH: prefix of file URLs behind a proxy (default
            CHAINLIT_ROOT_PATH or "").
        DOCCHAT_BOOTSTRAP_ADMIN: create `admin` with a random password when no user
            exists (default true).
        DOCCHAT_MAX_MESSAGE_CHARS: longest chat message accepted (default 20,000
            characters); a longer one gets a reply saying so.
        DOCCHAT_SOCKET_MAX_MB: largest socket.io frame read at all (default 8 MB, over
            engine.io's 1 MB default so that long messages get that reply).
        DOCCHAT_LOOP_PROBE: "1" serves the event-loop lag probe (bench.loop_probe),
            "debug" also dumps the stack of long blocks.
        DOCCHAT_ALLOWED_ORIGINS: comma-separated extra origins (scheme://host:port) that
            may call the API and open sockets with the user's cookie (default: none, same
            origin only).
        DOCCHAT_COOKIE_SECURE: "auto" (Secure when the request came over https, as seen
            by uvicorn, which honours X-Forwarded-Proto from --forwarded-allow-ips),
            "always" (behind a TLS-terminating proxy) or "never" (default auto).
        DOCCHAT_DB_RETRY_S: how long a database write is retried (exponential backoff)
            while the database is unreachable or locked before the turn is reported as
            not saved (default 60).
        DOCCHAT_LOGIN_LIMIT_USER, DOCCHAT_LOGIN_LIMIT_ADDRESS: failed logins allowed per
            user name and per client address, in the `limits` notation (default
            "5/minute" and "20/minute"); past them the login answers 429 with Retry-After.
        DOCCHAT_EXECUTOR_NICE: how much nicer than the event loop's thread its executor
            threads run (embedding, store calls; default 5; 0 keeps Python's executor).
    """

    database_url_env: str | None = env(None, "DATABASE_URL", "database_url")
    auth_secret: SecretStr | None = env(None, "CHAINLIT_AUTH_SECRET", "auth_secret")
    default_k: int = env(5, "DOCCHAT_DEFAULT_K", "default_k", ge=1, le=50)
    storage_backend: Literal["local", "s3"] | None = env(
        None, "DOCCHAT_STORAGE", "storage_backend")
    s3_bucket: str | None = env(None, "BUCKET_NAME", "s3_bucket")
    s3_region: str | None = env(None, "APP_AWS_REGION", "s3_region")
    s3_access_key: str | None = env(None, "APP_AWS_ACCESS_KEY", "s3_access_key")
    s3_secret_key: SecretStr | None = env(None, "APP_AWS_SECRET_KEY", "s3_secret_key")
    s3_endpoint: str | None = env(None, "DEV_AWS_ENDPOINT", "s3_endpoint")
    public_base_path: str | None = env(None, "DOCCHAT_PUBLIC_BASE_PATH", "public_base_path")
    root_path: str = env("", "CHAINLIT_ROOT_PATH")
    bootstrap_admin: bool = env(True, "DOCCHAT_BOOTSTRAP_ADMIN", "bootstrap_admin")
    loop_probe: str = env("", "DOCCHAT_LOOP_PROBE", "loop_probe")
    allowed_origins: str = env("", "DOCCHAT_ALLOWED_ORIGINS", "allowed_origins")
    cookie_secure: Literal["auto", "always", "never"] = env(
        "auto", "DOCCHAT_COOKIE_SECURE", "cookie_secure")
    db_retry_s: float = env(60.0, "DOCCHAT_DB_RETRY_S", "db_retry_s", ge=0)
    #: connections the chat keeps (opened at start-up) / may add on top on PostgreSQL,
    #: per instance; 30 + 0 keeps the ceiling of the former 10 + 20 (README, "The app
    #: under load": connections opened and closed under load cost the loop)
    db_pool_size: int = env(30, "DOCCHAT_DB_POOL_SIZE", "db_pool_size", ge=1)
    db_max_overflow: int = env(0, "DOCCHAT_DB_MAX_OVERFLOW", "db_max_overflow", ge=0)
    login_limit_user: str = env("5/minute", "DOCCHAT_LOGIN_LIMIT_USER", "login_limit_user")
    login_limit_address: str = env(
        "20/minute", "DOCCHAT_LOGIN_LIMIT_ADDRESS", "login_limit_address")

    @property
    def extra_origins(self) -> list[str]:
        """DOCCHAT_ALLOWED_ORIGINS as a list of origins without trailing slashes."""
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    max_message_chars: int = env(20_000, "DOCCHAT_MAX_MESSAGE_CHARS", "max_message_chars",
                                 ge=100)
    socket_max_mb: float = env(8.0, "DOCCHAT_SOCKET_MAX_MB", "socket_max_mb", gt=0)
    #: the event loop's executor threads (embedding, store calls) run this much nicer
    #: than the loop thread, so a waking loop gets a core first (chat/executor.py); 0
    #: leaves Python's default executor
    executor_nice: int = env(5, "DOCCHAT_EXECUTOR_NICE", "executor_nice", ge=0, le=19)

    @property
    def database_url(self) -> str:
        """SQLAlchemy async URL; the SQLite file in the data directory by default."""
        if self.database_url_env:
            return self.database_url_env
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'chat.db'}"

    @property
    def files_dir(self) -> Path:
        """Directory of locally stored chat elements (<data_dir>/files)."""
        return self.data_dir / "files"

    @property
    def auth_secret_file(self) -> Path:
        """File holding the generated JWT secret (<data_dir>/auth_secret)."""
        return self.data_dir / "auth_secret"

    @property
    def storage(self) -> Literal["local", "s3"]:
        """Element storage backend in use: explicit DOCCHAT_STORAGE, else s3 iff a bucket is set."""
        if self.storage_backend:
            return self.storage_backend
        return "s3" if self.s3_bucket else "local"

    @property
    def files_url_prefix(self) -> str:
        """URL path under which local element files are served, e.g. "/files" or "/chat/files"."""
        base = self.root_path if self.public_base_path is None else self.public_base_path
        return base.rstrip("/") + "/files"


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """The process-wide settings (cached; `get_settings.cache_clear()` re-reads env)."""
    return AppSettings()


def align_chainlit_upload_limit(settings: AppSettings | None = None) -> int | None:
    """Make Chainlit's upload limit the app's: ``DOCCHAT_UPLOAD_MAX_MB`` is the one limit.

    Chainlit reads ``[features.spontaneous_file_upload] max_size_mb`` from
    ``.chainlit/config.toml`` and the browser refuses larger files with it; the indexer
    refuses files over ``upload_max_mb``. When the two disagree a warning names both and
    Chainlit's value is set from ours (rounded up to whole MB, its unit), so the browser
    never accepts a file the indexer then refuses, nor refuses one it would accept.

    Returns:
        the ``max_size_mb`` in force, None when file upload is not configured in Chainlit.
    """
    import math

    from chainlit.config import config as chainlit_config

    settings = settings or get_settings()
    upload = chainlit_config.features.spontaneous_file_upload
    if upload is None:
        return None
    wanted = math.ceil(settings.upload_max_mb)
    if upload.max_size_mb != wanted:
        log.warning("max_size_mb = %s in .chainlit/config.toml disagrees with "
                    "DOCCHAT_UPLOAD_MAX_MB = %s: using %s MB (DOCCHAT_UPLOAD_MAX_MB wins)",
                    upload.max_size_mb, settings.upload_max_mb, wanted)
        upload.max_size_mb = wanted
    return wanted
