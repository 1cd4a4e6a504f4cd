"""Task bodies shared by the benchmark and its worker processes.

They live in their own module so that OmniQ stores them by reference (``bench_tasks:noop``)
and a worker in another process can import them: every benchmark script runs with
``benchmarks/`` as ``sys.path[0]``.

The no-ops return their argument rather than ``None`` because Huey does not store ``None``
results by default (``store_none=False``), and its result ``.get()`` would then never return.
"""

from __future__ import annotations

from typing import Any


def noop(i: int = 0) -> int:
    """Do nothing (plain function: run by the thread pool)."""
    return i


async def anoop(i: int = 0) -> int:
    """Do nothing (coroutine function: awaited on the loop of an ``async`` worker)."""
    return i


def huey_app(db_path: str, timeout: float | None = None) -> tuple[Any, Any]:
    """A ``SqliteHuey`` at its default settings on ``db_path``, and its no-op task.

    Both the benchmark (producer) and the consumer process build the app with this function,
    so the task is registered under the same name (``bench_tasks.noop``) on both sides.

    Args:
        db_path: The database file.
        timeout: SQLite's busy timeout in seconds (Huey's ``timeout`` option), if not its
            default (5 s).
    """
    from huey import SqliteHuey

    options = {} if timeout is None else {"timeout": timeout}
    huey = SqliteHuey(name="bench", filename=db_path, **options)
    return huey, huey.task()(noop)
