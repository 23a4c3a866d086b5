"""The test servers' environment: a provider key on the machine running the tests (CI has
one, with no internet) must never reach an app started as "no language model"."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_chainlit_ci_mode_placeholder_key_never_answers(tmp_path):
    """``chainlit run`` with CI set writes a placeholder OPENAI_API_KEY; the app drops it
    (chat.services.drop_chainlit_ci_key) and answers with the extractive provider."""
    server = AppServer(tmp_path, env_extra={"CI": "true"})
    try:
        server.start()
        log = server.log()
    finally:
        server.stop()
    started = [line for line in log.splitlines() if "language models for answers" in line]
    assert started and "answers: extractive (" in started[0], log[-3000:]
    assert "Chainlit's CI mode replaced OPENAI_API_KEY" in log
