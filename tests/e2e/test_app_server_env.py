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
