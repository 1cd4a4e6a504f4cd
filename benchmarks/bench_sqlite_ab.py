"""This checkout's SQLite backend against another version of OmniQ, in alternating runs.

Usage::

    git worktree add /tmp/omniq-base <revision>
    .venv/bin/python benchmarks/bench_sqlite_ab.py --base /tmp/omniq-base/src \\
        [--scenario one] [--tasks 5000] [--rounds 3]

Whole runs of ``bench_sqlite.py`` move the one-task-per-call ratios by a tenth or more on a
shared machine, more than most single changes are worth. This bench measures one change at a
time instead: each round runs the scenario once with the other version (its ``src`` directory
first on ``PYTHONPATH``, for the worker process too) and once with this checkout, one right
after the other, in fresh stores. It prints every figure and the medians.

Scenarios (all at ``synchronous=FULL``, the worker in its own process, as in
``bench_sqlite.py``):

- ``enqueue``: ``enqueue()`` one by one, no worker;
- ``one``: end to end, one producer calling ``enqueue()`` one by one;
- ``many``: end to end, ``enqueue_many`` in batches of 500;
- ``procs``: end to end, 8 producer processes calling ``enqueue()`` one by one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = ("enqueue", "one", "many", "procs")
BATCH = 500  # enqueue_many's batch, as bench_sqlite.py's default


def child(scenario: str, tasks: int) -> float:
    """Run ``scenario`` once in this process (with whatever OmniQ it imports); tasks/s."""
    sys.path.insert(0, str(HERE))
    import bench_sqlite as bench
    from bench_tasks import noop

    with tempfile.TemporaryDirectory(prefix="omniq-ab-") as folder:
        db_path = os.path.join(folder, "queue.db")
        if scenario == "enqueue":
            with bench.open_omniq(db_path, "FULL") as oq:
                oq.enqueue(noop, func_args={"i": -1})  # schema, caches
                started = time.perf_counter()
                for i in range(tasks):
                    oq.enqueue(noop, func_args={"i": i})
                return tasks / (time.perf_counter() - started)
        with bench.open_omniq(db_path, "FULL"):
            pass  # the schema, before the worker starts
        options = [f"--{key.replace('_', '-')}={value}"
                   for key, value in bench.WORKER_OPTIONS.items()]  # fmt: skip
        with (
            bench.worker_subprocess("omniq", db_path, "--synchronous=FULL", *options),
            bench.open_omniq(db_path, "FULL") as oq,
        ):
            oq.get_result(oq.enqueue(noop, func_args={"i": -1}), timeout=30,
                          poll_interval=bench.CROSS_PROCESS_POLL)  # fmt: skip
            batch = BATCH if scenario == "many" else None
            processes = scenario == "procs"
            producers = bench.PRODUCERS if processes else 1
            return bench.omniq_e2e(oq, db_path, noop, tasks, batch, producers, processes)


def run_version(scenario: str, tasks: int, src: Path | None) -> float:
    """Run the scenario in a child process with OmniQ from ``src`` (or this checkout)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--child", scenario, "--tasks", str(tasks)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the other version's src directory")
    parser.add_argument("--scenario", choices=SCENARIOS, default="one")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(child(args.child, args.tasks))
        return
    if args.base is None or not (args.base / "omniq" / "__init__.py").exists():
        parser.error(f"--base {args.base} is not a src directory holding omniq/")
    base: list[float] = []
    this: list[float] = []
    for _ in range(args.rounds):
        base.append(run_version(args.scenario, args.tasks, args.base))
        this.append(run_version(args.scenario, args.tasks, None))
    print(f"scenario {args.scenario}, N={args.tasks}, {args.rounds} alternating rounds (tasks/s)")
    print(f"base ({args.base}): " + " / ".join(f"{value:,.0f}" for value in base))
    print("this checkout:      " + " / ".join(f"{value:,.0f}" for value in this))
    ratio = statistics.median(this) / statistics.median(base)
    print(
        f"medians: {statistics.median(base):,.0f} -> {statistics.median(this):,.0f} ({ratio:.2f}x)"
    )


if __name__ == "__main__":
    main()
