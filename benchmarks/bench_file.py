"""OmniQ's file backend on a local disk vs OmniQ SQLite vs SqliteHuey, in one run.

Usage::

    .venv/bin/python benchmarks/bench_file.py            # full run: N=10,000 (~3-4 minutes)
    .venv/bin/python benchmarks/bench_file.py --quick    # smoke run: N=1,000, depths 1k/5k

Every system runs the same scenario: a worker in its own process (OmniQ: ``max_workers=4,
poll_interval=0.02``; Huey: its consumer at default settings), and one producer in this
process calling ``enqueue()`` one task at a time (Huey: calling the task), each call
returning once its task is durable. Figures:

* **end to end** (tasks/s): N no-op tasks, from just before the first enqueue to the last
  result stored (OmniQ: the largest ``finished_at``, stamped after the result is durable;
  Huey: when all N results are in its table, polled every 2 ms).
* **latency p50 / p99** (ms): ``enqueue`` then ``get_result`` (client polling every 2 ms;
  Huey: ``.get(blocking=True)`` with its default backoff), one task at a time.
* **claim cost vs depth** (ms per claim of one task): with 1k, 10k and 100k tasks waiting
  in the queue, the mean time of ``TaskQueue.claim(limit=1)`` called directly, for the file
  backend and for OmniQ SQLite (Huey has no claim verb to time).

The file backend runs with ``durable=True`` (its default): every durable write is fsynced,
and so is every directory a write changed. SQLite runs at ``synchronous=FULL``. Each store
lives in a fresh temporary directory (``--tmp-dir``), removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sqlite import (  # noqa: E402 - benchmarks/ is not a package
    PeakRss,
    percentile,
    poll_until,
    pressure,
    source_state,
    wait_huey_done,
    wait_omniq_done,
)

WORKER_OPTIONS: dict[str, Any] = {"max_workers": 4, "poll_interval": 0.02}
CLIENT_POLL = 0.002
CLAIMS_PER_DEPTH = 200


# -- the worker process --------------------------------------------------------------------


def worker_main(system: str, location: str) -> None:
    """``bench_file.py --worker SYSTEM LOCATION``: run a worker until stdin closes."""
    if system == "huey":
        from bench_tasks import huey_app

        huey, _ = huey_app(location)
        consumer = huey.create_consumer()
        print("ready", flush=True)
        consumer.run()
        return
    stop = threading.Event()
    with open_omniq(system, location) as oq:
        oq.start_worker(**WORKER_OPTIONS)
        print("ready", flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        oq.stop_worker(grace_period=5)


@contextlib.contextmanager
def worker(system: str, location: str) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", system, location]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{command} failed to start (exit {proc.wait(5)})")
        yield proc
    finally:
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# -- systems ---------------------------------------------------------------------------------


def open_omniq(system: str, location: str) -> Any:
    from omniq import OmniQ

    if system == "file":
        return OmniQ(project_name="bench", backend_type="file", path=location)
    if system == "file-nodirsync":
        return OmniQ(project_name="bench", backend_type="file", path=location,
                     sync_directories=False)  # fmt: skip
    return OmniQ(project_name="bench", backend_type="sqlite", db_path=location,
                 synchronous="FULL")  # fmt: skip


def file_done(root: Path, expected: int) -> float:
    """Wait until no task is queued or running; check ``expected`` completed tasks.

    Returns:
        Their largest ``finished_at`` (stamped when the result and status were written).
    """

    def pending() -> int:
        queued = sum(len(files) for _, _, files in os.walk(root / "queues"))
        running = root / "running"
        return queued + (len(os.listdir(running)) if running.exists() else 0)

    poll_until(lambda: pending() == 0, 0.05, "file drain")
    finished = []
    for path in root.glob("tasks/*.json"):
        task = json.loads(path.read_bytes())["task"]
        if task["status"] == "completed":
            finished.append(task["finished_at"])
    if len(finished) != expected:
        raise RuntimeError(f"{len(finished)} of {expected} tasks completed")
    return max(finished)


def scenario_omniq(system: str, location: str, n: int, samples: int) -> dict[str, Any]:
    from bench_tasks import noop

    out: dict[str, Any] = {}
    with open_omniq(system, location):
        pass  # create the store before the worker starts
    with worker(system, location) as proc, PeakRss(proc.pid) as rss, \
            open_omniq(system, location) as oq:  # fmt: skip
        oq.get_result(oq.enqueue(noop, func_args={"i": -1}), timeout=30, poll_interval=0.002)
        started = time.time()
        for i in range(n):
            oq.enqueue(noop, func_args={"i": i})
        if system.startswith("file"):
            end = file_done(Path(location) / "bench", n + 1)
        else:
            end = wait_omniq_done(location, 1, n)
        out["e2e"] = n / (end - started)
        lat = []
        for i in range(samples):
            t0 = time.perf_counter()
            oq.get_result(oq.enqueue(noop, func_args={"i": i}), timeout=30,
                          poll_interval=CLIENT_POLL)  # fmt: skip
            lat.append((time.perf_counter() - t0) * 1000)
        out["lat"] = lat
        out["rss"] = rss.read()
    return out


def scenario_huey(location: str, n: int, samples: int) -> dict[str, Any]:
    from bench_tasks import huey_app

    out: dict[str, Any] = {}
    _, task = huey_app(location)
    with worker("huey", location) as proc, PeakRss(proc.pid) as rss:
        task(-1).get(blocking=True, timeout=30)
        started = time.time()
        for i in range(n):
            task(i)
        out["e2e"] = n / (wait_huey_done(location, n) - started)
        lat = []
        for i in range(samples):
            t0 = time.perf_counter()
            task(i).get(blocking=True, timeout=30)
            lat.append((time.perf_counter() - t0) * 1000)
        out["lat"] = lat
        out["rss"] = rss.read()
    return out


def claim_cost(system: str, location: str, depth: int) -> float:
    """Mean ms of ``claim(limit=1)`` with ``depth`` tasks waiting (filled with enqueue_many)."""
    from omniq.backends import create_backend
    from omniq.storage.records import TaskRecord

    options = {"path": location} if system == "file" else {"db_path": location}
    backend = create_backend(system, "bench", **options)
    backend.initialize()
    try:
        now = time.time()

        async def fill() -> None:
            for start in range(0, depth, 1000):
                await backend.task_queue.enqueue([
                    TaskRecord(id=f"t{i:07d}", func_name="bench_tasks:noop", payload=b"\x00",
                               created_at=now, run_at=now)
                    for i in range(start, min(depth, start + 1000))
                ])  # fmt: skip

        async def claims() -> float:
            started = time.perf_counter()
            for _ in range(CLAIMS_PER_DEPTH):
                got = await backend.task_queue.claim(["default"], 1, "w", time.time(),
                                                     time.time() + 60)  # fmt: skip
                assert len(got) == 1
            return (time.perf_counter() - started) * 1000 / CLAIMS_PER_DEPTH

        asyncio.run(fill())
        return asyncio.run(claims())
    finally:
        backend.close()


# -- the run --------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh(tmp_dir: str | None, label: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix=f"omniq-bench-{label}-", dir=tmp_dir) as d:
        yield d


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    figures: dict[str, Any] = {"load": os.getloadavg(), "pressure_start": pressure()}
    n, samples = args.tasks, args.samples
    log(f"file backend: {n} tasks end to end, {samples} latency samples")
    with fresh(args.tmp_dir, "file") as d:
        figures["file"] = scenario_omniq("file", d, n, samples)
    log("file backend, sync_directories=False")
    with fresh(args.tmp_dir, "file-nodirsync") as d:
        figures["file-nodirsync"] = scenario_omniq("file-nodirsync", d, n, samples)
    log("OmniQ SQLite (FULL)")
    with fresh(args.tmp_dir, "sqlite") as d:
        figures["sqlite"] = scenario_omniq("sqlite", os.path.join(d, "bench.db"), n, samples)
    log("SqliteHuey")
    with fresh(args.tmp_dir, "huey") as d:
        figures["huey"] = scenario_huey(os.path.join(d, "huey.db"), n, args.huey_samples)
    figures["depth"] = {}
    for depth in args.depths:
        for system in ("file", "sqlite"):
            log(f"claim cost at depth {depth}: {system}")
            with fresh(args.tmp_dir, f"depth-{system}") as d:
                location = d if system == "file" else os.path.join(d, "bench.db")
                figures["depth"][f"{system}@{depth}"] = claim_cost(system, location, depth)
    figures["load_end"] = os.getloadavg()
    figures["pressure_end"] = pressure()
    return figures


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    import huey

    import omniq

    tmp = Path(args.tmp_dir or tempfile.gettempdir()).resolve()
    fs = "?"
    best = ""
    for part in psutil.disk_partitions(all=True):
        if str(tmp).startswith(part.mountpoint) and len(part.mountpoint) > len(best):
            best, fs = part.mountpoint, f"{part.fstype} on {part.mountpoint}"
    load = figures["load"]
    load_end = figures["load_end"]
    lines = [
        f"code: {source_state()}",
        f"machine: {os.cpu_count()} CPUs; temp dir {tmp} ({fs})",
        f"load average (1/5/15 min) at start: {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, "
        f"at end: {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}; stall pressure "
        f"avg60 at start: {figures['pressure_start']}, at end: {figures['pressure_end']}",
        f"versions: omniq {omniq.__version__}, huey {huey.__version__}",
        f"run: N={args.tasks}, {args.samples} latency samples ({args.huey_samples} for Huey), "
        f"OmniQ worker {WORKER_OPTIONS} in its own process, one producer calling enqueue()",
        "",
        "| system | end to end (tasks/s) | vs SqliteHuey | p50 (ms) | p99 (ms) "
        "| worker RSS (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    huey_e2e = figures["huey"]["e2e"]
    names = {"file": "file, local disk: fsync files + directories (default)",
             "file-nodirsync": "file, local disk: fsync files (sync_directories=False)",
             "sqlite": "OmniQ SQLite (FULL)", "huey": "SqliteHuey (defaults)"}  # fmt: skip
    for key in ("file", "file-nodirsync", "sqlite", "huey"):
        row = figures[key]
        lines.append(
            f"| {names[key]} | {row['e2e']:,.0f} | {row['e2e'] / huey_e2e:.2f}x | "
            f"{percentile(row['lat'], 50):.1f} | {percentile(row['lat'], 99):.1f} | "
            f"{row['rss']:.0f} |"
        )
    lines += ["", "| tasks waiting | file: ms per claim | SQLite: ms per claim |", "|---|---|---|"]
    for depth in args.depths:
        lines.append(
            f"| {depth:,} | {figures['depth'][f'file@{depth}']:.2f} | "
            f"{figures['depth'][f'sqlite@{depth}']:.2f} |"
        )
    lines.append("")
    for key in ("file", "file-nodirsync"):
        ratio = figures[key]["e2e"] / huey_e2e
        lines.append(f"target end to end >= 1x SqliteHuey ({key}): "
                     f"{'PASS' if ratio >= 1 else 'FAIL'} ({ratio:.2f}x)")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        worker_main(argv[1], argv[2])
        return
    parser = argparse.ArgumentParser(description="OmniQ file backend benchmark")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--huey-samples", type=int)
    parser.add_argument("--depths", type=int, nargs="*")
    parser.add_argument("--tmp-dir")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.tasks = args.tasks or (1000 if args.quick else 10_000)
    args.samples = args.samples or (50 if args.quick else 300)
    args.huey_samples = args.huey_samples or (10 if args.quick else 50)
    args.depths = args.depths or ([1000, 5000] if args.quick else [1000, 10_000, 100_000])
    figures = run(args, lambda text: print(text, file=sys.stderr, flush=True))
    print(report(figures, args))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, default=str, indent=1))


if __name__ == "__main__":
    main()
