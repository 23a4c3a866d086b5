"""Helpers of structured calls: the JSON instruction, JSON extraction, the repair turn."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agents.llm.errors import InvalidOutputError

__all__ = ["InvalidOutputError", "extract_json", "repair_messages", "schema_of", "validate",
           "with_instruction"]
from agents.llm.types import Message

M = TypeVar("M", bound=BaseModel)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def schema_of(model: type[BaseModel]) -> tuple[dict[str, Any], str]:
    """The JSON Schema of ``model`` and a name for it (letters, digits, _ and -)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64] or "output"
    return model.model_json_schema(), name


def with_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    """Prepend a system message asking for one JSON object matching ``schema``."""
    text = (
        "Reply with one JSON object only, no prose and no code fence, matching this "
        f"JSON Schema:\n{json.dumps(schema, separators=(',', ':'))}"
    )
    return [Message("system", text), *messages]


def extract_json(raw: str) -> str:
    """The JSON object inside ``raw`` (drops code fences and text around the braces)."""
    fenced = _FENCE.search(raw)
    text = fenced.group(1) if fenced else raw
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text.strip()


def validate(model: type[M], raw: str, link: str) -> M:
    """Parse ``raw`` as ``model``.

    Raises:
        InvalidOutputError: with the validation errors, when it does not match.
    """
    try:
        return model.model_validate_json(extract_json(raw))
    except ValidationError as exc:
        raise InvalidOutputError(_short(exc), provider=link) from exc


def repair_messages(messages: list[Message], raw: str, error: InvalidOutputError
                    ) -> list[Message]:
    """The conversation for the one repair attempt: the bad output and what was wrong."""
    return [
        *messages,
        Message("assistant", raw),
        Message(
            "user",
            f"That output is invalid: {error.message}. Reply again with only the "
            "corrected JSON object matching the schema.",
        ),
    ]


def _short(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(x) for x in err['loc']) or 'value'}: {err['msg']}"
        for err in exc.errors()[:5]
    ]
    return "; ".join(parts)
