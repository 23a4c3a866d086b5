"""AppSettings: defaults, environment, .env."""

from __future__ import annotations

from chat.config import AppSettings


def test_defaults(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "DOCCHAT_DATA_DIR", "BUCKET_NAME", "DOCCHAT_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = AppSettings()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / '.docchat' / 'chat.db'}"
    assert (settings.upload_max_mb, settings.default_k, settings.storage) == (50, 5, "local")
    assert settings.files_url_prefix == "/files"


def test_environment_and_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DOCCHAT_DEFAULT_K=8\nBUCKET_NAME=docs\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app@db:5432/chat")
    monkeypatch.setenv("DOCCHAT_UPLOAD_MAX_MB", "2")
    monkeypatch.setenv("CHAINLIT_ROOT_PATH", "/chat")
    settings = AppSettings()
    assert settings.database_url == "postgresql+asyncpg://app@db:5432/chat"
    assert settings.default_k == 8 and settings.storage == "s3"
    assert settings.upload_max_bytes == 2 * 1024 * 1024
    assert settings.files_url_prefix == "/chat/files"
