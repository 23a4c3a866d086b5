"""Settings of the headless API, read from the environment (and `.env`).

Environment variables (all optional):
    DOCCHAT_API_RATE_LIMIT: requests per caller (API key, or user for a login token), in
        the `limits` notation (default "120/minute"; e.g. "10/second;500/hour").
    DOCCHAT_API_RUN_RATE_LIMIT: runs and chat completions per caller (default "30/minute").
    DOCCHAT_API_RATE_LIMIT_STORAGE: where counts live, a `limits` storage URI (default
        "memory://", one count per process; "redis://host:6379" shares it between instances).
    DOCCHAT_API_RUN_TIMEOUT_S: a run's wall-clock limit in seconds (default 300).
    DOCCHAT_API_MAX_BODY_KB: largest JSON request body in KiB (default 256).
    DOCCHAT_API_MAX_QUESTION_CHARS: longest question (default 16000).
    DOCCHAT_API_MAX_FILES: files per upload request (default 20).
    DOCCHAT_API_KEEPALIVE_S: seconds between SSE keep-alive comments (default 15).
File size: DOCCHAT_UPLOAD_MAX_MB (docchat.settings), the same limit as the chat upload.
"""

from __future__ import annotations

from functools import lru_cache

from docchat.settings import DocChatSettings, env


class ApiSettings(DocChatSettings):
    """Limits of the headless API (see the module docstring for the variables)."""

    rate_limit: str = env("120/minute", "DOCCHAT_API_RATE_LIMIT", "rate_limit")
    run_rate_limit: str = env("30/minute", "DOCCHAT_API_RUN_RATE_LIMIT", "run_rate_limit")
    rate_limit_storage: str = env("memory://", "DOCCHAT_API_RATE_LIMIT_STORAGE",
                                  "rate_limit_storage")
    run_timeout_s: float = env(300.0, "DOCCHAT_API_RUN_TIMEOUT_S", "run_timeout_s", gt=0)
    max_body_kb: int = env(256, "DOCCHAT_API_MAX_BODY_KB", "max_body_kb", ge=1)
    max_question_chars: int = env(16000, "DOCCHAT_API_MAX_QUESTION_CHARS",
                                  "max_question_chars", ge=1)
    max_files: int = env(20, "DOCCHAT_API_MAX_FILES", "max_files", ge=1)
    keepalive_s: float = env(15.0, "DOCCHAT_API_KEEPALIVE_S", "keepalive_s", gt=0)

    @property
    def max_body_bytes(self) -> int:
        """JSON body limit in bytes."""
        return self.max_body_kb * 1024


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """The process-wide API settings (cached; ``cache_clear()`` re-reads the environment)."""
    return ApiSettings()
