"""Configuration of the LLM router: keys, endpoints, chains per task, retry policy.

Every field is read from (highest priority first): keyword arguments, environment
variables, the TOML settings file, then the defaults below.

Environment variables
---------------------
Provider keys and endpoints (unprefixed, the names the SDKs use):
    OPENAI_API_KEY, OPENAI_BASE_URL          OpenAI (or a proxy of it)
    ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL    Anthropic
    GEMINI_API_KEY (or GOOGLE_API_KEY), GEMINI_BASE_URL   Google Gemini
Everything else takes the prefix ``DOCCHAT_LLM_``:
    DOCCHAT_LLM_COMPAT_BASE_URL   any OpenAI-compatible server (Ollama, vLLM, LM Studio,
                                  llama.cpp server), e.g. http://127.0.0.1:11434/v1;
                                  provider name "compat"
    DOCCHAT_LLM_COMPAT_API_KEY    its key if it needs one (default "no-key")
    DOCCHAT_LLM_COMPAT_MODELS     comma-separated model names it serves (for the picker)
    DOCCHAT_LLM_COMPAT_JSON_MODE  structured output form: "json_object" (default; JSON
                                  mode with the schema attached) or "json_schema"
    DOCCHAT_LLM_CHAIN_ROUTE / _ANSWER / _REVIEW / _TITLE
                                  comma-separated "provider:model" links, tried in order;
                                  "extractive" is appended when missing
    DOCCHAT_LLM_TIMEOUT_S         read timeout of one request, seconds (60)
    DOCCHAT_LLM_CONNECT_TIMEOUT_S connect timeout, seconds (10)
    DOCCHAT_LLM_MAX_RETRIES       retries of one link on 429/5xx/timeout (2)
    DOCCHAT_LLM_BACKOFF_BASE_S    first backoff, doubled each retry, with jitter (0.5)
    DOCCHAT_LLM_BACKOFF_MAX_S     cap of one backoff and of an honoured Retry-After (20)
    DOCCHAT_LLM_TEMPERATURE       sampling temperature where the model accepts one (0.2)
    DOCCHAT_LLM_MAX_TOKENS_ROUTE / _ANSWER / _REVIEW / _TITLE   output caps (300/1024/300/24)
    DOCCHAT_LLM_LOCAL_MODEL_PATH  GGUF file (default <data_dir>/models/<pinned file>)
    DOCCHAT_LLM_LOCAL_THREADS     llama.cpp threads (1: 2 threads collapse on 2 cores)
    DOCCHAT_LLM_LOCAL_N_CTX       llama.cpp context window in tokens (4096)
    DOCCHAT_LLM_SETTINGS_FILE     TOML file with any of these fields (default
                                  ./docchat-llm.toml; a missing file is ignored)
    DOCCHAT_DATA_DIR              the app's data directory (./.docchat)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

LOCAL_MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
LOCAL_MODEL_NAME = "qwen2.5-coder-0.5b-instruct"

_SMALL = [
    "openai:gpt-4.1-nano",
    "anthropic:claude-haiku-4-5",
    "gemini:gemini-2.5-flash-lite",
    f"local:{LOCAL_MODEL_NAME}",
    "extractive",
]
_ANSWER = [
    "openai:gpt-4.1-mini",
    "anthropic:claude-sonnet-4-5",
    "gemini:gemini-2.5-flash",
    f"local:{LOCAL_MODEL_NAME}",
    "extractive",
]

Chain = Annotated[list[str], NoDecode]


def data_dir() -> Path:
    """The app's data directory: env DOCCHAT_DATA_DIR, default ./.docchat."""
    return Path(os.environ.get("DOCCHAT_DATA_DIR", ".docchat"))


def _settings_file() -> Path:
    return Path(os.environ.get("DOCCHAT_LLM_SETTINGS_FILE", "docchat-llm.toml"))


class LLMSettings(BaseSettings):
    """Settings of ``LLMRouter`` (see the module docstring for every variable)."""

    model_config = SettingsConfigDict(
        env_prefix="DOCCHAT_LLM_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    anthropic_api_key: str | None = Field(
        None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key")
    )
    anthropic_base_url: str | None = Field(
        None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "anthropic_base_url")
    )
    gemini_api_key: str | None = Field(
        None,
        validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY", "gemini_api_key"),
    )
    gemini_base_url: str | None = Field(
        None, validation_alias=AliasChoices("GEMINI_BASE_URL", "gemini_base_url")
    )
    compat_base_url: str | None = None
    compat_api_key: str = "no-key"
    compat_models: Chain = Field(default_factory=list)
    compat_json_mode: Literal["json_object", "json_schema"] = "json_object"

    chain_route: Chain = Field(default_factory=lambda: list(_SMALL))
    chain_answer: Chain = Field(default_factory=lambda: list(_ANSWER))
    chain_review: Chain = Field(default_factory=lambda: list(_SMALL))
    chain_title: Chain = Field(default_factory=lambda: list(_SMALL))

    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    max_retries: int = Field(2, ge=0, le=10)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)
    temperature: float = 0.2
    max_tokens_route: int = 300
    max_tokens_answer: int = 1024
    max_tokens_review: int = 300
    max_tokens_title: int = 24

    local_model_path: Path | None = None
    local_threads: int = Field(1, ge=1)
    local_n_ctx: int = Field(4096, ge=512)

    @field_validator("chain_route", "chain_answer", "chain_review", "chain_title",
                     "compat_models", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_settings_file())
        return init_settings, env_settings, toml

    def chain_for(self, task: str) -> list[str]:
        """The configured chain of ``task``; raises ValueError for an unknown task."""
        try:
            return getattr(self, f"chain_{task}")
        except AttributeError:
            raise ValueError(f"unknown task {task!r}") from None

    def max_tokens_for(self, task: str) -> int:
        """The output-token cap of ``task``."""
        return getattr(self, f"max_tokens_{task}", self.max_tokens_answer)

    def resolved_local_model_path(self) -> Path:
        """The GGUF file of the local provider (may not exist)."""
        return self.local_model_path or data_dir() / "models" / LOCAL_MODEL_FILE
