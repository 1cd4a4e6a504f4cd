"""What SQLite's maintained task counts (schema v5 triggers) cost an enqueue.

Usage::

    .venv/bin/python benchmarks/bench_sqlite_counts.py [--rounds 5]

The baseline is the same store with the three counting triggers dropped (what OmniQ did
before schema v5): each round enqueues into a fresh store with the triggers and into one
without them, one after the other, so both see the same machine. Prints the median rate of
each and their ratio, for ``enqueue()`` one by one (3,000 tasks) and ``enqueue_many`` in
batches of 500 (20,000 tasks), at the default ``synchronous=FULL``.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from omniq import OmniQ

TRIGGERS = ("tasks_count_insert", "tasks_count_delete", "tasks_count_update")


def noop() -> None:
    """The task: nothing."""


def rate(with_triggers: bool, tasks: int, batch: bool) -> float:
    """Tasks/s enqueued into a fresh store, with or without the counting triggers."""
    folder = Path(tempfile.mkdtemp(prefix="omniq-counts-"))
    path = folder / "queue.db"
    try:
        with OmniQ(project_name="counts", db_path=path):
            pass  # creates the schema
        if not with_triggers:
            with sqlite3.connect(path) as conn:
                for trigger in TRIGGERS:
                    conn.execute(f"DROP TRIGGER {trigger}")
        with OmniQ(project_name="counts", db_path=path) as oq:
            oq.enqueue(noop)  # warm up
            started = time.perf_counter()
            if batch:
                for _ in range(tasks // 500):
                    oq.enqueue_many(noop, [{}] * 500)
            else:
                for _ in range(tasks):
                    oq.enqueue(noop)
            return tasks / (time.perf_counter() - started)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for label, tasks, batch in (("enqueue() one by one", 3000, False),
                                ("enqueue_many(500)", 20000, True)):  # fmt: skip
        rates: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for with_triggers in (True, False):
                rates[with_triggers].append(rate(with_triggers, tasks, batch))
        kept, baseline = statistics.median(rates[True]), statistics.median(rates[False])
        print(f"{label:22} counts kept {kept:9,.0f}/s   baseline (no triggers) "
              f"{baseline:9,.0f}/s   ratio {kept / baseline:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
