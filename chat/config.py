"""Settings of the chat app: data directory, database, auth secret, uploads, storage.

Read from the environment and a `.env` file in the working directory
(pydantic-settings). Every field names its environment variable; `.env.example`
lists them all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppSettings(BaseSettings):
    """Configuration of the Chainlit app (persistence, auth, storage, uploads).

    Environment variables (all optional):
        DOCCHAT_DATA_DIR: data directory (default ./.docchat): chat.db, files/, auth_secret.
        DATABASE_URL: SQLAlchemy async URL. Default `sqlite+aiosqlite:///<data_dir>/chat.db`;
            `postgresql+asyncpg://user:pass@host:5432/db` switches to PostgreSQL.
        CHAINLIT_AUTH_SECRET: JWT secret; when unset one is generated into
            <data_dir>/auth_secret (mode 0600) and reused.
        DOCCHAT_UPLOAD_MAX_MB: largest accepted upload in MB (default 50).
        DOCCHAT_DEFAULT_K: chunks retrieved per question (default 5).
        DOCCHAT_STORAGE: "local" or "s3"; default "s3" when BUCKET_NAME is set, else "local".
        BUCKET_NAME, APP_AWS_REGION, APP_AWS_ACCESS_KEY, APP_AWS_SECRET_KEY,
            DEV_AWS_ENDPOINT: S3 settings, same names as Chainlit's own.
        DOCCHAT_PUBLIC_BASE_PATH: prefix of file URLs behind a proxy (default
            CHAINLIT_ROOT_PATH or "").
        DOCCHAT_BOOTSTRAP_ADMIN: create `admin` with a random password when no user
            exists (default true).
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        default=Path(".docchat"), validation_alias=AliasChoices("DOCCHAT_DATA_DIR", "data_dir")
    )
    database_url_env: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    auth_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CHAINLIT_AUTH_SECRET", "auth_secret")
    )
    upload_max_mb: float = Field(
        default=50.0, gt=0, validation_alias=AliasChoices("DOCCHAT_UPLOAD_MAX_MB", "upload_max_mb")
    )
    default_k: int = Field(
        default=5, ge=1, le=50, validation_alias=AliasChoices("DOCCHAT_DEFAULT_K", "default_k")
    )
    storage_backend: Literal["local", "s3"] | None = Field(
        default=None, validation_alias=AliasChoices("DOCCHAT_STORAGE", "storage_backend")
    )
    s3_bucket: str | None = Field(
        default=None, validation_alias=AliasChoices("BUCKET_NAME", "s3_bucket")
    )
    s3_region: str | None = Field(
        default=None, validation_alias=AliasChoices("APP_AWS_REGION", "s3_region")
    )
    s3_access_key: str | None = Field(
        default=None, validation_alias=AliasChoices("APP_AWS_ACCESS_KEY", "s3_access_key")
    )
    s3_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("APP_AWS_SECRET_KEY", "s3_secret_key")
    )
    s3_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("DEV_AWS_ENDPOINT", "s3_endpoint")
    )
    public_base_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DOCCHAT_PUBLIC_BASE_PATH", "public_base_path"),
    )
    root_path: str = Field(default="", validation_alias=AliasChoices("CHAINLIT_ROOT_PATH"))
    bootstrap_admin: bool = Field(
        default=True, validation_alias=AliasChoices("DOCCHAT_BOOTSTRAP_ADMIN", "bootstrap_admin")
    )

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

    @property
    def upload_max_bytes(self) -> int:
        """Upload size limit in bytes."""
        return int(self.upload_max_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """The process-wide settings (cached; `get_settings.cache_clear()` re-reads env)."""
    return AppSettings()
