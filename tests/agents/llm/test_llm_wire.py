"""Each provider's real SDK against its real wire format, served on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from llm_formats import ANTHROPIC, GEMINI, OPENAI, WIRES, Wire
from llm_wire import WireServer
from pydantic import BaseModel

from agents.llm import AuthenticationError, BadRequestError, LLMRouter, Message

pytestmark = [
    pytest.mark.timeout(60),
    # google-genai 3.4 subclasses aiohttp.ClientSession; not ours to fix
    pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning"),
]
Q = [Message("system", "Answer briefly."), Message("user", "What is the capital of France?")]
ids = [w.name for w in WIRES]


class Verdict(BaseModel):
    verdict: str
    confidence: float


async def events_of(router: LLMRouter, task: str = "answer", **kw) -> list:
    return [e async for e in router.stream(task, Q, **kw)]


def text_of(events: list) -> str:
    return "".join(e.text for e in events if e.kind == "token")


def other(w: Wire) -> Wire:
    return {"openai": ANTHROPIC, "anthropic": GEMINI, "gemini": OPENAI}[w.name]


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_normal_stream(w: Wire, wire: WireServer, make_router) -> None:
    wire.add(w.stream_path, w.stream(["Par", "is", "."], usage=(12, 3)))
    router = make_router([w.link])
    events = await events_of(router)
    assert [e.kind for e in events] == ["token", "token", "token", "usage"]
    assert text_of(events) == "Paris."
    assert {e.provider for e in events} == {w.link}
    usage = events[-1].usage
    assert (usage.provider, usage.model) == (w.name, w.model)
    assert (usage.input_tokens, usage.output_tokens) == (12, 3)
    assert usage.cost_usd is not None and usage.cost_usd > 0
    assert 0 < usage.ttft_ms <= usage.latency_ms
    [req] = wire.requests(w.stream_path)
    assert "France" in str(req.body)


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_system_message_goes_where_the_api_wants_it(w: Wire, wire: WireServer,
                                                          make_router) -> None:
    wire.add(w.stream_path, w.stream(["ok"]))
    await events_of(make_router([w.link]))
    body = wire.requests(w.stream_path)[0].body
    if w is OPENAI:
        assert body["messages"][0] == {"role": "system", "content": "Answer briefly."}
        assert body["stream_options"] == {"include_usage": True}
    elif w is ANTHROPIC:
        assert body["system"] == "Answer briefly."
        assert [m["role"] for m in body["messages"]] == ["user"]
    else:
        assert body["systemInstruction"]["parts"][0]["text"] == "Answer briefly."
        assert [c["role"] for c in body["contents"]] == ["user"]


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_429_with_retry_after_then_success(w: Wire, wire: WireServer,
                                                 make_router) -> None:
    wire.add(w.stream_path, w.error(429, "Rate limit reached", {"Retry-After": "0.3"}),
             w.stream(["fine"]))
    router = make_router([w.link], backoff_base_s=0.001)
    start = time.perf_counter()
    events = await events_of(router)
    assert time.perf_counter() - start >= 0.3  # waited as long as the server asked
    assert text_of(events) == "fine"
    assert len(wire.requests(w.stream_path)) == 2


async def test_gemini_retry_delay_in_body_is_honoured(wire: WireServer, make_router) -> None:
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}
    wire.add(GEMINI.stream_path, GEMINI.error(429, "Resource exhausted", details=[info]),
             GEMINI.stream(["ok"]))
    start = time.perf_counter()
    events = await events_of(make_router([GEMINI.link], backoff_base_s=0.001))
    assert time.perf_counter() - start >= 0.3
    assert text_of(events) == "ok"


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_long_retry_after_moves_to_next_link_at_once(w: Wire, wire: WireServer,
                                                           make_router) -> None:
    nxt = other(w)
    wire.add(w.stream_path, w.error(429, "slow down", {"Retry-After": "30"}))
    wire.add(nxt.stream_path, nxt.stream(["from next"]))
    start = time.perf_counter()
    events = await events_of(make_router([w.link, nxt.link]))
    assert time.perf_counter() - start < 5
    assert text_of(events) == "from next"
    assert events[-1].provider == nxt.link


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_500_retried_then_fallback_to_next_provider(w: Wire, wire: WireServer,
                                                          make_router) -> None:
    nxt = other(w)
    wire.add(w.stream_path, *[w.error(500, "internal error")] * 3)
    wire.add(nxt.stream_path, nxt.stream(["Paris"]))
    events = await events_of(make_router([w.link, nxt.link], max_retries=2))
    assert len(wire.requests(w.stream_path)) == 3  # first try + 2 retries
    assert [e.kind for e in events] == ["token", "usage"]  # no reset: nothing was shown
    assert events[-1].usage.provider == nxt.name


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_timeout_then_fallback(w: Wire, wire: WireServer, make_router) -> None:
    nxt = other(w)
    wire.add(w.stream_path, w.stream(["late"], delay=1.5))
    wire.add(nxt.stream_path, nxt.stream(["on time"]))
    start = time.perf_counter()
    events = await events_of(make_router([w.link, nxt.link], timeout_s=0.3, max_retries=0))
    assert time.perf_counter() - start < 1.4
    assert text_of(events) == "on time"


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_disconnect_mid_stream_resets_then_falls_back(w: Wire, wire: WireServer,
                                                            make_router) -> None:
    nxt = other(w)
    wire.add(w.stream_path, w.stream(["The cap", "ital is", " never sent"],
                                     disconnect_after=2))
    wire.add(nxt.stream_path, nxt.stream(["Paris."]))
    events = await events_of(make_router([w.link, nxt.link]))
    kinds = [e.kind for e in events]
    assert kinds == ["token", "token", "reset", "token", "usage"]
    assert text_of(events[:2]) == "The capital is"
    assert events[2].provider == w.link and events[2].reason
    assert events[3].provider == nxt.link
    assert len(wire.requests(w.stream_path)) == 1  # a link is not retried after tokens
    completion_router = make_router([w.link, nxt.link])
    wire.add(w.stream_path, w.stream(["half", "answer", "x"], disconnect_after=1))
    wire.add(nxt.stream_path, nxt.stream(["Paris."]))
    done = await completion_router.complete("answer", Q)
    assert done.text == "Paris."


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_invalid_api_key_is_not_retried_and_says_why(w: Wire, wire: WireServer,
                                                           make_router) -> None:
    message = {"openai": "Incorrect API key provided: sk-bad.",
               "anthropic": "invalid x-api-key",
               "gemini": "API key not valid. Please pass a valid API key."}[w.name]
    if w is GEMINI:  # Gemini's real answer to a bad key: 400 with reason API_KEY_INVALID
        reply = w.error(400, message, details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com"}])
    else:
        reply = w.error(401, message)
    wire.add(w.stream_path, reply)
    nxt = other(w)
    wire.add(nxt.stream_path, nxt.stream(["should not be asked"]))
    router = make_router([w.link, nxt.link])
    with pytest.raises(AuthenticationError) as info:
        await events_of(router)
    assert message in str(info.value) and w.link in str(info.value)
    assert len(wire.requests(w.stream_path)) == 1
    assert wire.requests(nxt.stream_path) == []


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_bad_request_is_not_retried(w: Wire, wire: WireServer, make_router) -> None:
    wire.add(w.stream_path, w.error(400, "max_tokens is too large"))
    with pytest.raises(BadRequestError, match="max_tokens is too large"):
        await events_of(make_router([w.link]))
    assert len(wire.requests(w.stream_path)) == 1


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_structured_round_trip_with_repair(w: Wire, wire: WireServer,
                                                 make_router) -> None:
    wire.add(w.json_path, w.structured({"verdict": "approve"}, usage=(20, 5)),
             w.structured({"verdict": "approve", "confidence": 0.9}, usage=(30, 8)))
    router = make_router([w.link])
    obj, usage = await router.structured("review", Q, Verdict)
    assert obj == Verdict(verdict="approve", confidence=0.9)
    assert (usage.input_tokens, usage.output_tokens) == (50, 13)
    first, repair = (r.body for r in wire.requests(w.json_path))
    assert "confidence" in str(first)  # the schema went out with the request
    assert "invalid" in str(repair) and "confidence" in str(repair)
    if w is OPENAI:
        assert first["response_format"]["type"] == "json_schema"
    elif w is ANTHROPIC:
        assert first["tool_choice"] == {"type": "tool", "name": "Verdict"}
    else:
        assert first["generationConfig"]["responseMimeType"] == "application/json"


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_structured_invalid_twice_falls_back_to_default(w: Wire, wire: WireServer,
                                                              make_router) -> None:
    wire.add(w.json_path, w.structured({"nope": 1}), w.structured({"still": "wrong"}))
    default = Verdict(verdict="escalate", confidence=0.0)
    obj, usage = await make_router([w.link]).structured("review", Q, Verdict,
                                                        default=default)
    assert obj is default and usage.provider == "extractive"
    assert len(wire.requests(w.json_path)) == 2  # one attempt + one repair


async def test_compat_server_gets_json_object_with_schema(wire: WireServer,
                                                           make_router) -> None:
    wire.add(OPENAI.json_path, OPENAI.structured({"verdict": "approve", "confidence": 1}))
    router = make_router(["compat:my-model"], compat_base_url=f"{wire.url}/v1")
    obj, usage = await router.structured("review", Q, Verdict)
    assert obj.verdict == "approve" and usage.provider == "compat" and usage.cost_usd == 0
    body = wire.requests(OPENAI.json_path)[0].body
    assert body["response_format"]["type"] == "json_object"
    assert body["response_format"]["schema"]["required"] == ["verdict", "confidence"]
    assert body["max_tokens"] == 300 and "max_completion_tokens" not in body


@pytest.mark.parametrize("w", WIRES, ids=ids)
async def test_client_and_connection_are_reused(w: Wire, wire: WireServer,
                                                make_router) -> None:
    wire.add(w.stream_path, w.stream(["one"]), w.stream(["two"]))
    router = make_router([w.link])
    client = router.providers[w.name].client
    assert text_of(await events_of(router)) == "one"
    assert text_of(await events_of(router)) == "two"
    assert router.providers[w.name].client is client
    first, second = wire.requests(w.stream_path)
    assert first.peer == second.peer  # same TCP connection, from the client's pool
