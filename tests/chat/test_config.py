"""AppSettings: defaults, environment, .env."""

from __future__ import annotations

from pathlib import Path

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


def test_every_package_reads_data_dir_and_upload_limit_from_dotenv(tmp_path, monkeypatch):
    """One configuration root: .env is honoured by the chat, rag and LLM settings alike."""
    from agents.llm.install import model_path
    from agents.llm.settings import LLMSettings
    from docchat.settings import data_dir
    from rag.config import RagSettings

    for var in ("DOCCHAT_DATA_DIR", "DOCCHAT_UPLOAD_MAX_MB", "DOCCHAT_LLM_LOCAL_MODEL_PATH",
                "DOCCHAT_LLM_SETTINGS_FILE", "DOCCHAT_LLM_TIMEOUT_S"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DOCCHAT_DATA_DIR=from-dotenv\nDOCCHAT_UPLOAD_MAX_MB=3\n"
                                   "DOCCHAT_LLM_TIMEOUT_S=7\n")
    chat, rag, llm = AppSettings(), RagSettings(), LLMSettings()
    assert chat.data_dir == rag.data_dir == llm.data_dir == data_dir() == Path("from-dotenv")
    assert model_path().parent == Path("from-dotenv") / "models"
    assert llm.resolved_local_model_path().parent == Path("from-dotenv") / "models"
    assert chat.upload_max_bytes == rag.upload_max_bytes == 3 * 1024 * 1024
    assert llm.timeout_s == 7.0


def test_chainlit_upload_limit_follows_docchat_upload_max_mb(monkeypatch, caplog):
    from chainlit.config import config as chainlit_config

    from chat.config import align_chainlit_upload_limit

    upload = chainlit_config.features.spontaneous_file_upload
    monkeypatch.setattr(upload, "max_size_mb", 50)
    assert align_chainlit_upload_limit(AppSettings(upload_max_mb=50)) == 50
    assert not caplog.records
    assert align_chainlit_upload_limit(AppSettings(upload_max_mb=2.5)) == 3
    assert upload.max_size_mb == 3
    assert "disagrees with DOCCHAT_UPLOAD_MAX_MB" in caplog.text
