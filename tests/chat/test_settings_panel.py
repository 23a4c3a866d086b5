"""The settings panel says which model answers."""

from __future__ import annotations

from chat.session_state import AUTO_MODEL, ChatPrefs, settings_widgets


def test_panel_names_the_model_that_answers() -> None:
    available = ["local:qwen2.5-coder-0.5b-instruct", "extractive"]
    select = settings_widgets(available, ChatPrefs()).inputs[0]
    assert select.label == "Answer model: local:qwen2.5-coder-0.5b-instruct"
    assert select.items["Automatic (now: local:qwen2.5-coder-0.5b-instruct)"] == AUTO_MODEL
    picked = settings_widgets(available, ChatPrefs(answer_model="extractive")).inputs[0]
    assert picked.label == "Answer model: extractive" and picked.initial == "extractive"
    assert settings_widgets(["extractive"], ChatPrefs()).inputs[0].label == (
        "Answer model: extractive")
