"""The project's schema: its name, and versioned migrations applied under an advisory lock.

Each project lives in a schema of its own (``omniq_<project>``): its tables, indexes and the
``claim`` function, and nothing else, so projects sharing a database never see each other's
tasks and ``DROP SCHEMA ... CASCADE`` removes one whole. Migrations are numbered SQL files
(``migrations/vN.sql``); they run in one transaction under a transaction-level advisory lock
keyed by the schema name, so many workers starting at once against an empty database create
the schema exactly once, and the others wait, then find it current.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from psycopg import AsyncConnection, sql

from omniq.exceptions import ConfigurationError, StoreCorruptedError

__all__ = ["SCHEMA_VERSION", "ensure_schema", "schema_name"]

#: The version the migrations reach; bump it with a new ``migrations/vN.sql``.
SCHEMA_VERSION = 1
_MARKER = "omniq"
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1

MIGRATIONS: dict[int, str] = {
    version: resources.files("omniq.backends.postgres.migrations")
    .joinpath(f"v{version}.sql")
    .read_text("utf-8")
    for version in range(1, SCHEMA_VERSION + 1)
}


def schema_name(project_name: str, schema: str | None = None) -> str:
    """The schema of a project: ``schema`` if given, else ``omniq_<project_name>``.

    A name longer than PostgreSQL's 63 bytes is cut and ends with a hash of the whole, so
    two long project names still get two schemas.

    Raises:
        ConfigurationError: ``schema`` is empty or longer than 63 bytes.
    """
    if schema is not None:
        if not isinstance(schema, str) or not schema or len(schema.encode()) > _MAX_IDENTIFIER:
            raise ConfigurationError(f"schema {schema!r} is not valid: expected 1-63 bytes of text")
        return schema
    name = f"omniq_{project_name}"
    if len(name.encode()) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(project_name.encode()).hexdigest()[:12]
    return f"{name[: _MAX_IDENTIFIER - 13]}_{digest}"


async def ensure_schema(conn: AsyncConnection[Any], schema: str) -> None:
    """Create or upgrade the project's schema, once however many processes race.

    Raises:
        StoreCorruptedError: The schema belongs to something else, or to a newer OmniQ.
    """
    quoted = sql.Identifier(schema).as_string(conn)
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"omniq:{schema}",)
        )
        version = await _version(conn, schema, quoted)
        if version > SCHEMA_VERSION:
            raise StoreCorruptedError(
                f"schema {schema!r} has OmniQ schema version {version}, newer than this "
                f"OmniQ understands ({SCHEMA_VERSION}); upgrade omniq"
            )
        if version == 0:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            await conn.execute(
                f"CREATE TABLE {quoted}.meta (key text PRIMARY KEY, value text NOT NULL)"
            )
            await conn.execute(
                f"INSERT INTO {quoted}.meta (key, value) VALUES ('schema', %s)", (_MARKER,)
            )
        while version < SCHEMA_VERSION:
            version += 1
            await conn.execute(MIGRATIONS[version].replace("{schema}", quoted))
            await conn.execute(
                f"INSERT INTO {quoted}.meta (key, value) VALUES ('version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )


async def _version(conn: AsyncConnection[Any], schema: str, quoted: str) -> int:
    """The schema's OmniQ version: 0 if it does not exist (or is empty)."""
    cursor = await conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
    )
    row = await cursor.fetchone()
    if row is None or row[0] == 0:
        return 0
    cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{quoted}.meta",))
    found = await cursor.fetchone()
    if found is None or not found[0]:
        raise StoreCorruptedError(
            f"schema {schema!r} holds tables of another application: "
            "give OmniQ a schema of its own (schema=...)"
        )
    cursor = await conn.execute(f"SELECT key, value FROM {quoted}.meta")
    meta: dict[str, str] = dict(await cursor.fetchall())
    if meta.get("schema") != _MARKER:
        raise StoreCorruptedError(f"schema {schema!r} is not an OmniQ schema")
    return int(meta.get("version", "0"))
