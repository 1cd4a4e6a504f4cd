"""The PostgreSQL peers of the benchmark, built the same way by the producer and the worker.

Each peer lives in a schema of its own (``search_path``), so the benchmark never touches
anything else in the shared database and drops the schema when done.
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo


def in_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` set to ``schema`` (for peers that take no schema option)."""
    params = conninfo_to_dict(dsn)
    params["options"] = f"-c search_path={schema}"
    return make_conninfo("", **params)


def procrastinate_app(dsn: str, schema: str) -> tuple[Any, Any]:
    """A procrastinate app on ``schema`` and its no-op task (``async def``, returns its input)."""
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=in_schema(dsn, schema))
    )

    @app.task(name="noop", queue="default")
    async def noop(i: int = 0) -> int:
        return i

    return app, noop
