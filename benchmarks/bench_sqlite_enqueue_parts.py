"""Where one ``enqueue()`` at ``synchronous=FULL`` spends its time, part by part.

Usage::

    .venv/bin/python benchmarks/bench_sqlite_enqueue_parts.py [--tasks 1000] [--rounds 5]

One store created by OmniQ (its schema, indexes and counting triggers), and in each round,
one after the other so that all see the same machine, ``--tasks`` commits of each of:

- ``raw``: the raw loop of ``bench_sqlite.py``, one task insert per ``BEGIN IMMEDIATE ...
  COMMIT`` (the baseline: every ratio is against it);
- ``raw+event``: the same with the task's ``enqueued`` event inserted in the same commit,
  as OmniQ writes it;
- ``raw+event+utime``: that, then ``utime`` on the ``-wal`` after the commit (how OmniQ
  marked a commit for other processes' file watches before);
- ``raw+event+open``: that, then an ``open`` and ``close`` of the ``-wal`` (how it marks a
  commit now);
- ``omniq``: ``OmniQ.enqueue()`` one by one.

Prints the median rate of each, its ratio to ``raw``, and its CPU time per commit (of this
process: the kernel's share of a commit at ``FULL`` included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sqlite import _RAW_INSERT, raw_connect  # noqa: E402
from bench_tasks import noop  # noqa: E402
from omniq import OmniQ  # noqa: E402
from omniq.backends.sqlite.event_store import INSERT_EVENT  # noqa: E402


def raw_loop(
    conn: sqlite3.Connection, tasks: int, event: bool, mark: Callable[[], None] | None
) -> None:
    """``tasks`` commits of one task insert (and its event), each followed by ``mark``."""
    payload = os.urandom(96)
    for _ in range(tasks):
        now = time.time()
        task_id = uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_RAW_INSERT, (task_id, payload, now, now))
        if event:
            conn.execute(INSERT_EVENT, (task_id, "enqueued", now, None, None, None))
        conn.execute("COMMIT")
        if mark is not None:
            mark()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="commits per part and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians are shown)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="omniq-parts-"))
    path = folder / "queue.db"
    wal = f"{path}-wal"
    try:
        with OmniQ(project_name="parts", db_path=path) as oq:
            oq.enqueue(noop, func_args={"i": -1})  # schema, caches, the -wal
            conn = raw_connect(str(path), "FULL")

            def omniq() -> None:
                for i in range(args.tasks):
                    oq.enqueue(noop, func_args={"i": i})

            parts: dict[str, Callable[[], None]] = {
                "raw": lambda: raw_loop(conn, args.tasks, False, None),
                "raw+event": lambda: raw_loop(conn, args.tasks, True, None),
                "raw+event+utime": lambda: raw_loop(conn, args.tasks, True,
                                                    lambda: os.utime(wal)),
                "raw+event+open": lambda: raw_loop(
                    conn, args.tasks, True, lambda: os.close(os.open(wal, os.O_RDONLY))
                ),
                "omniq": omniq,
            }  # fmt: skip
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in parts}
            for _ in range(args.rounds):
                for name, run in parts.items():
                    started, cpu = time.perf_counter(), time.process_time()
                    run()
                    elapsed = time.perf_counter() - started
                    used = time.process_time() - cpu
                    figures[name].append((args.tasks / elapsed, used / args.tasks * 1e6))
            conn.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    base = statistics.median(rate for rate, _ in figures["raw"])
    print(f"synchronous=FULL, {args.tasks} commits per part, medians of {args.rounds} rounds")
    print(f"{'part':18s} {'commits/s':>10s} {'vs raw':>7s} {'CPU us/commit':>14s}")
    for name, values in figures.items():
        rate = statistics.median(value for value, _ in values)
        cpu = statistics.median(value for _, value in values)
        print(f"{name:18s} {rate:10,.0f} {rate / base:6.2f}x {cpu:14.0f}")


if __name__ == "__main__":
    main()
