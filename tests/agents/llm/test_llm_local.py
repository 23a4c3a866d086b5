"""The local model for real: one supervised ``llama_cpp.server`` child process.

Needs llama-cpp-python (scripts/install-local-llm.sh) and the test model
(scripts/setup-dev.sh installs it into DOCCHAT_TEST_MODELS_DIR); skipped with the reason
otherwise. Crashes, hangs, a refused build and a full queue each cost the current call
only: the router falls back to the extractive provider, the child is restarted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal

import pytest
from pydantic import BaseModel

from agents.llm import LLMRouter, LLMSettings, Message
from agents.llm.install import model_path_for_tests
from agents.llm.settings import LOCAL_MODEL_NAME

MODEL = model_path_for_tests()
LINK = f"local:{LOCAL_MODEL_NAME}"
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.timeout(300),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python missing: scripts/install-local-llm.sh"),
    pytest.mark.skipif(not MODEL.is_file(),
                       reason=f"no test model at {MODEL}: scripts/setup-dev.sh"),
]
GROUNDED = [
    Message("system", "Answer using only these passages and cite them as [n].\n"
                      "Sources:\n[1] The capital of Zorbania is Quillport, founded in 1721.\n\n"
                      "[2] Zorbania exports tin and wool."),
    Message("user", "What is the capital of Zorbania?"),
]
LONG = [Message("user", "Count from 1 to 200, one number per line.")]


class Answer(BaseModel):
    city: str
    passage: int


def settings(tmp_path, **extra: object) -> LLMSettings:
    fields: dict[str, object] = {
        "local_model_path": MODEL, "local_threads": 1, "local_n_ctx": 2048,
        "max_tokens_answer": 48, "max_tokens_review": 48, "temperature": 0.0,
        "chain_answer": [LINK], "chain_review": [LINK], "max_retries": 0,
        "local_state_dir": tmp_path}
    fields.update(extra)
    return LLMSettings(**fields)


async def collect(router: LLMRouter, messages: list[Message]) -> tuple[str, list]:
    events = [e async for e in router.stream("answer", messages)]
    return "".join(e.text for e in events if e.kind == "token"), events


async def test_child_process_streams_and_answers_structured(tmp_path) -> None:
    router = LLMRouter.from_settings(settings(tmp_path))
    try:
        text, events = await collect(router, GROUNDED)
        assert "Quillport" in text
        assert [e.kind for e in events].count("token") > 3  # streamed, piece by piece
        usage = events[-1].usage
        assert usage.provider == "local" and usage.output_tokens > 3 and usage.input_tokens > 20
        obj, usage = await router.structured("review", GROUNDED, Answer)
        assert "Quillport" in obj.city and usage.provider == "local"
        state = router.status()["local"]
        assert state["state"] == "ready" and state["pid"] != os.getpid()
        assert state["threads"] == 1 and state["restarts"] == 0
        assert (tmp_path / f"local-model-{os.getpid()}.json").is_file()  # for `status`
    finally:
        await router.aclose()
    assert not (tmp_path / f"local-model-{os.getpid()}.json").exists()


async def test_kill_9_mid_answer_falls_back_then_the_restarted_model_answers(tmp_path) -> None:
    router = LLMRouter.from_settings(settings(tmp_path, max_tokens_answer=400))
    try:
        await router.complete("answer", [Message("user", "Say hi.")])  # started and warm
        first_pid = router.status()["local"]["pid"]
        kinds, tokens = [], 0
        async for event in router.stream("answer", LONG):
            kinds.append(event.kind)
            if event.kind == "token" and event.provider == LINK:
                tokens += 1
                if tokens == 5:
                    os.kill(first_pid, signal.SIGKILL)  # mid-answer
            if event.kind == "usage":
                assert event.usage.provider == "extractive"  # the fallback answered
        assert "reset" in kinds and tokens >= 5
        text, events = await collect(router, GROUNDED)  # waits for the restart
        assert events[-1].usage.provider == "local" and "Quillport" in text
        state = router.status()["local"]
        assert state["restarts"] == 1 and state["pid"] not in (None, first_pid)
        assert "signal 9" in router.providers["local"].supervisor.last_error or \
            state["state"] == "ready"
    finally:
        await router.aclose()


async def test_a_hung_model_times_out_is_killed_and_restarted(tmp_path) -> None:
    router = LLMRouter.from_settings(settings(tmp_path, local_timeout_s=15.0))
    try:
        await router.complete("answer", [Message("user", "Say hi.")])
        pid = router.status()["local"]["pid"]
        os.kill(pid, signal.SIGSTOP)  # alive but silent: a hang
        completion = await router.complete("answer", GROUNDED)
        assert completion.usage.provider == "extractive"
        text, events = await collect(router, GROUNDED)
        assert events[-1].usage.provider == "local" and "Quillport" in text
        assert router.status()["local"]["restarts"] == 1
    finally:
        await router.aclose()


async def test_queue_is_bounded(tmp_path) -> None:
    router = LLMRouter.from_settings(settings(tmp_path, local_queue_max=0,
                                              max_tokens_answer=64))
    try:
        await router.complete("answer", [Message("user", "Say hi.")])
        first, second = await asyncio.gather(router.complete("answer", LONG),
                                             router.complete("answer", GROUNDED))
        assert first.usage.provider == "local"
        assert second.usage.provider == "extractive"  # no room to wait: next link at once
    finally:
        await router.aclose()


async def test_a_refused_build_is_not_started_and_the_chain_goes_on(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCCHAT_LLM_CPU_FLAGS", "sse2,pni,ssse3")  # a CPU without AVX2
    router = LLMRouter.from_settings(settings(tmp_path))
    try:
        completion = await router.complete("answer", GROUNDED)
        assert completion.usage.provider == "extractive"
        state = router.status()["local"]
        assert state["state"] == "refused" and state["restarts"] == 0
        assert "AVX2" in state["last_error"] and "install-local-llm.sh" in state["last_error"]
        assert "local" in router.unavailable()  # later calls skip it
        assert router.chain("answer") == ["extractive"]
    finally:
        await router.aclose()
