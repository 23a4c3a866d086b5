"""Configuration of the LLM router: keys, endpoints, chains per task, retry policy.

Every field is read from (highest priority first): keyword arguments, environment
variables, the ``.env`` file, the TOML settings file, then the defaults below. The class
derives from the configuration root ``docchat.settings.DocChatSettings`` (which declares
``data_dir``) and names each field's variable with its ``env`` helper.

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
    DOCCHAT_LLM_LOCAL_THREADS     llama.cpp threads (default from os.sched_getaffinity: 1 on
                                  2 cores, where 2 threads collapse when the other is busy)
    DOCCHAT_LLM_LOCAL_N_CTX       llama.cpp context window in tokens (4096)
    DOCCHAT_LLM_LOCAL_TTFT_TARGET_S  local prompts are trimmed (passages first) so that
                                  prompt processing fits this many seconds at the prompt
                                  speed measured on earlier calls (8)
    DOCCHAT_LLM_LOCAL_PROMPT_BUDGET_TOKENS  a fixed prompt budget instead (unset)
    DOCCHAT_LLM_LOCAL_TIMEOUT_S   no token for this long = a hang: the model process is
                                  killed and restarted (60)
    DOCCHAT_LLM_LOCAL_QUEUE_MAX   requests that may wait for the local model (8)
    DOCCHAT_LLM_LOCAL_QUEUE_TIMEOUT_S  how long one may wait (120)
    DOCCHAT_LLM_LOCAL_START_TIMEOUT_S  how long the model process may take to start (120)
    DOCCHAT_LLM_LOCAL_STATE_DIR   where its state is written for `status` (<data_dir>/run)
    DOCCHAT_LLM_SETTINGS_FILE     TOML file with any of these fields (default
                                  ./docchat-llm.toml; a missing file is ignored)
    DOCCHAT_DATA_DIR              the app's data directory (./.docchat)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)

from docchat.settings import DocChatSettings, data_dir, env

LOCAL_MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
LOCAL_MODEL_NAME = "qwen2.5-coder-0.5b-instruct"

# route, review and title: never the local model by default. On 2 cores each of its calls
# costs seconds, so with only the local model a question costs ONE model call (the answer):
# routing and review use the heuristics of agents/decisions.py (what "extractive" returns),
# titles the question's first words (chat/titles.py).
_SMALL = [
    "openai:gpt-4.1-nano",
    "anthropic:claude-haiku-4-5",
    "gemini:gemini-2.5-flash-lite",
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


class _SettingsFileSetting(DocChatSettings):
    settings_file: Path = env(Path("docchat-llm.toml"), "DOCCHAT_LLM_SETTINGS_FILE",
                              "settings_file")


def _settings_file() -> Path:
    """DOCCHAT_LLM_SETTINGS_FILE (environment or ``.env``), default ./docchat-llm.toml."""
    return _SettingsFileSetting().settings_file


class LLMSettings(DocChatSettings):
    """Settings of ``LLMRouter`` (see the module docstring for every variable)."""

    openai_api_key: str | None = env(None, "OPENAI_API_KEY", "openai_api_key")
    openai_base_url: str | None = env(None, "OPENAI_BASE_URL", "openai_base_url")
    anthropic_api_key: str | None = env(None, "ANTHROPIC_API_KEY", "anthropic_api_key")
    anthropic_base_url: str | None = env(None, "ANTHROPIC_BASE_URL", "anthropic_base_url")
    gemini_api_key: str | None = env(None, "GEMINI_API_KEY", "GOOGLE_API_KEY", "gemini_api_key")
    gemini_base_url: str | None = env(None, "GEMINI_BASE_URL", "gemini_base_url")
    compat_base_url: str | None = env(None, "DOCCHAT_LLM_COMPAT_BASE_URL", "compat_base_url")
    compat_api_key: str = env("no-key", "DOCCHAT_LLM_COMPAT_API_KEY", "compat_api_key")
    compat_models: Chain = env([], "DOCCHAT_LLM_COMPAT_MODELS", "compat_models")
    compat_json_mode: Literal["json_object", "json_schema"] = env(
        "json_object", "DOCCHAT_LLM_COMPAT_JSON_MODE", "compat_json_mode")

    chain_route: Chain = env(_SMALL, "DOCCHAT_LLM_CHAIN_ROUTE", "chain_route")
    chain_answer: Chain = env(_ANSWER, "DOCCHAT_LLM_CHAIN_ANSWER", "chain_answer")
    chain_review: Chain = env(_SMALL, "DOCCHAT_LLM_CHAIN_REVIEW", "chain_review")
    chain_title: Chain = env(_SMALL, "DOCCHAT_LLM_CHAIN_TITLE", "chain_title")

    timeout_s: float = env(60.0, "DOCCHAT_LLM_TIMEOUT_S", "timeout_s")
    connect_timeout_s: float = env(10.0, "DOCCHAT_LLM_CONNECT_TIMEOUT_S", "connect_timeout_s")
    max_retries: int = env(2, "DOCCHAT_LLM_MAX_RETRIES", "max_retries", ge=0, le=10)
    backoff_base_s: float = env(0.5, "DOCCHAT_LLM_BACKOFF_BASE_S", "backoff_base_s", ge=0)
    backoff_max_s: float = env(20.0, "DOCCHAT_LLM_BACKOFF_MAX_S", "backoff_max_s", ge=0)
    temperature: float = env(0.2, "DOCCHAT_LLM_TEMPERATURE", "temperature")
    max_tokens_route: int = env(300, "DOCCHAT_LLM_MAX_TOKENS_ROUTE", "max_tokens_route")
    max_tokens_answer: int = env(1024, "DOCCHAT_LLM_MAX_TOKENS_ANSWER", "max_tokens_answer")
    max_tokens_review: int = env(300, "DOCCHAT_LLM_MAX_TOKENS_REVIEW", "max_tokens_review")
    max_tokens_title: int = env(24, "DOCCHAT_LLM_MAX_TOKENS_TITLE", "max_tokens_title")

    local_model_path: Path | None = env(None, "DOCCHAT_LLM_LOCAL_MODEL_PATH",
                                        "local_model_path")
    local_threads: int | None = env(None, "DOCCHAT_LLM_LOCAL_THREADS", "local_threads", ge=1)
    local_n_ctx: int = env(4096, "DOCCHAT_LLM_LOCAL_N_CTX", "local_n_ctx", ge=512)
    local_ttft_target_s: float = env(8.0, "DOCCHAT_LLM_LOCAL_TTFT_TARGET_S",
                                     "local_ttft_target_s", gt=0)
    local_prompt_budget_tokens: int | None = env(
        None, "DOCCHAT_LLM_LOCAL_PROMPT_BUDGET_TOKENS", "local_prompt_budget_tokens", ge=128)
    local_timeout_s: float = env(60.0, "DOCCHAT_LLM_LOCAL_TIMEOUT_S", "local_timeout_s", gt=0)
    local_queue_max: int = env(8, "DOCCHAT_LLM_LOCAL_QUEUE_MAX", "local_queue_max", ge=0)
    local_queue_timeout_s: float = env(120.0, "DOCCHAT_LLM_LOCAL_QUEUE_TIMEOUT_S",
                                       "local_queue_timeout_s", gt=0)
    local_start_timeout_s: float = env(120.0, "DOCCHAT_LLM_LOCAL_START_TIMEOUT_S",
                                       "local_start_timeout_s", gt=0)
    local_state_dir: Path | None = env(None, "DOCCHAT_LLM_LOCAL_STATE_DIR", "local_state_dir")

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
        return init_settings, env_settings, dotenv_settings, toml

    def chain_for(self, task: str) -> list[str]:
        """The configured chain of ``task``; raises ValueError for an unknown task."""
        try:
            chain: list[str] = getattr(self, f"chain_{task}")
        except AttributeError:
            raise ValueError(f"unknown task {task!r}") from None
        return chain

    def max_tokens_for(self, task: str) -> int:
        """The output-token cap of ``task``."""
        return getattr(self, f"max_tokens_{task}", self.max_tokens_answer)

    def resolved_local_model_path(self) -> Path:
        """The GGUF file of the local provider (may not exist)."""
        return self.local_model_path or self.data_dir / "models" / LOCAL_MODEL_FILE


def variables() -> tuple[str, ...]:
    """Every environment variable ``LLMSettings`` reads (upper case, as documented): the
    providers' unprefixed keys and endpoints and the ``DOCCHAT_LLM_*`` settings, derived
    from the fields' aliases. pydantic-settings matches them case-insensitively, so a
    caller that must keep them out of a process compares upper-cased names."""
    def aliases(cls: type[BaseSettings]) -> list[str]:
        return [c for info in cls.model_fields.values()
                for c in getattr(info.validation_alias, "choices", [])
                if isinstance(c, str) and c.isupper()]

    shared = set(aliases(DocChatSettings))  # DOCCHAT_DATA_DIR, ...: not the router's
    names = aliases(LLMSettings) + aliases(_SettingsFileSetting)
    return tuple(n for n in dict.fromkeys(names) if n not in shared)


__all__ = ["LOCAL_MODEL_FILE", "LOCAL_MODEL_NAME", "LLMSettings", "data_dir", "variables"]
