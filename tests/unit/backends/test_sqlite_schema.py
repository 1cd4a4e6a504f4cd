"""The SQLite schema: fresh and migrated databases are the same, data survives upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from omniq.backends.sqlite import SQLiteBackend
from omniq.backends.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, _statements
from omniq.exceptions import StoreCorruptedError


def schema_of(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    return {name: " ".join(sql.split()) for name, sql in rows}


def make_v1_database(path: Path) -> None:
    """What the first OmniQ release wrote: version 1, with one waiting task."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO omniq_meta (key, value) VALUES ('schema', 'omniq')")
    conn.execute(
        "INSERT INTO tasks (id, func_name, payload, queue_name, priority, status, created_at, "
        "run_at, tags, max_retries, retry_count, attempts, retry_delay, retry_backoff, "
        "store_result) VALUES ('old-task', 'mod:f', x'00', 'default', 0, 'enqueued', 1.0, 1.0, "
        "'[]', 3, 0, 0, 0.0, 1.0, 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_migrated_schema_equals_fresh_schema(tmp_path: Path) -> None:
    fresh, migrated = tmp_path / "fresh.db", tmp_path / "migrated.db"
    with SQLiteBackend("fresh", db_path=fresh):
        pass
    make_v1_database(migrated)
    with SQLiteBackend("migrated", db_path=migrated):
        pass
    assert schema_of(migrated) == schema_of(fresh)
    with sqlite3.connect(migrated) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_tasks_survive_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v1_database(path)
    async with SQLiteBackend("old", db_path=path) as backend:
        record = await backend.task_queue.get("old-task")
    assert record is not None
    assert record.func_name == "mod:f"
    assert record.depends_on == []
    assert record.schedule_id is None
    assert record.cancel_requested is False


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with SQLiteBackend("future", db_path=path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreCorruptedError, match="newer than this OmniQ"):
        SQLiteBackend("future", db_path=path).initialize()
