"""The test servers' environment: a provider key on the machine running the tests (CI has
one, with no internet, and sets CI) must never reach an app started as "no language
model". Also what a real server does with its process: Chainlit's CI-mode key dropped,
its executor threads below the event loop's CPU priority."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT, AppServer

CHAIN = ("import json; from agents.llm.router import LLMRouter; "
         "print(json.dumps(LLMRouter.from_settings().chain('answer')))")


def answer_chain(env: dict[str, str]) -> list[str]:
    """The answer chain the app would build in a process with ``env``, run from the
    project root as the server is."""
    out = subprocess.run([sys.executable, "-c", CHAIN], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_provider_keys_of_the_caller_never_reach_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-ci-machine")
    monkeypatch.setenv("openai_api_key", "sk-lowercase-reads-too")  # pydantic ignores case
    monkeypatch.setenv("Anthropic_Api_Key", "sk-ant-mixed-case")
    monkeypatch.setenv("DOCCHAT_LLM_CHAIN_ANSWER", "openai:gpt-4.1-mini")
    env = AppServer(tmp_path).env()
    assert answer_chain(env) == ["extractive"]


def test_env_extra_still_configures_a_provider(tmp_path, monkeypatch):
    monkeypatch.setenv("openai_api_key", "sk-from-the-ci-machine")
    env = AppServer(tmp_path, env_extra={"ANTHROPIC_API_KEY": "sk-ant-test"}).env()
    assert answer_chain(env)[0].startswith("anthropic:")


def test_ci_variable_of_the_caller_never_reaches_the_server(tmp_path, monkeypatch):
    """CI machines set CI; Chainlit's --ci flag reads it and plants an OpenAI key."""
    monkeypatch.setenv("CI", "true")
    assert "CI" not in {k.upper() for k in AppServer(tmp_path).env()}


@pytest.fixture(scope="module")
def ci_server(tmp_path_factory):
    """A real ``chainlit run app.py`` started with CI set (as on CI machines)."""
    server = AppServer(tmp_path_factory.mktemp("ci-server"), env_extra={"CI": "true"})
    try:
        yield server.start()
    finally:
        server.stop()


def test_chainlit_ci_mode_placeholder_key_never_answers(ci_server):
    """``chainlit run`` with CI set writes a placeholder OPENAI_API_KEY; the app drops it
    (chat.services.drop_chainlit_ci_key) and answers with the extractive provider."""
    log = ci_server.log()
    started = [line for line in log.splitlines() if "language models for answers" in line]
    assert started and "answers: extractive (" in started[0], log[-3000:]
    assert "Chainlit's CI mode replaced OPENAI_API_KEY" in log


def thread_nices(pid: int) -> dict[int, int]:
    """Thread id -> nice value of every thread of ``pid`` (/proc/<pid>/task/<tid>/stat,
    field 19, after the parenthesised command name)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[int(tid)] = int(stat.rsplit(")", 1)[1].split()[16])
    return out


def test_executor_and_embedder_threads_run_nicer_than_the_event_loop(ci_server):
    """DOCCHAT_EXECUTOR_NICE (default 5): the threads that embed and call the stores
    (opened at start-up by the warm-up) yield to the loop thread (chat/executor.py)."""
    pid = ci_server.proc.pid
    nices = thread_nices(pid)
    loop_nice = nices[pid]  # the main thread runs the event loop
    lowered = [tid for tid, nice in nices.items() if nice == min(loop_nice + 5, 19)]
    assert lowered and pid not in lowered, nices  # the warm-up's executor thread(s)
    assert all(nice in (loop_nice, min(loop_nice + 5, 19)) for nice in nices.values())
