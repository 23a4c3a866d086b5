"""`python -m agents.llm status` reports the model process of live chat servers only."""

from __future__ import annotations

import json
import os

from agents.llm.__main__ import _running_models, main


def test_state_files_of_dead_servers_are_skipped(tmp_path) -> None:
    live = {"state": "restarting", "pid": 123, "supervisor_pid": os.getpid(), "threads": 1,
            "restarts": 2, "last_error": "model process killed by signal 9"}
    (tmp_path / f"local-model-{os.getpid()}.json").write_text(json.dumps(live))
    dead = {**live, "supervisor_pid": 2**22 + 12345}  # above pid_max: never alive
    (tmp_path / "local-model-999999.json").write_text(json.dumps(dead))
    (tmp_path / "local-model-broken.json").write_text("{not json")
    assert _running_models(tmp_path) == [live]


def test_status_prints_chains_and_the_model_process(tmp_path, monkeypatch, capsys) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("DOCCHAT_LLM_LOCAL_MODEL_PATH", str(model))
    monkeypatch.setenv("DOCCHAT_LLM_LOCAL_STATE_DIR", str(tmp_path))
    state = {"state": "ready", "pid": 4321, "supervisor_pid": os.getpid(), "threads": 1,
             "restarts": 0, "last_error": None}
    (tmp_path / f"local-model-{os.getpid()}.json").write_text(json.dumps(state))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "route   extractive" in out  # the local model never routes by default
    if "unavailable: local" not in out:  # llama-cpp-python installed
        assert "answer  local:qwen2.5-coder-0.5b-instruct -> extractive" in out
        assert "local model process: ready (pid 4321" in out
        assert "local build:" in out
