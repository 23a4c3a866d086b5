"""The three providers' wire formats, as their real APIs send them.

OpenAI chat completions (SSE ``data:`` chunks, ``[DONE]``), Anthropic Messages (named
SSE events message_start … message_stop, tool_use blocks), Gemini
``streamGenerateContent?alt=sse`` and ``generateContent`` (candidates, usageMetadata).
Each ``Wire`` builds ``Reply`` objects for one provider so a test can run unchanged
against all three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llm_wire import Reply


@dataclass(frozen=True)
class Wire:
    name: str            # provider name in the router
    model: str
    stream_path: str     # path suffix of a streaming request
    json_path: str       # path suffix of a structured (non-streaming) request

    @property
    def link(self) -> str:
        return f"{self.name}:{self.model}"

    def stream(self, texts: list[str], usage: tuple[int, int] = (12, 3),
               disconnect_after: int | None = None, delay: float = 0.0) -> Reply:
        events = _STREAMS[self.name](self.model, texts, usage)
        if disconnect_after is not None:
            disconnect_after += _HEAD[self.name]
        return Reply(events=events, disconnect_after=disconnect_after, delay=delay)

    def structured(self, obj: dict[str, Any], usage: tuple[int, int] = (20, 8)) -> Reply:
        return Reply(body=_JSON[self.name](self.model, obj, usage))

    def error(self, status: int, message: str, headers: dict[str, str] | None = None,
              **extra: Any) -> Reply:
        return Reply(status=status, body=_ERRORS[self.name](status, message, **extra),
                     headers=headers or {})


def _openai_stream(model: str, texts: list[str], usage: tuple[int, int]) -> list:
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    events: list = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": t})) for t in texts]
    events.append((None, chunk({}, "stop")))
    events.append((None, {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                          "created": 1, "model": model, "choices": [],
                          "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                    "total_tokens": sum(usage)}}))
    events.append((None, "[DONE]"))
    return events


def _openai_json(model: str, obj: dict, usage: tuple[int, int]) -> dict:
    content = obj if isinstance(obj, str) else json.dumps(obj)
    return {"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage)}}


def _openai_error(status: int, message: str, **extra: Any) -> dict:
    return {"error": {"message": message, "type": extra.get("type", "invalid_request_error"),
                      "param": None, "code": extra.get("code")}}


def _anthropic_stream(model: str, texts: list[str], usage: tuple[int, int]) -> list:
    events: list = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": t}})
               for t in texts]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": usage[1]}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def _anthropic_json(model: str, obj: dict, usage: tuple[int, int]) -> dict:
    return {"id": "msg_2", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Verdict",
                         "input": obj}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


def _anthropic_error(status: int, message: str, **extra: Any) -> dict:
    kinds = {401: "authentication_error", 429: "rate_limit_error", 400:
             "invalid_request_error", 529: "overloaded_error"}
    return {"type": "error", "error": {"type": kinds.get(status, "api_error"),
                                       "message": message}}


def _gemini_chunk(text: str, finish: str | None, usage: tuple[int, int] | None) -> dict:
    cand: dict = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    chunk: dict = {"candidates": [cand], "modelVersion": "gemini-test"}
    if usage:
        chunk["usageMetadata"] = {"promptTokenCount": usage[0],
                                  "candidatesTokenCount": usage[1],
                                  "totalTokenCount": sum(usage)}
    return chunk


def _gemini_stream(model: str, texts: list[str], usage: tuple[int, int]) -> list:
    last = len(texts) - 1
    return [(None, _gemini_chunk(t, "STOP" if i == last else None,
                                 usage if i == last else None))
            for i, t in enumerate(texts)]


def _gemini_json(model: str, obj: dict, usage: tuple[int, int]) -> dict:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return _gemini_chunk(text, "STOP", usage)


def _gemini_error(status: int, message: str, **extra: Any) -> dict:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED",
             500: "INTERNAL", 503: "UNAVAILABLE"}
    return {"error": {"code": status, "message": message,
                      "status": names.get(status, "UNKNOWN"),
                      "details": extra.get("details", [])}}


_STREAMS = {"openai": _openai_stream, "anthropic": _anthropic_stream,
            "gemini": _gemini_stream}
_JSON = {"openai": _openai_json, "anthropic": _anthropic_json, "gemini": _gemini_json}
_ERRORS = {"openai": _openai_error, "anthropic": _anthropic_error, "gemini": _gemini_error}
_HEAD = {"openai": 1, "anthropic": 3, "gemini": 0}  # events before the first text

OPENAI = Wire("openai", "gpt-4.1-mini", "/v1/chat/completions", "/v1/chat/completions")
ANTHROPIC = Wire("anthropic", "claude-haiku-4-5", "/v1/messages", "/v1/messages")
GEMINI = Wire("gemini", "gemini-2.5-flash", ":streamGenerateContent", ":generateContent")
WIRES = [OPENAI, ANTHROPIC, GEMINI]
