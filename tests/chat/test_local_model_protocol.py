"""A real ``chainlit run app.py`` with only the local model: kill -9 of the model process
in the middle of an answer never takes the chat server down.

The user gets the fallback (extractive) answer for that question, ``/ready`` reports the
restart, and the next question is answered by the restarted model. Needs llama-cpp-python
and the test model (scripts/setup-dev.sh); skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_support import AppServer, ChatClient, login_cookies, no_llm_env
from agents.llm.install import model_path_for_tests
from agents.llm.settings import LOCAL_MODEL_NAME

MODEL = model_path_for_tests()
pytestmark = [
    pytest.mark.slow, pytest.mark.local_model, pytest.mark.timeout(600),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python missing: scripts/install-local-llm.sh"),
    pytest.mark.skipif(not MODEL.is_file(),
                       reason=f"no test model at {MODEL}: scripts/setup-dev.sh"),
]
PASSWORD = "alice-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {**no_llm_env(), "DOCCHAT_LLM_LOCAL_MODEL_PATH": str(MODEL),
           "DOCCHAT_LLM_LOCAL_THREADS": "1", "DOCCHAT_LLM_MAX_TOKENS_ANSWER": "400",
           "DOCCHAT_LLM_MAX_RETRIES": "0"}
    app = AppServer(tmp_path_factory.mktemp("local-model-data"), env_extra=env)
    try:
        app.add_user("alice", PASSWORD)
        app.start()
        yield app
    finally:
        app.stop()


async def local_state(app: AppServer, want: str, timeout: float = 180) -> dict:
    """``/ready``'s report of the local model process, once its state is ``want``."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=30) as http:
        while True:
            ready = await http.get(f"{app.url}/ready")
            assert ready.status_code == 200, ready.text  # a model crash never makes it unready
            state = ready.json()["checks"]["models"]["detail"]["local"]
            if state["state"] == want:
                return state
            assert time.monotonic() < deadline, f"local model never {want}: {state}"
            await asyncio.sleep(0.5)


def answer_step(client: ChatClient) -> dict:
    steps = [s for s in client.named("new_message", "update_message") if s["name"] in ("Answer", "Writing the answer")]
    return steps[-1]


async def test_kill_9_of_the_model_mid_answer(server, report_pdf):
    app = server
    first = await local_state(app, "ready")  # started at app start-up, before any question
    assert first["restarts"] == 0 and first["threads"] == 1
    client = await ChatClient(app.url, login_cookies(app.url, "alice", PASSWORD)).connect()
    try:
        ref = await client.upload(report_pdf, "application/pdf")
        await client.send("Explain in detail, sentence by sentence, everything the report says "
                          "about the Heliotrope reactor, its pumps and its budget.", files=[ref])
        await client.wait_for(lambda c: len(c.named("stream_token")) >= 5, timeout=300)
        os.kill(first["pid"], signal.SIGKILL)
        await client.wait_for(lambda c: c.task_ended(), timeout=300)
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{app.url}/health")).status_code == 200
        assert "`extractive`" in answer_step(client)["output"]  # the fallback answered
        replies = [s for s in client.named("new_message", "update_message")
                   if s.get("type") == "assistant_message"]
        # ... from the retrieval evidence, saying that the model failed, quoting the report
        assert "No language model answered" in replies[-1]["output"]
        assert "heliotrope-report.pdf" in replies[-1]["output"]

        restarted = await local_state(app, "ready")
        assert restarted["restarts"] == 1 and restarted["pid"] != first["pid"]
        await client.send("How often must the Heliotrope reactor be inspected?")
        await client.wait_for(lambda c: c.task_ended(), timeout=300)
        assert f"`local:{LOCAL_MODEL_NAME}`" in answer_step(client)["output"]
    finally:
        await client.close()
    assert "model process killed by signal 9" in app.log()  # the supervisor said why
