"""A scripted OpenAI-compatible server on 127.0.0.1 (chat completions, SSE streaming).

It speaks the wire protocol the router's ``compat`` provider uses, so a test exercises
the real HTTP client, SSE parsing, usage counting and the whole app path:

- ``POST /v1/chat/completions`` with ``response_format`` (structured calls, in
  ``json_schema`` or ``json_object`` mode): a JSON object for the schema named in it:
  ``RouteDecision`` -> retrieve, ``ReviewDecision`` -> approve, ``Rewrite`` -> the
  question unchanged, others -> ``{}``.
- ``stream: true``: the answer as SSE ``chat.completion.chunk`` events, word by word
  (``--delay`` seconds apart), then a usage chunk and ``[DONE]``. A title request
  (``max_tokens`` <= 32) gets a short title. An answer quotes the first sentence of
  the source that contains ``--needle`` (else source [1]) and cites it as ``[n]``;
  ``--needle "A|B"`` uses the needle the question names.
- A streamed answer to a conversation whose last user message contains ``FAULT_WORD``
  sends two words and then drops the connection (a provider failing mid-stream).
- ``GET /stats``: how many requests of each kind were served.

Run: ``python tests/e2e/fake_openai.py --port 8765 --needle heliotrope``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

MODEL = "fake-gpt"
FAULT_WORD = "PROVIDER-FAULT"
TITLE = "Scripted title from fake model"
_SOURCE = re.compile(r"^\[(\d+)\] \((.*?)\)\n(.*?)(?=\n\n\[\d+\] \(|\Z)", re.DOTALL | re.MULTILINE)


def pick_source(system: str, needle: str) -> tuple[int, str, str] | None:
    """``(n, where, sentence)`` of the source containing ``needle`` (or the first)."""
    sources = [(int(n), where, text) for n, where, text in _SOURCE.findall(system)]
    if not sources:
        return None
    hit = next((s for s in sources if needle and needle.lower() in s[2].lower()), sources[0])
    sentences = re.split(r"(?<=[.!?])\s+", hit[2].strip())
    sentence = next((s for s in sentences if needle and needle.lower() in s.lower()),
                    sentences[0])
    return hit[0], hit[1], sentence.strip()


def answer_text(messages: list[dict], needle: str) -> str:
    """The scripted answer for a chat-completions ``messages`` list."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    needles = [n for n in needle.split("|") if n]  # "A|B": the one the question names
    needle = next((n for n in needles if n.lower() in str(question).lower()),
                  needles[0] if needles else "")
    picked = pick_source(system, needle)
    if picked is None:
        return "Hello from the scripted model. Attach a document and ask me about it."
    n, where, sentence = picked
    return f"According to {where}: {sentence} [{n}]"


def structured_reply(body: dict) -> dict:
    fmt = body.get("response_format") or {}
    name = ((fmt.get("json_schema") or {}).get("name")  # json_schema mode
            or (fmt.get("schema") or {}).get("title", ""))  # json_object mode with a schema
    question = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    if "Route" in name:
        return {"route": "retrieve", "reason": "scripted: the question is about documents"}
    if "Review" in name:
        return {"verdict": "approve", "unsupported": [], "refined_query": "", "feedback": ""}
    if "Rewrite" in name:
        return {"query": question}
    return {}


def chunk(cid: str, delta: dict, finish: str | None = None, usage: dict | None = None) -> str:
    data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": MODEL, "choices": [] if usage else
            [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n"


def build_app(needle: str = "", delay: float = 0.03) -> Starlette:
    """The Starlette app (see the module docstring)."""
    stats = {"structured": 0, "stream": 0, "title": 0, "complete": 0, "faults": 0}

    async def completions(request: Request):
        body = await request.json()
        messages = body.get("messages", [])
        prompt_tokens = sum(len(m.get("content", "")) for m in messages) // 4
        if body.get("response_format"):
            stats["structured"] += 1
            content = json.dumps(structured_reply(body))
            return JSONResponse(_completion(content, prompt_tokens))
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 1024
        is_title = max_tokens <= 32
        text = TITLE if is_title else answer_text(messages, needle)
        stats["title" if is_title else "stream"] += 1
        if not body.get("stream"):
            stats["complete"] += 1
            return JSONResponse(_completion(text, prompt_tokens))
        last_user = next((m.get("content", "") for m in reversed(messages)
                          if m.get("role") == "user"), "")
        fault = not is_title and FAULT_WORD in str(last_user)
        if fault:
            stats["faults"] += 1
        return StreamingResponse(_sse(text, prompt_tokens, 0 if is_title else delay,
                                      fail_after=2 if fault else None),
                                 media_type="text/event-stream")

    async def get_stats(request: Request):
        return JSONResponse(stats)

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]),
                             Route("/v1/models", models), Route("/stats", get_stats)])


def _completion(content: str, prompt_tokens: int) -> dict:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content) // 4,
                      "total_tokens": prompt_tokens + len(content) // 4}}


class ProviderFault(RuntimeError):
    """Raised mid-stream: the server drops the connection (a provider fault)."""


async def _sse(text: str, prompt_tokens: int, delay: float, fail_after: int | None = None):
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    yield chunk(cid, {"role": "assistant", "content": ""})
    pieces = re.findall(r"\S+\s*", text)
    for i, piece in enumerate(pieces):
        if fail_after is not None and i == fail_after:
            raise ProviderFault("scripted fault: connection dropped mid-stream")
        if delay:
            await asyncio.sleep(delay)
        yield chunk(cid, {"content": piece})
    yield chunk(cid, {}, finish="stop")
    yield chunk(cid, {}, usage={"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                                "total_tokens": prompt_tokens + len(pieces)})
    yield "data: [DONE]\n\n"


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--needle", default="")
    parser.add_argument("--delay", type=float, default=0.03)
    args = parser.parse_args()
    uvicorn.run(build_app(args.needle, args.delay), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
