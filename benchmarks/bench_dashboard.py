"""How fast the dashboard answers on a SQLite store holding 1,000,000 tasks.

Fills a store (``enqueue_many`` in batches of 20,000 over four queues, then one SQL update
gives 90% of them a final status as if workers had run them, with their events), then
times requests against the app in-process (Starlette's TestClient: no network), warmed up,
and prints the median and p90 of each page. The baseline in the same run is ``omniq status``'s
own read (``OmniQ.stats``), the call the overview makes.

    .venv/bin/python benchmarks/bench_dashboard.py [--tasks 1000000] [--db PATH]
    .venv/bin/python benchmarks/bench_dashboard.py --postgres postgresql://postgres@127.0.0.1/test

The issue's targets: overview <= 100 ms, a filtered task page <= 200 ms.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from omniq import OmniQ

QUEUES = ("default", "emails", "reports", "billing")
BATCH = 20_000


def work(n: int) -> int:
    return n * 2


def enqueue_all(config: dict[str, Any], total: int) -> None:
    """Enqueue ``total`` tasks in batches over :data:`QUEUES`."""
    with OmniQ.from_config_dict(config) as oq:
        done = 0
        while done < total:
            count = min(BATCH, total - done)
            queue = QUEUES[(done // BATCH) % len(QUEUES)]
            oq.enqueue_many(
                work,
                ({"n": done + i} for i in range(count)),
                queue_name=queue,
                name=f"job-{queue}",
                tags=[queue, "bench"],
            )
            done += count


def fill(db_path: Path, total: int) -> None:
    """Store ``total`` tasks in ``db_path``; 90% of them finished (2% failed)."""
    started = time.perf_counter()
    enqueue_all(sqlite_config(db_path), total)
    conn = sqlite3.connect(db_path)
    now = time.time()
    with conn:
        conn.execute(
            "UPDATE tasks SET status = CASE WHEN seq % 50 = 1 THEN 'failed' ELSE 'completed' END,"
            " started_at = created_at + 0.01, finished_at = created_at + 0.02,"
            " attempts = 1, worker_id = 'bench:1:x' WHERE seq % 10 != 0"
        )
        conn.execute(
            "INSERT INTO events (task_id, type, timestamp, worker_id)"
            " SELECT id, 'completed', ? - (1000000 - seq) * 0.003, worker_id FROM tasks"
            " WHERE status = 'completed' AND seq > (SELECT MAX(seq) FROM tasks) - 50000",
            (now,),
        )
    conn.execute("ANALYZE")
    conn.close()
    print(f"filled {total:,} tasks in {time.perf_counter() - started:.1f} s")


def sqlite_config(db_path: Path) -> dict[str, Any]:
    return {"project_name": "bench", "task_queue": {"config": {"db_path": str(db_path)}}}


def postgres_config(dsn: str, project: str) -> dict[str, Any]:
    return {
        "project_name": project,
        "task_queue": {"type": "postgres", "config": {"dsn": dsn}},
    }


def fill_postgres(dsn: str, project: str, total: int) -> None:
    """The same store on PostgreSQL (schema ``omniq_<project>``)."""
    import psycopg

    started = time.perf_counter()
    enqueue_all(postgres_config(dsn, project), total)
    now = time.time()
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema = f"omniq_{project}"
        conn.execute(
            f"UPDATE {schema}.tasks SET status = CASE WHEN seq % 50 = 1 THEN 'failed'"
            " ELSE 'completed' END, started_at = created_at + 0.01,"
            " finished_at = created_at + 0.02, attempts = 1, worker_id = 'bench:1:x'"
            " WHERE seq % 10 != 0"
        )
        conn.execute(
            f"INSERT INTO {schema}.events (task_id, type, timestamp, worker_id)"
            f" SELECT id, 'completed', %s - ({total} - seq) * 0.003, worker_id"
            f" FROM {schema}.tasks WHERE status = 'completed'"
            f" AND seq > (SELECT max(seq) FROM {schema}.tasks) - 50000",
            (now,),
        )
        conn.execute(f"VACUUM ANALYZE {schema}.tasks")
    print(f"filled {total:,} tasks in {time.perf_counter() - started:.1f} s")


def drop_postgres(dsn: str, project: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS omniq_{project} CASCADE")


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and p90 of ``runs`` calls after two warm-up calls, in ms."""
    call()
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def open_display(config: dict[str, Any]) -> OmniQ:
    """An OmniQ as ``omniq dashboard`` opens it: pickles shown as placeholders."""
    oq = OmniQ.from_config_dict(config)
    oq.serializer = oq.serializer.for_display()
    return oq.open()


def measure(config: dict[str, Any], where: str, runs: int) -> None:
    """Time the pages against the store of ``config`` and print a table."""
    from starlette.testclient import TestClient

    from omniq.dashboard import DashboardSettings, create_app

    token = "bench-token-0123456789abcdef"
    with open_display(config) as oq, open_display(config) as counter:  # as omniq dashboard does
        total = sum(oq.stats().totals.values())
        print(f"store: {total:,} tasks in {where}")
        app = create_app(oq, DashboardSettings(token=token), counter=counter)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            client.headers["authorization"] = f"Bearer {token}"

            def get(url: str) -> Callable[[], object]:
                def call() -> object:
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                    return response

                return call

            html = client.get("/tasks?status=failed").text
            cursor = html.split("before=")[1].split('"')[0]
            some_id = html.split('href="/tasks/')[1].split('"')[0]
            cache = app.state.dashboard.counts
            rows: list[tuple[str, Callable[[], object]]] = [
                ("baseline: OmniQ.stats() (what omniq status reads)", oq.stats),
                ("overview count refresh (stats + running tasks)", lambda: _run(cache.fresh())),
                ("GET / (overview, from the latest count)", get("/")),
                ("GET /api/activity (charts)", get("/api/activity")),
                ("GET /tasks", get("/tasks")),
                ("GET /tasks?status=failed", get("/tasks?status=failed")),
                ("GET /tasks?status=failed (page 2, keyset)",
                 get(f"/tasks?status=failed&before={cursor}")),
                ("GET /tasks?queue=emails", get("/tasks?queue=emails")),
                ("GET /tasks?status=failed&queue=billing",
                 get("/tasks?status=failed&queue=billing")),
                ("GET /tasks?name=job-reports", get("/tasks?name=job-reports")),
                ("GET /tasks?tag=reports", get("/tasks?tag=reports")),
                ("GET /tasks?status=executing (none)", get("/tasks?status=executing")),
                ("GET /tasks?q=<id prefix>", get(f"/tasks?q={some_id[:8]}")),
                ("GET /failed", get("/failed")),
                ("GET /tasks/<id> (task page)", get(f"/tasks/{some_id}")),
            ]  # fmt: skip
            print(f"{'request':<52} {'median ms':>10} {'p90 ms':>8}")
            for label, call in rows:
                median, p90 = timed(call, runs)
                print(f"{label:<52} {median:>10.1f} {p90:>8.1f}")
            # A page while the overview's count scans the store (on its own connection).
            stop = threading.Event()

            def count_forever() -> None:
                while not stop.is_set():
                    counter.stats()

            scanner = threading.Thread(target=count_forever)
            scanner.start()
            try:
                during = [
                    ("GET /tasks?status=failed during a count", "/tasks?status=failed"),
                    ("GET / during a count", "/"),
                ]
                for label, url in during:
                    median, p90 = timed(get(url), runs)
                    print(f"{label:<52} {median:>10.1f} {p90:>8.1f}")
            finally:
                stop.set()
                scanner.join()


def _run(coro: Coroutine[Any, Any, object]) -> object:
    from omniq.core.portal import portal

    return portal().call(coro)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="reuse (or create) this store")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--postgres", metavar="DSN", help="measure PostgreSQL instead")
    args = parser.parse_args()
    if args.postgres:
        project = f"benchdash_{os.getpid()}"
        try:
            fill_postgres(args.postgres, project, args.tasks)
            measure(postgres_config(args.postgres, project), f"PostgreSQL ({project})", args.runs)
        finally:
            drop_postgres(args.postgres, project)
    else:
        with tempfile.TemporaryDirectory(prefix="omniq-bench-dash-") as directory:
            path = args.db or Path(directory) / "bench.db"
            if not path.exists():
                fill(path, args.tasks)
            measure(sqlite_config(path), str(path), args.runs)
