"""The peers of ``bench_redis.py``: one no-op task per library, registered at import.

The benchmark process (producer) and each worker process import this module with the same
``OMNIQ_BENCH_NS`` (the run's namespace) and ``OMNIQ_BENCH_REDIS_URL``, so tasks are
registered under the same names on both sides. Each library is imported only when asked
for: the peers come with ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import os
from typing import Any

NS = os.environ.get("OMNIQ_BENCH_NS", "omniq-bench")
URL = os.environ.get("OMNIQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def noop(i: int = 0) -> int:
    """The task body of OmniQ and RQ: returns its argument (results are stored)."""
    return i


def huey_app() -> tuple[Any, Any]:
    """A ``RedisHuey`` at its default settings, and its no-op task."""
    from huey import RedisHuey

    huey = RedisHuey(f"{NS}-huey", url=URL)

    @huey.task(name="noop")
    def huey_noop(i: int = 0) -> int:
        return i

    return huey, huey_noop


async def saq_noop(ctx: Any, *, i: int = 0) -> int:
    """SAQ's no-op (SAQ passes a context and keyword arguments)."""
    return i


def saq_queue() -> Any:
    """SAQ's queue for this run."""
    from saq import Queue

    return Queue.from_url(URL, name=f"{NS}-saq")


async def arq_noop(ctx: Any, i: int = 0) -> int:
    """arq's no-op."""
    return i


def arq_settings() -> Any:
    """arq's worker settings: its documented options, with the 0.01 s poll the issue names."""
    from arq.connections import RedisSettings

    class Settings:
        functions = [arq_noop]
        redis_settings = RedisSettings.from_dsn(URL)
        queue_name = f"{NS}-arq"
        poll_delay = 0.01
        handle_signals = True

    return Settings
