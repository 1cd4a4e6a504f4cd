"""The named statements of ``queries.sql``, bound to one project's schema."""

from __future__ import annotations

from importlib import resources

__all__ = ["SCHEDULE_COLUMNS", "TASK_COLUMNS", "Queries"]

#: The task columns every task read selects, in :func:`rows.task_from_row` order.
TASK_COLUMNS = (
    "id", "func_name", "payload", "queue_name", "priority", "status", "created_at", "run_at",
    "expires_at", "name", "description", "tags", "max_retries", "retry_count", "attempts",
    "retry_delay", "retry_backoff", "retry_max_delay", "result_ttl", "store_result",
    "started_at", "finished_at", "worker_id", "lease_expires_at", "error", "schedule_id",
    "timeout", "callback", "depends_on", "cancel_requested",
)  # fmt: skip
#: The schedule columns, in :func:`rows.schedule_from_row` order.
SCHEDULE_COLUMNS = (
    "id", "func_name", "payload", "spec", "status", "next_run_at", "run_count", "max_runs",
    "created_at", "last_run_at",
)  # fmt: skip

_TEXT = resources.files("omniq.backends.postgres").joinpath("queries.sql").read_text("utf-8")


def _sections(text: str) -> dict[str, str]:
    """``-- name: x`` sections of a SQL file, comments kept (they are harmless)."""
    found: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name is not None:
                found[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.removeprefix("-- name:").strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        found[name] = "\n".join(lines).strip().rstrip(";")
    return found


class Queries:
    """Every statement of ``queries.sql`` with ``{schema}`` filled in, as attributes.

    Args:
        quoted_schema: The project's schema as a quoted SQL identifier.
    """

    def __init__(self, quoted_schema: str) -> None:
        fill = {
            "schema": quoted_schema,
            "task_columns": ", ".join(TASK_COLUMNS),
            "waiting_columns": ", ".join(f"w.{column}" for column in TASK_COLUMNS),
            "schedule_columns": ", ".join(SCHEDULE_COLUMNS),
        }
        self._statements = {name: text.format(**fill) for name, text in _sections(_TEXT).items()}

    def __getattr__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise AttributeError(f"no statement named {name!r} in queries.sql") from None

    def names(self) -> list[str]:
        """The statement names (for tests)."""
        return list(self._statements)
