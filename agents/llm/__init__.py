"""agents.llm: one async router over OpenAI, Anthropic, Gemini, a local model and an
extractive fallback. See ``router.LLMRouter``; its settings (every variable) are in
``settings``, the data shapes it exchanges in ``types``."""

from agents.llm.errors import (
    AllProvidersFailedError,
    AuthenticationError,
    BadRequestError,
    LLMError,
)
from agents.llm.router import TASKS, LLMRouter
from agents.llm.settings import LLMSettings
from agents.llm.types import Completion, Message, Passage, Role, StreamEvent, Usage

__all__ = [
    "TASKS",
    "AllProvidersFailedError",
    "AuthenticationError",
    "BadRequestError",
    "Completion",
    "LLMError",
    "LLMRouter",
    "LLMSettings",
    "Message",
    "Passage",
    "Role",
    "StreamEvent",
    "Usage",
]
