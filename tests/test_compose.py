"""compose.yaml (the scaled-out deployment) parses, and names only environment variables
the settings classes read, with the shared stores set on every DocChat service."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic_settings import BaseSettings

from agents.llm.settings import LLMSettings
from chat.api.settings import ApiSettings
from chat.config import AppSettings
from docchat.settings import DocChatSettings
from rag.config import RagSettings

ROOT = Path(__file__).resolve().parents[1]
DOCCHAT_SERVICES = ("app-a", "app-b", "worker")
#: what every DocChat process must share (README "Several instances")
SHARED = ("DATABASE_URL", "CHROMA_HOST", "CHROMA_PORT", "DOCCHAT_QUEUE_URL")


def settings_env_names(*classes: type[BaseSettings]) -> set[str]:
    """Environment variable names of every field (the upper-case alias choices)."""
    names: set[str] = set()
    for cls in classes:
        for field in cls.model_fields.values():
            alias = field.validation_alias
            for choice in getattr(alias, "choices", []) or [alias]:
                if isinstance(choice, str) and choice.isupper():
                    names.add(choice)
    return names


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_parses_with_the_tested_topology():
    services = compose()["services"]
    assert set(services) == {*DOCCHAT_SERVICES, "postgres", "chroma", "redis"}
    assert services["worker"]["command"] == ["python", "-m", "rag", "worker"]
    ports = {p for name in ("app-a", "app-b") for p in services[name]["ports"]}
    assert len(ports) == 2  # two instances, two published ports
    volumes = {services[name]["volumes"][0].split(":")[0] for name in DOCCHAT_SERVICES}
    assert len(volumes) == 3  # a data dir of its own each: nothing local is shared


def test_compose_names_only_variables_the_settings_read():
    known = settings_env_names(DocChatSettings, AppSettings, RagSettings, LLMSettings,
                               ApiSettings)
    assert {"DATABASE_URL", "DOCCHAT_QUEUE_URL", "CHROMA_HOST"} <= known  # the scan works
    services = compose()["services"]
    for name in DOCCHAT_SERVICES:
        environment = services[name]["environment"]
        assert set(environment) <= known, (name, set(environment) - known)
        for var in SHARED:
            assert var in environment, (name, var)
    db = {services[n]["environment"]["DATABASE_URL"] for n in DOCCHAT_SERVICES}
    queue = {services[n]["environment"]["DOCCHAT_QUEUE_URL"] for n in DOCCHAT_SERVICES}
    assert len(db) == 1 and len(queue) == 1  # one database, one queue for all
    pg = services["postgres"]["environment"]
    assert db.pop().endswith(f"{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
                             f"{pg['POSTGRES_DB']}")
