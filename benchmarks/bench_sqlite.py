"""OmniQ SQLite backend vs SqliteHuey vs a raw sqlite3 loop, in one run on one machine.

Usage::

    .venv/bin/python benchmarks/bench_sqlite.py            # full run (~3-5 minutes)
    .venv/bin/python benchmarks/bench_sqlite.py --quick    # smoke run (< 1 minute)
    .venv/bin/python benchmarks/bench_sqlite.py --tasks 20000 --samples 1000 --json out.json

See ``benchmarks/README.md`` for what every figure means.

Layout: every OmniQ scenario whose worker runs in the client's process runs in a fresh
``spawn``-ed child process, so its peak RSS is its own. Cross-process scenarios start
``worker_process.py`` (OmniQ worker or Huey consumer) as a subprocess, which is always
stopped, or killed, on the way out. Every database lives in its own fresh temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import queue
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
SYNC_LEVELS = ("FULL", "NORMAL")
#: Worker options used for every OmniQ worker (in-process and in the worker process).
WORKER_OPTIONS: dict[str, Any] = {"max_workers": 4, "poll_interval": 0.02}
#: Client threads (or processes) calling ``enqueue()`` at once in the "concurrent producers"
#: scenarios.
PRODUCERS = 8
#: How each end-to-end scenario enqueues its N tasks (the suffix of its row's system name).
BY_BATCH, ONE_BY_ONE, BY_THREADS, BY_PROCESSES = (
    "enqueue_many",
    "enqueue() one by one",
    f"enqueue() x{PRODUCERS} threads",
    f"enqueue() x{PRODUCERS} processes",
)
#: The end-to-end styles fed one task per ``enqueue()`` call, each compared with Huey fed the
#: same way; each is run ``--repeat`` times (median reported).
ONE_AT_A_TIME = (ONE_BY_ONE, BY_THREADS, BY_PROCESSES)
#: Busy timeout (s) of Huey's 8 producer processes (Huey's ``timeout``; its default is 5).
HUEY_PRODUCER_TIMEOUT = 60.0
#: ``get_result`` poll interval of the client when the worker is in another process.
CROSS_PROCESS_POLL = 0.002
CHILD_TIMEOUT = 600.0

# Comparison keys: a figure is compared with the Huey / raw figure of the same key.
ENQ_ONE, ENQ_BATCH, E2E, P50, P99, RSS, IDLE = (
    "enq1", "enqN", "e2e", "p50", "p99", "rss", "idle"
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config:
    """What one run measures."""

    tasks: int
    samples: int
    huey_samples: int
    raw_tasks: int
    batch: int
    tmp_dir: str | None
    json_path: str | None = None
    repeat: int = 3
    idle_seconds: float = 20.0


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured number: a row of the table."""

    key: str
    measurement: str
    system: str
    sync: str
    value: float
    unit: str


# -- helpers --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0-100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def fresh_db(config: Config, label: str) -> Iterator[str]:
    """A database path in a new temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"omniq-bench-{label}-", dir=config.tmp_dir) as d:
        yield os.path.join(d, "bench.db")


class PeakRss:
    """Peak resident set size of a process, in MiB.

    The kernel's high-water mark (``VmHWM`` in ``/proc/<pid>/status``, Linux) when readable,
    else the largest of the psutil samples taken every 10 ms while the context is open.
    """

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self._peak = max(self._peak, self._process.memory_info().rss)
            self._stop.wait(0.01)

    def read(self) -> float:
        """The peak so far (call while the process is still alive)."""
        peak = self._peak
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        return peak / 2**20


# Unfinished OmniQ tasks, counted through the partial indexes of the schema (tasks_claimable,
# tasks_leases): cheap however many finished tasks the table holds, so polling it every 50 ms
# takes next to no CPU from the system being measured.
_PENDING = (
    "SELECT (SELECT count(*) FROM tasks WHERE status IN ('enqueued', 'retrying'))"
    " + (SELECT count(*) FROM tasks WHERE status = 'executing')"
)


def poll_until(check: Callable[[], bool], interval: float, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(interval)


def wait_omniq_done(db_path: str, after_seq: int, expected: int) -> float:
    """Wait until no task is pending; check the ``expected`` ones after ``after_seq`` completed.

    Returns:
        Their latest ``finished_at`` (wall clock), stamped after the result was stored.
    """
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        poll_until(lambda: conn.execute(_PENDING).fetchone()[0] == 0, 0.05, "OmniQ drain")
        completed, last = conn.execute(
            "SELECT count(*), max(finished_at) FROM tasks WHERE seq > ? AND status = 'completed'",
            (after_seq,),
        ).fetchone()
    finally:
        conn.close()
    if completed != expected:
        raise RuntimeError(f"{completed} of {expected} benchmark tasks completed")
    return float(last)


def wait_huey_done(db_path: str, expected: int) -> float:
    """Wait until Huey's queue is empty and ``expected`` results are stored.

    Returns:
        ``time.time()`` when all results were seen (polled every 2 ms at the end).
    """
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        poll_until(lambda: conn.execute("SELECT count(*) FROM task").fetchone()[0] == 0, 0.05,
                   "Huey drain")  # fmt: skip
        poll_until(lambda: conn.execute("SELECT count(*) FROM kv").fetchone()[0] >= expected,
                   0.002, "Huey results")  # fmt: skip
        return time.time()
    finally:
        conn.close()


def idle_cpu(pid: int, seconds: float) -> float:
    """CPU used by process ``pid`` (all its threads) over ``seconds``, in % of one core."""
    process = psutil.Process(pid)
    time.sleep(1.0)  # let the last run's work and wake-ups settle
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100 * used / seconds


# -- child processes ------------------------------------------------------------------------


def _child_main(conn: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send((True, func(*args)))
    except BaseException:
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


def in_child(func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` in a fresh ``spawn``-ed process; return its result."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_main, args=(sender, func, args), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(CHILD_TIMEOUT):
            raise TimeoutError(f"{func.__name__} did not finish in {CHILD_TIMEOUT}s")
        try:
            ok, value = receiver.recv()
        except EOFError:
            raise RuntimeError(f"{func.__name__}: child died (exit {process.exitcode})") from None
        if not ok:
            raise RuntimeError(f"{func.__name__} failed in the child process:\n{value}")
        return value
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


@contextlib.contextmanager
def worker_subprocess(*args: str) -> Iterator[subprocess.Popen[str]]:
    """Start ``worker_process.py *args``, wait for ``ready``; always stop or kill it."""
    command = [sys.executable, str(HERE / "worker_process.py"), *args]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            raise TimeoutError(f"{command} did not get ready in 60s") from None
        if line.strip() != "ready":
            raise RuntimeError(f"{command} failed to start (exit {proc.wait(5)})")
        yield proc
    finally:
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()  # OmniQ worker: graceful stop
        if proc.poll() is None:
            proc.terminate()  # Huey consumer: stop; OmniQ worker: graceful stop too
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- OmniQ scenarios ------------------------------------------------------------------------


def open_omniq(db_path: str, sync: str) -> Any:
    from omniq import OmniQ

    return OmniQ(project_name="bench", backend_type="sqlite", db_path=db_path, synchronous=sync)


def produce(enqueue_one: Callable[[int], object], n: int, producers: int) -> None:
    """Call ``enqueue_one(i)`` for i in 0..n-1, from ``producers`` threads at once."""
    if producers == 1:
        for i in range(n):
            enqueue_one(i)
        return
    errors: list[BaseException] = []

    def run(first: int) -> None:
        try:
            for i in range(first, n, producers):
                enqueue_one(i)
        except BaseException as exc:  # reported below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _producer_main(
    system: str, db_path: str, sync: str, first: int, n: int, step: int, barrier: Any
) -> None:
    """One producer process: open the queue, wait for the others, enqueue its share."""
    sys.path.insert(0, str(HERE))
    from bench_tasks import huey_app, noop

    if system == "huey":
        # At Huey's default busy timeout (5 s) one of 8 producer processes, waiting for the
        # write lock while the others and the consumer commit, fails with "database is
        # locked"; 60 s lets every enqueue through (OmniQ's writers retry for 600 s).
        _, task = huey_app(db_path, timeout=HUEY_PRODUCER_TIMEOUT)
        enqueue_one: Callable[[int], object] = task
        barrier.wait()
        for i in range(first, n, step):
            enqueue_one(i)
        return
    with open_omniq(db_path, sync) as oq:
        oq.enqueue(noop, func_args={"i": -1}, store_result=False)  # warm-up (run too)
        barrier.wait()
        for i in range(first, n, step):
            oq.enqueue(noop, func_args={"i": i})


def produce_in_processes(system: str, db_path: str, sync: str, n: int) -> float:
    """Enqueue N tasks one by one from :data:`PRODUCERS` ``spawn``-ed processes.

    Each process opens its queue (OmniQ or Huey) and enqueues one warm-up task before all
    start together, as gunicorn workers would run. Returns the wall-clock start (``time.time``).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PRODUCERS + 1)
    processes = [
        ctx.Process(target=_producer_main, args=(system, db_path, sync, k, n, PRODUCERS, barrier),
                    daemon=True)
        for k in range(PRODUCERS)
    ]  # fmt: skip
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=120)
        started = time.time()
        for process in processes:
            process.join(CHILD_TIMEOUT)
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"producer processes failed (exit codes {failed})")
        return started
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()


def omniq_e2e(
    oq: Any,
    db_path: str,
    func: Callable[..., Any],
    n: int,
    batch: int | None,
    producers: int = 1,
    processes: bool = False,
    sync: str = "FULL",
) -> float:
    """Tasks/s from the first enqueue to the last ``finished_at`` (result already stored).

    The worker is already running. ``batch=None`` enqueues with ``enqueue``, one task per
    call, from ``producers`` threads (or, with ``processes``, from that many processes);
    otherwise with ``enqueue_many`` in batches of ``batch``.
    """
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        (last_seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()
    finally:
        conn.close()
    if processes:
        started = produce_in_processes("omniq", db_path, sync, n)
        # The producers' warm-up tasks ran too: count them.
        return n / (wait_omniq_done(db_path, last_seq, n + PRODUCERS) - started)
    args = [{"i": i} for i in range(n)]
    started = time.time()
    if batch is None:
        produce(lambda i: oq.enqueue(func, func_args=args[i]), n, producers)
    else:
        for chunk in chunks(args, batch):
            oq.enqueue_many(func, chunk)
    return n / (wait_omniq_done(db_path, last_seq, n) - started)


def median_of(repeat: int, run: Callable[[], float]) -> float:
    """The median of ``repeat`` runs of ``run``."""
    return statistics.median(run() for _ in range(repeat))


def omniq_latencies(
    oq: Any, func: Callable[..., Any], samples: int, poll_interval: float
) -> list[float]:
    """Milliseconds from ``enqueue`` to ``get_result`` returning, one task at a time."""
    out = []
    for i in range(samples):
        started = time.perf_counter()
        task_id = oq.enqueue(func, func_args={"i": i})
        oq.get_result(task_id, timeout=30, poll_interval=poll_interval)
        out.append((time.perf_counter() - started) * 1000)
    return out


def scenario_enqueue(db_path: str, sync: str, n: int, batch: int) -> dict[str, float]:
    """Enqueue rates with no worker running (runs in a child process)."""
    from bench_tasks import noop

    with open_omniq(db_path, sync) as oq:
        oq.enqueue(noop, func_args={"i": -1})  # warm-up: schema, loop thread, caches
        started = time.perf_counter()
        for i in range(n):
            oq.enqueue(noop, func_args={"i": i})
        one = n / (time.perf_counter() - started)
        started = time.perf_counter()
        produce(lambda i: oq.enqueue(noop, func_args={"i": i}), n, PRODUCERS)
        threads = n / (time.perf_counter() - started)
        args = [{"i": i} for i in range(n)]
        started = time.perf_counter()
        for chunk in chunks(args, batch):
            oq.enqueue_many(noop, chunk)
        many = n / (time.perf_counter() - started)
    return {"one": one, "threads": threads, "many": many}


def scenario_enqueue_schema(db_path: str, sync: str) -> None:
    """Create the store's schema (runs in a child process), before producers open it."""
    with open_omniq(db_path, sync):
        pass


def scenario_in_process(
    db_path: str, sync: str, worker_type: str, n: int, batch: int, samples: int, one_by_one: bool
) -> dict[str, Any]:
    """Worker and client in this (child) process: throughput, latency and peak RSS."""
    from bench_tasks import anoop, noop

    func = anoop if worker_type == "async" else noop
    out: dict[str, Any] = {}
    with PeakRss(os.getpid()) as rss, open_omniq(db_path, sync) as oq:
        oq.start_worker(worker_type=worker_type, **WORKER_OPTIONS)
        oq.get_result(oq.enqueue(func, func_args={"i": -1}), timeout=30)  # warm-up
        out[BY_BATCH] = omniq_e2e(oq, db_path, func, n, batch)
        if one_by_one:
            out[ONE_BY_ONE] = omniq_e2e(oq, db_path, func, n, None)
            out[BY_THREADS] = omniq_e2e(oq, db_path, func, n, None, PRODUCERS)
        # In-process results wake get_result at once: its poll interval (default) is unused.
        out["lat"] = omniq_latencies(oq, func, samples, poll_interval=0.1)
        oq.stop_worker()
        out["rss"] = rss.read()
    return out


def scenario_cross_process(config: Config, sync: str) -> dict[str, Any]:
    """Worker in ``worker_process.py``; client (enqueue, get_result) in this process.

    Before each timed run one task is run end to end, so the worker is awake (not in an idle
    wait) when the run starts; the rows fed one task per call are medians of ``repeat`` runs.
    """
    from bench_tasks import noop

    out: dict[str, Any] = {}
    n = config.tasks
    with fresh_db(config, f"omniq-xproc-{sync}") as db_path:
        with open_omniq(db_path, sync):
            pass  # create the schema before the worker starts
        options = [f"--{key.replace('_', '-')}={value}" for key, value in WORKER_OPTIONS.items()]
        with (
            worker_subprocess("omniq", db_path, f"--synchronous={sync}", *options) as proc,
            PeakRss(proc.pid) as rss,
            open_omniq(db_path, sync) as oq,
        ):

            def primed(style: str) -> float:
                oq.get_result(oq.enqueue(noop, func_args={"i": -1}), timeout=30,
                              poll_interval=CROSS_PROCESS_POLL)  # fmt: skip
                if style == BY_BATCH:
                    return omniq_e2e(oq, db_path, noop, n, config.batch)
                producers = PRODUCERS if style == BY_THREADS else 1
                processes = style == BY_PROCESSES
                return omniq_e2e(oq, db_path, noop, n, None, producers, processes, sync)

            out[BY_BATCH] = primed(BY_BATCH)
            for style in ONE_AT_A_TIME:
                out[style] = median_of(config.repeat, lambda style=style: primed(style))
            out["lat"] = omniq_latencies(oq, noop, config.samples, CROSS_PROCESS_POLL)
            out["rss"] = rss.read()
            out["idle"] = idle_cpu(proc.pid, config.idle_seconds)
    return out


# -- Huey -----------------------------------------------------------------------------------


def huey_journal_mode(db_path: str) -> tuple[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return str(mode), int(conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        conn.close()


def scenario_huey(config: Config) -> dict[str, Any]:
    """SqliteHuey, default settings, consumer in its own process (Huey's only mode)."""
    from bench_tasks import huey_app

    out: dict[str, Any] = {}
    n = config.tasks
    with fresh_db(config, "huey-enqueue") as db_path:
        _, task = huey_app(db_path)
        task(-1)
        started = time.perf_counter()
        for i in range(n):
            task(i)
        out["enq1"] = n / (time.perf_counter() - started)
        out["journal_mode"] = huey_journal_mode(db_path)

    with fresh_db(config, "huey") as db_path:
        _, task = huey_app(db_path)
        with worker_subprocess("huey", db_path) as proc, PeakRss(proc.pid) as rss:
            task(-1).get(blocking=True, timeout=30)  # warm-up
            stored = 0  # .get() takes a result out of the kv table

            def primed(style: str) -> float:
                # End to end: enqueues one task per call (Huey has no batch enqueue) while
                # the consumer runs; done when all N results are in Huey's kv table. Before
                # each run a task is run through, so the consumer has just found work and
                # polls at its shortest delay rather than sleeping in its back-off.
                nonlocal stored
                task(-1).get(blocking=True, timeout=30)
                if style == BY_PROCESSES:
                    started = produce_in_processes("huey", db_path, "FULL", n)
                else:
                    started = time.time()
                    produce(task, n, PRODUCERS if style == BY_THREADS else 1)
                stored += n
                return n / (wait_huey_done(db_path, stored) - started)

            for style in ONE_AT_A_TIME:
                out[style] = median_of(config.repeat, lambda style=style: primed(style))
            lat = []
            for i in range(config.huey_samples):
                t0 = time.perf_counter()
                task(i).get(blocking=True, timeout=30)  # Huey's default backoff polling
                lat.append((time.perf_counter() - t0) * 1000)
            out["lat"] = lat
            out["rss"] = rss.read()
            out["idle"] = idle_cpu(proc.pid, config.idle_seconds)
    return out


# -- raw sqlite3 ceiling --------------------------------------------------------------------

_RAW_INSERT = (
    "INSERT INTO tasks (id, func_name, payload, queue_name, priority, status, created_at, "
    "run_at, tags, max_retries, retry_count, attempts, retry_delay, retry_backoff, "
    "store_result) VALUES (?, 'bench_tasks:noop', ?, 'default', 0, 'enqueued', ?, ?, '[]', "
    "3, 0, 0, 0, 1, 1)"
)
_RAW_CLAIM = """
UPDATE tasks SET status = 'executing', attempts = attempts + 1, started_at = :now,
       worker_id = 'raw', lease_expires_at = :lease
 WHERE seq IN (SELECT seq FROM tasks
                WHERE queue_name = 'default' AND status IN ('enqueued', 'retrying')
                  AND run_at <= :now
                ORDER BY priority DESC, run_at, seq LIMIT 1)
RETURNING id, payload
"""
_RAW_RESULT = "INSERT OR REPLACE INTO results (task_id, payload, created_at) VALUES (?, ?, ?)"
_RAW_DONE = (
    "UPDATE tasks SET status = 'completed', finished_at = ?, lease_expires_at = NULL "
    "WHERE id = ? AND status = 'executing' AND worker_id = 'raw'"
)


def raw_connect(db_path: str, sync: str) -> sqlite3.Connection:
    """A connection with OmniQ's pragmas (see omniq/backends/sqlite/connection.py)."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=5.0)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {sync}")
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def scenario_raw(config: Config, sync: str) -> dict[str, Any]:
    """The floor of the work a queue must do, without any queue code around it.

    OmniQ's schema (created by OmniQ: same tables and indexes) and pragmas. Per task: insert,
    claim (UPDATE ... RETURNING), result write, completion update, each its own
    BEGIN IMMEDIATE ... COMMIT.
    """
    payload = os.urandom(96)
    n = config.raw_tasks
    with fresh_db(config, f"raw-{sync}") as db_path:
        with open_omniq(db_path, sync):
            pass  # let OmniQ create its schema (tables and indexes), whatever its version
        conn = raw_connect(db_path, sync)

        def transaction(sql: str, params: Any) -> list[Any]:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(sql, params).fetchall()
            conn.execute("COMMIT")
            return rows

        cycles, inserts = [], []
        started = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            now = time.time()
            transaction(_RAW_INSERT, (uuid.uuid4().hex, payload, now, now))
            t1 = time.perf_counter()
            now = time.time()
            ((task_id, _),) = transaction(_RAW_CLAIM, {"now": now, "lease": now + 30})
            transaction(_RAW_RESULT, (task_id, b"\x00", time.time()))
            transaction(_RAW_DONE, (time.time(), task_id))
            t2 = time.perf_counter()
            inserts.append(t1 - t0)
            cycles.append((t2 - t0) * 1000)
        elapsed = time.perf_counter() - started

        rows = [(uuid.uuid4().hex, payload, time.time(), time.time()) for _ in range(n)]
        started = time.perf_counter()
        for chunk in chunks(rows, config.batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_RAW_INSERT, chunk)
            conn.execute("COMMIT")
        many = n / (time.perf_counter() - started)
        conn.close()
    return {"e2e": n / elapsed, "enq1": n / sum(inserts), "enqN": many, "lat": cycles}


# -- the run --------------------------------------------------------------------------------


def pressure() -> str:
    """CPU and IO pressure (Linux PSI, share of the last 60 s some task was stalled)."""
    out = []
    for kind in ("cpu", "io"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            some = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
            out.append(f"{kind} {some.split()[2].split('=')[1]}%")
    return ", ".join(out) or "n/a"


def run(config: Config, log: Callable[[str], None]) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    notes: dict[str, Any] = {}
    with contextlib.suppress(OSError, AttributeError):
        notes["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    notes["pressure_start"] = pressure()
    n, batch = config.tasks, config.batch

    def add(key: str, what: str, system: str, sync: str, value: float, unit: str) -> None:
        figures.append(Figure(key, what, system, sync, value, unit))

    def add_latency(system: str, sync: str, values: list[float]) -> None:
        add(P50, "latency p50, sequential", system, sync, percentile(values, 50), "ms")
        add(P99, "latency p99, sequential", system, sync, percentile(values, 99), "ms")

    e2e_what = f"end to end, N={n} no-op tasks"
    for sync in SYNC_LEVELS:
        log(f"[{sync}] raw sqlite3 loop ({config.raw_tasks} tasks)")
        raw = scenario_raw(config, sync)
        add(
            ENQ_ONE, "enqueue, one by one", "raw sqlite3 (insert txn)", sync, raw["enq1"], "tasks/s"
        )
        add(ENQ_BATCH, f"enqueue, batched ({batch})", "raw sqlite3 executemany", sync,
            raw["enqN"], "tasks/s")  # fmt: skip
        add(E2E, e2e_what, "raw sqlite3 (4 txns/task)", sync, raw["e2e"], "tasks/s")
        add_latency("raw sqlite3 (4 txns/task)", sync, raw["lat"])

        log(f"[{sync}] OmniQ enqueue rates ({n} tasks, no worker)")
        with fresh_db(config, f"enqueue-{sync}") as db_path:
            rates = in_child(scenario_enqueue, db_path, sync, n, batch)
        add(ENQ_ONE, "enqueue, one by one", "OmniQ enqueue()", sync, rates["one"], "tasks/s")
        add(ENQ_ONE, "enqueue, one by one", f"OmniQ {BY_THREADS}", sync, rates["threads"],
            "tasks/s")  # fmt: skip
        if sync == "FULL":  # the ceiling of the 8-process end-to-end row (see check_targets)
            log(f"[{sync}] OmniQ enqueue() from {PRODUCERS} processes ({n} tasks, no worker)")
            with fresh_db(config, f"enqueue-procs-{sync}") as db_path:
                in_child(scenario_enqueue_schema, db_path, sync)
                started = produce_in_processes("omniq", db_path, sync, n)
                rate = n / (time.time() - started)
            add(ENQ_ONE, "enqueue, one by one", f"OmniQ {BY_PROCESSES}", sync, rate, "tasks/s")
        add(ENQ_BATCH, f"enqueue, batched ({batch})", "OmniQ enqueue_many()", sync,
            rates["many"], "tasks/s")  # fmt: skip

        for worker_type in ("thread_pool", "async"):
            log(f"[{sync}] OmniQ {worker_type} worker in-process")
            with fresh_db(config, f"{worker_type}-{sync}") as db_path:
                res = in_child(
                    scenario_in_process, db_path, sync, worker_type, n, batch,
                    config.samples, worker_type == "thread_pool",
                )  # fmt: skip
            system = f"OmniQ {worker_type}, same proc"
            for style in (BY_BATCH, ONE_BY_ONE, BY_THREADS):
                if style in res:
                    add(E2E, e2e_what, f"{system}, {style}", sync, res[style], "tasks/s")
            add_latency(system, sync, res["lat"])
            add(RSS, "peak RSS, worker + client process", system, sync, res["rss"], "MiB")

        log(f"[{sync}] OmniQ thread_pool worker in another process")
        res = scenario_cross_process(config, sync)
        system = "OmniQ thread_pool, other proc"
        for style in (BY_BATCH, *ONE_AT_A_TIME):
            add(E2E, e2e_what, f"{system}, {style}", sync, res[style], "tasks/s")
        poll = f"client poll {CROSS_PROCESS_POLL * 1000:g} ms"
        add_latency(f"{system}, {poll}", sync, res["lat"])
        add(RSS, "peak RSS, worker process", system, sync, res["rss"], "MiB")
        add(IDLE, f"idle worker CPU ({config.idle_seconds:g} s)", system, sync, res["idle"],
            "% core")  # fmt: skip

        if sync == "FULL":  # Huey's default level; run it next to OmniQ's FULL scenarios
            log(f"[FULL] SqliteHuey (consumer in another process, {config.huey_samples} samples)")
            huey = scenario_huey(config)
            notes["huey_pragmas"] = huey["journal_mode"]
            add(ENQ_ONE, "enqueue, one by one", "SqliteHuey", sync, huey["enq1"], "tasks/s")
            for style in ONE_AT_A_TIME:
                add(E2E, e2e_what, f"SqliteHuey, {style}", sync, huey[style], "tasks/s")
            add_latency("SqliteHuey, .get(blocking=True)", sync, huey["lat"])
            add(RSS, "peak RSS, consumer process", "SqliteHuey", sync, huey["rss"], "MiB")
            add(IDLE, f"idle worker CPU ({config.idle_seconds:g} s)", "SqliteHuey", sync,
                huey["idle"], "% core")  # fmt: skip
    notes["pressure_end"] = pressure()
    return figures, notes


# -- report ---------------------------------------------------------------------------------

_GROUPS = [ENQ_ONE, ENQ_BATCH, E2E, P50, P99, RSS, IDLE]


def baseline(figures: list[Figure], key: str, sync: str, system: str) -> Figure | None:
    for figure in figures:
        if figure.key == key and figure.sync == sync and figure.system.startswith(system):
            return figure
    return None


def huey_peer(figures: list[Figure], figure: Figure) -> Figure | None:
    """Huey's figure to compare ``figure`` with: same measurement, same way of enqueueing.

    End to end, a row fed by several producer threads is compared with Huey fed the same
    way, and every other row (one by one, or ``enqueue_many``, which Huey lacks) with Huey
    fed one task per call from one thread. An enqueue rate of several producers has no Huey
    figure (Huey's is measured from one thread). Huey runs at its default level (FULL) only.
    """
    if figure.sync != "FULL":
        return None
    system = "SqliteHuey"
    several = any(figure.system.endswith(s) for s in (BY_THREADS, BY_PROCESSES))
    if figure.key == ENQ_ONE and several:
        return None  # Huey's enqueue rate is measured from one thread only
    if figure.key == E2E:
        style = next((s for s in (BY_THREADS, BY_PROCESSES) if figure.system.endswith(s)),
                     ONE_BY_ONE)  # fmt: skip
        system = f"SqliteHuey, {style}"
    return baseline(figures, figure.key, "FULL", system)


def ratio(figure: Figure, base: Figure | None) -> str:
    if base is None or base is figure or base.value == 0:
        return "-"
    return f"{figure.value / base.value:.2f}x"


def fmt(value: float, unit: str) -> str:
    if unit == "tasks/s":
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def report(figures: list[Figure], notes: dict[str, Any], config: Config) -> str:
    lines = []
    header = (
        f"{'measurement':<34} {'system':<46} {'sync':<6} {'figure':>10} {'unit':<7} "
        f"{'vs SqliteHuey':>13} {'vs raw sqlite3':>14}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for key in _GROUPS:
        for sync in SYNC_LEVELS:
            for figure in [f for f in figures if f.key == key and f.sync == sync]:
                huey = huey_peer(figures, figure)
                raw = baseline(figures, key, sync, "raw sqlite3")
                lines.append(
                    f"{figure.measurement:<34} {figure.system:<46} {sync:<6} "
                    f"{fmt(figure.value, figure.unit):>10} {figure.unit:<7} "
                    f"{ratio(figure, huey):>13} {ratio(figure, raw):>14}"
                )
        lines.append("")
    lines.append(
        "Ratios are figure / baseline: above 1 is better for tasks/s, below 1 is better for "
        "ms and MiB."
    )
    lines.append("")
    lines.extend(check_targets(figures))
    return "\n".join(lines)


#: The end-to-end row the throughput target is about; the other OmniQ rows are checked too.
HEADLINE_E2E = "OmniQ thread_pool, same proc, enqueue_many"
#: Most CPU an idle OmniQ worker process may use, in % of one core.
IDLE_CPU_TARGET = 0.2


def check_targets(figures: list[Figure]) -> list[str]:
    """The targets of issue 16 (and the enqueue_many headline), each PASS, FAIL or info."""
    lines = ["Targets (FULL, worker in its own process unless the row says 'same proc'):"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    raw = baseline(figures, ENQ_ONE, "FULL", "raw sqlite3")
    mine = baseline(figures, ENQ_ONE, "FULL", "OmniQ enqueue()")
    if raw is not None and mine is not None:
        r = mine.value / raw.value
        lines.append(
            f"  [{verdict(r >= 0.9)}] enqueue() one by one, no worker >= 0.9x the raw "
            f"one-insert-per-commit loop: {mine.value:,.0f} vs {raw.value:,.0f} tasks/s = {r:.2f}x"
        )
    for figure in figures:
        if figure.key == E2E and figure.sync == "FULL" and figure.system.startswith("OmniQ"):
            huey = huey_peer(figures, figure)
            assert huey is not None
            r = figure.value / huey.value
            tag = " (headline)" if figure.system == HEADLINE_E2E else ""
            # A worker sharing the producers' process is not what the targets are about.
            label = "info" if "same proc" in figure.system and not tag else verdict(r >= 2)
            lines.append(
                f"  [{label}] end-to-end >= 2x SqliteHuey: {figure.system}: "
                f"{figure.value:,.0f} vs {huey.value:,.0f} tasks/s ({huey.system}) = {r:.2f}x{tag}"
                f"{_ceiling(figures, figure, huey)}"
            )
    for figure in figures:
        if figure.key == P50 and figure.system.startswith("OmniQ"):
            tag = "" if figure.sync == "FULL" else " (informative: the target is at FULL)"
            lines.append(
                f"  [{verdict(figure.value <= 5.0)}] {figure.sync} p50 <= 5 ms: "
                f"{figure.system}: {figure.value:.2f} ms{tag}"
            )
    for figure in figures:
        if figure.key == IDLE and figure.system.startswith("OmniQ"):
            lines.append(
                f"  [{verdict(figure.value <= IDLE_CPU_TARGET)}] idle worker <= "
                f"{IDLE_CPU_TARGET:g}% of a core: {figure.system}: {figure.value:.2f}%"
            )
    return lines


def _ceiling(figures: list[Figure], figure: Figure, huey: Figure) -> str:
    """For an end-to-end row fed one task per call: what its producers do with no worker.

    End to end cannot beat that rate, so it bounds the row: printed as a ratio to the row's
    SqliteHuey figure, comparable with the 2x target.
    """
    style = next((s for s in ONE_AT_A_TIME if figure.system.endswith(s)), None)
    if style is None:
        return ""
    system = "OmniQ enqueue()" if style == ONE_BY_ONE else f"OmniQ {style}"
    alone = next(
        (f for f in figures if f.key == ENQ_ONE and f.sync == "FULL" and f.system == system),
        None,
    )
    if alone is None:
        return ""
    return (
        f"; ceiling, the same producers with no worker: {alone.value:,.0f} tasks/s "
        f"= {alone.value / huey.value:.2f}x"
    )


def source_state() -> str:
    """The git commit of the tree, and whether ``src/`` has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent, capture_output=True,
            text=True,
        ).stdout.split("\n")  # fmt: skip
    except OSError:
        return "unknown (no git)"
    changed = [line for line in dirty if line.strip()]
    suffix = f" + {len(changed)} uncommitted file(s) in src/" if changed else ""
    return f"git {commit or '?'}{suffix}"


def machine(config: Config, notes: dict[str, Any]) -> str:
    import huey

    import omniq

    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    tmp = Path(config.tmp_dir or tempfile.gettempdir()).resolve()
    fs = "?"
    best = ""
    for part in psutil.disk_partitions(all=True):
        if str(tmp).startswith(part.mountpoint) and len(part.mountpoint) > len(best):
            best, fs = part.mountpoint, f"{part.fstype} ({part.device} on {part.mountpoint})"
    lines = [
        f"code: {source_state()}",
        f"machine: {platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({model})",
        f"temp dir: {tmp}, filesystem {fs}",
        f"load average at the start (1/5/15 min): {notes.get('load', '?')}; "
        f"stall pressure avg60 at start: {notes.get('pressure_start', '?')}, at end: "
        f"{notes.get('pressure_end', '?')} (the bench itself adds some; other load skews it)",
        f"versions: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"omniq {omniq.__version__}, huey {huey.__version__}, psutil {psutil.__version__}",
        f"run: N={config.tasks} tasks end to end, {config.samples} latency samples "
        f"({config.huey_samples} for Huey), raw loop {config.raw_tasks} tasks, batches of "
        f"{config.batch}; OmniQ workers: {WORKER_OPTIONS}",
    ]
    if "huey_pragmas" in notes:
        mode, sync = notes["huey_pragmas"]
        lines.append(
            f"SqliteHuey storage: journal_mode={mode}, synchronous={sync} "
            "(2 = FULL, SQLite's default: Huey does not set it), cache_size 8 MB, "
            "'begin exclusive' write transactions, one commit per enqueue/dequeue/result"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description="OmniQ SQLite benchmark (see README.md)")
    parser.add_argument("--tasks", type=int, help="end-to-end/enqueue task count (10000)")
    parser.add_argument("--samples", type=int, help="sequential latency samples (500)")
    parser.add_argument("--huey-samples", type=int, help="latency samples for Huey (--samples)")
    parser.add_argument("--raw-tasks", type=int, help="raw sqlite3 loop tasks (min(N, 5000))")
    parser.add_argument("--batch", type=int, default=500, help="enqueue_many batch size")
    parser.add_argument("--quick", action="store_true", help="1000 tasks, 100 samples")
    parser.add_argument("--tmp-dir", help="where the temporary databases go (system temp)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, help="runs of each one-task-per-call row (3, "
                        "--quick 1); the median is shown")  # fmt: skip
    parser.add_argument("--idle-seconds", type=float, help="idle CPU measurement (20, --quick 5)")
    args = parser.parse_args(argv)
    tasks = args.tasks or (1000 if args.quick else 10_000)
    samples = args.samples or (100 if args.quick else 500)
    config = Config(
        tasks=tasks,
        samples=samples,
        huey_samples=args.huey_samples or samples,
        raw_tasks=args.raw_tasks or min(tasks, 5000),
        batch=args.batch,
        tmp_dir=args.tmp_dir,
        json_path=args.json,
        repeat=args.repeat or (1 if args.quick else 3),
        idle_seconds=args.idle_seconds or (5.0 if args.quick else 20.0),
    )
    counts = (config.tasks, config.samples, config.huey_samples, config.raw_tasks, config.batch,
              config.repeat)  # fmt: skip
    if min(counts) < 1 or config.idle_seconds <= 0:
        parser.error("counts must be >= 1")
    return config


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop the worker processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"{time.perf_counter() - started:7.1f}s  {message}", file=sys.stderr, flush=True)

    figures, notes = run(config, log)
    print()
    print(machine(config, notes))
    print()
    print(report(figures, notes, config))
    print(f"\ntotal run time: {time.perf_counter() - started:.0f}s")
    if config.json_path:
        Path(config.json_path).write_text(
            json.dumps({"config": dataclasses.asdict(config),
                        "figures": [dataclasses.asdict(f) for f in figures]}, indent=2)
        )  # fmt: skip


if __name__ == "__main__":
    main()
