"""Creating, versioning and checking the SQLite schema."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from omniq.exceptions import StoreCorruptedError

__all__ = ["SCHEMA_VERSION", "ensure_schema"]

#: Version written to ``PRAGMA user_version``; bump it with a migration in ``MIGRATIONS``.
SCHEMA_VERSION = 5

_MARKER = "omniq"
#: ``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``.
MIGRATIONS: dict[int, str] = {
    version - 1: resources.files("omniq.backends.sqlite.migrations")
    .joinpath(f"v{version}.sql")
    .read_text("utf-8")
    for version in range(1, SCHEMA_VERSION + 1)
}


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create or upgrade the schema in one transaction, refusing foreign or newer databases.

    Args:
        conn: An autocommit connection.
        path: The database file, for messages.

    Raises:
        StoreCorruptedError: The database belongs to something else, or to a newer OmniQ.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        tables = {row[0] for row in rows}
        if version == 0 and tables:
            raise StoreCorruptedError(
                f"{str(path)!r} is a SQLite database of another application "
                f"(tables: {', '.join(sorted(tables))}); point db_path at a new file"
            )
        if version > SCHEMA_VERSION:
            raise StoreCorruptedError(
                f"{str(path)!r} has OmniQ schema version {version}, newer than this OmniQ "
                f"understands ({SCHEMA_VERSION}); upgrade omniq"
            )
        if version > 0:
            marker = conn.execute("SELECT value FROM omniq_meta WHERE key='schema'").fetchone()
            if marker is None or marker[0] != _MARKER:
                raise StoreCorruptedError(f"{str(path)!r} is not an OmniQ database")
        while version < SCHEMA_VERSION:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
            conn.execute(
                "INSERT OR REPLACE INTO omniq_meta (key, value) VALUES ('schema', ?)", (_MARKER,)
            )
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """Split a script into statements (a trigger's body, with its own ``;``, stays whole).

    ``--`` comments are dropped first (the schema has no ``--`` inside a string).
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines():
        pending += line.split("--", 1)[0] + "\n"
        if pending.strip() and sqlite3.complete_statement(pending):
            statements.append(pending.strip().rstrip(";").strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
