"""Alembic migrations up and down on real SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import inspect

from chat.persistence.db import (
    create_engine,
    current_revision_sync,
    downgrade_database_sync,
    head_revision,
    upgrade_database,
    upgrade_database_sync,
)

CHAINLIT_TABLES = {"users", "threads", "steps", "elements", "feedbacks"}


async def _columns(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync_conn):
                insp = inspect(sync_conn)
                return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_upgrade_creates_what_chainlit_2_12_writes_and_downgrade_drops_it(fresh_db_url):
    await upgrade_database(fresh_db_url)
    await upgrade_database(fresh_db_url)  # idempotent
    assert current_revision_sync(fresh_db_url) == head_revision()
    columns = await _columns(fresh_db_url)
    assert CHAINLIT_TABLES | {"credentials", "alembic_version"} <= set(columns)
    assert {"autoCollapse", "command", "defaultOpen", "modes", "tags"} <= columns["steps"]
    assert {"props", "autoPlay", "playerConfig", "objectKey"} <= columns["elements"]
    assert {"password_hash", "role"} <= columns["credentials"]

    downgrade_database_sync(fresh_db_url, "0001")
    assert "credentials" not in await _columns(fresh_db_url)
    downgrade_database_sync(fresh_db_url, "base")
    assert set(await _columns(fresh_db_url)) <= {"alembic_version"}
    assert current_revision_sync(fresh_db_url) is None

    upgrade_database_sync(fresh_db_url)
    assert set(await _columns(fresh_db_url)) >= CHAINLIT_TABLES


def test_cli_db_upgrade_and_current(tmp_path):
    env = {**os.environ, "DOCCHAT_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "chat", "db", "upgrade"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert f"revision {head_revision()}" in run.stdout
    assert (tmp_path / "data" / "chat.db").exists()
    down = subprocess.run(
        [sys.executable, "-m", "chat", "db", "downgrade", "base"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert down.returncode == 0 and "base (empty)" in down.stdout
