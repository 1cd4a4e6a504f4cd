"""process_pool vs thread_pool on this machine: no-op throughput and a CPU-bound batch.

Usage::

    .venv/bin/python benchmarks/bench_worker_types.py            # ~30 s on 2 cores
    .venv/bin/python benchmarks/bench_worker_types.py --quick    # smaller, ~10 s

Every scenario uses a fresh SQLite file in a temporary directory and a worker with
``max_workers=2`` in the benchmark's process. Figures:

* no-op throughput: ``enqueue_many`` of N no-op tasks, then wait for every result; tasks/s
  over that whole span, after one warm-up task (so child start-up is excluded).
* CPU batch: K tasks counting the primes below P by trial division; wall time and the
  speed-up of process_pool over thread_pool (the GIL serialises the thread pool).
* child start-up (process_pool only): the first task of a fresh pool (includes starting the
  fork server the first time), and the first task after a child died (a replacement fork).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_tasks import noop
from omniq import OmniQ, TaskFailedError


def count_primes(below: int) -> int:
    """CPU-bound: count primes below ``below`` by trial division (pure Python)."""
    count = 1 if below > 2 else 0
    for candidate in range(3, below, 2):
        divisor = 3
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 2
        else:
            count += 1
    return count


def die() -> None:
    os._exit(1)


def _omniq(tmp: str, name: str) -> OmniQ:
    return OmniQ(project_name=name, backend_type="sqlite", db_path=Path(tmp) / f"{name}.db")


def noop_throughput(worker_type: str, tasks: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, _omniq(tmp, worker_type) as oq:
        oq.start_worker(worker_type=worker_type, max_workers=2)
        oq.get_result(oq.enqueue(func=noop), timeout=60)  # warm-up: children started
        started = time.perf_counter()
        ids = oq.enqueue_many(noop, [{"i": i} for i in range(tasks)])
        for task_id in ids:
            oq.get_result(task_id, timeout=120)
        return tasks / (time.perf_counter() - started)


def cpu_batch(worker_type: str, tasks: int, below: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, _omniq(tmp, worker_type) as oq:
        oq.start_worker(worker_type=worker_type, max_workers=2)
        oq.get_result(oq.enqueue(func=noop), timeout=60)
        started = time.perf_counter()
        ids = oq.enqueue_many(count_primes, [{"below": below}] * tasks)
        results = {oq.get_result(task_id, timeout=600) for task_id in ids}
        assert len(results) == 1, results
        return time.perf_counter() - started


def child_start_up() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, _omniq(tmp, "startup") as oq:
        oq.start_worker(worker_type="process_pool", max_workers=1)
        started = time.perf_counter()
        oq.get_result(oq.enqueue(func=noop), timeout=60)
        cold = time.perf_counter() - started
        crashed = oq.enqueue(func=die, max_retries=0)
        with contextlib.suppress(TaskFailedError):
            oq.get_result(crashed, timeout=60)
        started = time.perf_counter()
        oq.get_result(oq.enqueue(func=noop), timeout=60)
        return cold, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches")
    args = parser.parse_args()
    noops, cpu_tasks, below = (300, 4, 100_000) if args.quick else (1000, 8, 200_000)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, max_workers=2, SQLite")
    cold, restart = child_start_up()
    print(f"process_pool first task (cold pool): {cold * 1000:.0f} ms")
    print(f"process_pool first task after a child died: {restart * 1000:.0f} ms")
    for worker_type in ("thread_pool", "process_pool"):
        rate = noop_throughput(worker_type, noops)
        print(f"{worker_type:>12}: {noops} no-op tasks at {rate:,.0f} tasks/s")
    seconds = {}
    for worker_type in ("thread_pool", "process_pool"):
        seconds[worker_type] = cpu_batch(worker_type, cpu_tasks, below)
        took = seconds[worker_type]
        print(f"{worker_type:>12}: {cpu_tasks} x count_primes(<{below:,}) in {took:.2f} s")
    speed_up = seconds["thread_pool"] / seconds["process_pool"]
    print(f"process_pool speed-up on the CPU batch: {speed_up:.2f}x")


if __name__ == "__main__":
    # Enqueue this module's functions by reference (bench_worker_types:count_primes), not
    # by value as __main__ functions: child processes import it from benchmarks/.
    from bench_worker_types import main as imported_main

    imported_main()
