"""Torture run on SQLite: workers and producers killed with SIGKILL while tasks flow.

Four ``omniq worker`` processes serve one SQLite file; every 0.5-2 s one of them is killed
with SIGKILL and started again. Meanwhile producer processes enqueue batches with
``enqueue_many`` and are killed at random points too. At the end every task that reached the
store must have completed, nothing may be left waiting or executing, a task may have run more
than once only if an attempt of it was killed (its lease expired), no log may mention
"database is locked", and ``PRAGMA integrity_check`` must say ``ok``.

Usage::

    .venv/bin/python scripts/torture.py [--tasks 20000] [--workers 4] [--timeout 300]

Prints one line per check and exits non-zero if one fails.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from omniq import OmniQ, TaskStatus

JOBS = """
import os, random, time

def work(n, log):
    time.sleep(random.uniform(0, 0.04))
    with open(log, "a") as out:
        out.write(f"{n} {os.getpid()}\\n")
    return n
"""

PRODUCER = """
import random, sys, time
from omniq import OmniQ
import torture_jobs

db, log, first, count, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
with OmniQ(project_name="torture", db_path=db) as oq:
    for start in range(first, first + count, batch):
        numbers = range(start, min(start + batch, first + count))
        oq.enqueue_many(torture_jobs.work, [{"n": n, "log": log} for n in numbers],
                        name=f"batch-{start}", max_retries=20)
        time.sleep(random.uniform(0, 0.2))  # a web app's pace, so kills land mid-stream
"""


def main() -> int:
    """Run the torture and print the checks; 0 if all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="omniq-torture-"))
    (root / "torture_jobs.py").write_text(textwrap.dedent(JOBS))
    (root / "producer.py").write_text(textwrap.dedent(PRODUCER))
    db, runs, logs = root / "torture.db", root / "runs.log", root / "logs"
    logs.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OMNIQ_")},
        "PYTHONPATH": str(root),
    }
    omniq = [
        sys.executable,
        "-m",
        "omniq.cli",
        "worker",
        "--project",
        "torture",
        "--db-path",
        str(db),
        "--import",
        "torture_jobs",
        "--lease",
        "2",
        "-n",
        "4",
    ]
    with OmniQ(project_name="torture", db_path=db):
        pass  # the store exists before anyone races to create it
    rng = random.Random(7)
    started = time.monotonic()
    spawned = 0

    def start_worker() -> subprocess.Popen[bytes]:
        nonlocal spawned
        spawned += 1
        with (logs / f"worker-{spawned}.log").open("wb") as out:
            return subprocess.Popen(omniq, stdout=out, stderr=subprocess.STDOUT, env=env)

    workers = [start_worker() for _ in range(args.workers)]
    chunk = 500  # numbers per producer process; a killed one's rest is not retried
    chunks = iter(range(0, args.tasks, chunk))
    producer_kills = 0
    started_producers = 0

    def start_producer() -> subprocess.Popen[bytes] | None:
        nonlocal started_producers
        first = next(chunks, None)
        if first is None:
            return None
        started_producers += 1
        with (logs / f"producer-{started_producers}.log").open("wb") as err:
            return subprocess.Popen(
                [sys.executable, str(root / "producer.py"), str(db), str(runs), str(first),
                 str(min(chunk, args.tasks - first)), str(args.batch)],
                stdout=subprocess.DEVNULL, stderr=err, env=env,
            )  # fmt: skip

    producers = [p for p in (start_producer() for _ in range(args.producers)) if p is not None]
    worker_kills = 0
    next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
    with OmniQ(project_name="torture", db_path=db) as oq:
        while time.monotonic() - started < args.timeout:
            now = time.monotonic()
            if now >= next_kill:
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = start_worker()
                worker_kills += 1
                # Producers still running are killed now and then, mid-enqueue_many.
                alive = [p for p in producers if p.poll() is None]
                if alive and rng.random() < 0.5:
                    rng.choice(alive).send_signal(signal.SIGKILL)
                    producer_kills += 1
                next_kill = now + rng.uniform(0.5, 2.0)
            for index, producer in enumerate(producers):  # a finished or killed one: next
                if producer.poll() is not None:
                    replacement = start_producer()
                    if replacement is not None:
                        producers[index] = replacement
            producing = any(p.poll() is None for p in producers)
            counts = oq.stats().totals
            waiting = sum(counts.get(s, 0) for s in ("enqueued", "executing", "retrying"))
            if not producing and waiting == 0:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        tasks = oq.list_tasks(limit=args.tasks + 10)
        by_status = collections.Counter(task.status for task in tasks)
        runs_of = collections.Counter(line.split()[0] for line in runs.read_text().splitlines())
        batches = collections.Counter(task.name for task in tasks)
        torn = {name: n for name, n in batches.items() if n != args.batch}
        unexplained = []
        for task in tasks:
            n = str(task.args["n"])
            extra = runs_of.get(n, 0) - 1
            if extra > 0:
                expired = [
                    e
                    for e in oq.get_events(task.id)
                    if e.error is not None and "lease expired" in e.error
                ]
                if len(expired) < extra:
                    unexplained.append(n)
    locked = sum(p.read_text(errors="replace").count("database is locked") for p in logs.iterdir())
    with sqlite3.connect(db) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    stored = len(tasks)
    completed = by_status.get(TaskStatus.COMPLETED, 0)
    duplicates = sum(1 for count in runs_of.values() if count > 1)
    checks = [
        ("tasks stored (producers killed mid-batch: fewer than asked)", stored, stored > 0),
        ("enqueue_many batches stored in part (must be 0)", len(torn), not torn),
        ("lost: stored but not completed", stored - completed, completed == stored),
        (
            "stuck: waiting or executing at the end",
            sum(
                by_status.get(s, 0)
                for s in (TaskStatus.ENQUEUED, TaskStatus.EXECUTING, TaskStatus.RETRYING)
            ),
            completed == stored,
        ),
        ("run more than once", duplicates, True),
        (
            "... without a killed attempt to explain it (must be 0)",
            len(unexplained),
            not unexplained,
        ),
        ("'database is locked' in the logs", locked, locked == 0),
        ("PRAGMA integrity_check", integrity, integrity == "ok"),
    ]
    print(
        f"{args.tasks} tasks asked by {started_producers} producer processes "
        f"({producer_kills} killed mid-stream), "
        f"{args.workers} workers killed {worker_kills} times, {elapsed:.1f} s; store {root}"
    )
    for label, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {value}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
