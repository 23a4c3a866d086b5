"""The configuration root: one style of settings class for every package.

Every settings class of the app (``chat.config.AppSettings``, ``rag.config.RagSettings``,
``agents.llm.settings.LLMSettings``) derives from :class:`DocChatSettings`:

- values come from keyword arguments, then environment variables, then a ``.env`` file
  in the working directory (pydantic-settings), then the defaults;
- every field names its environment variable(s) with :func:`env`, so a reader finds a
  variable by grepping its name;
- the settings every package needs are declared once, here: ``data_dir``
  (``DOCCHAT_DATA_DIR``) and the upload limit ``upload_max_mb``
  (``DOCCHAT_UPLOAD_MAX_MB``: the chat refuses larger uploads, the indexer larger files,
  and Chainlit's ``max_size_mb`` is set from it at start-up).

Nothing else reads ``os.environ`` for configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = ".env"


def env(default: Any, *names: str, **constraints: Any) -> Any:
    """A settings field read from the first set environment variable in ``names``.

    Args:
        default: the value when none is set.
        names: environment variable names, then the field's own name (so keyword
            arguments work too), e.g. ``env(50.0, "DOCCHAT_UPLOAD_MAX_MB", "upload_max_mb")``.
        constraints: pydantic ``Field`` constraints (``ge``, ``gt``, ``le``, ...).
    """
    return Field(default=default, validation_alias=AliasChoices(*names), **constraints)


class DocChatSettings(BaseSettings):
    """The base of every settings class: ``.env`` honoured, the shared fields declared once."""

    model_config = SettingsConfigDict(
        env_prefix="", env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    #: Chroma, keyword index, SQLite database, element files, models, auth secret
    data_dir: Path = env(Path(".docchat"), "DOCCHAT_DATA_DIR", "data_dir")
    #: largest accepted upload / indexed file, in MB (1 MB = 1024 * 1024 bytes)
    upload_max_mb: float = env(50.0, "DOCCHAT_UPLOAD_MAX_MB", "upload_max_mb", gt=0)

    @property
    def upload_max_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.upload_max_mb * 1024 * 1024)


def data_dir() -> Path:
    """The app's data directory: DOCCHAT_DATA_DIR from the environment or ``.env``,
    default ``./.docchat``."""
    return DocChatSettings().data_dir
