"""OmniQ on PostgreSQL against pgqueuer and procrastinate, in one run on the same server.

See ``benchmarks/README.md`` ("bench_postgres.py") for what each figure means. In short: for
each system a worker runs in its own process; this process produces N no-op tasks, first
calling ``enqueue()`` (pgqueuer: ``enqueue``, procrastinate: ``defer_async``) one at a time,
then in batches; end to end is N divided by the time from the first enqueue until the store
holds N completed tasks. Latency is one task at a time, enqueue to outcome. Ratios are
against pgqueuer (throughput) and procrastinate (latency), measured in the same run.

Usage::

    .venv/bin/python benchmarks/bench_postgres.py [--tasks 10000] [--samples 500] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
DSN = os.environ.get("OMNIQ_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
POLL = 0.01  # completion polling (the same for every system)


@dataclass
class Figure:
    measurement: str
    system: str
    value: float
    unit: str


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def scalar(statement: str | sql.Composed) -> Any:
    """Run one statement; its first value, if it returns rows."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        cursor = conn.execute(statement)
        row = cursor.fetchone() if cursor.description is not None else None
    return None if row is None else row[0]


@contextlib.contextmanager
def worker(system: str, name: str, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """The system's worker in its own process, until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "pg_worker.py"), system, DSN, name, *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{system} worker did not start (printed {line!r})")
        yield proc
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mib(proc: subprocess.Popen[str]) -> float:
    """The kernel's high-water mark of the worker's resident memory (VmHWM)."""
    status = Path(f"/proc/{proc.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return psutil.Process(proc.pid).memory_info().rss / 2**20


def wait_done(count: Callable[[], int], expected: int, timeout: float = 180) -> float:
    """Poll until ``count()`` reaches ``expected``; return the time it did."""
    deadline = time.monotonic() + timeout
    while count() < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count()} of {expected} tasks done after {timeout}s")
        time.sleep(POLL)
    return time.perf_counter()


async def poll(conn: Any, query: sql.Composed, job_id: int, done: Callable[[Any], bool]) -> None:
    """Read the job's row every millisecond until ``done`` (the peers keep no results)."""
    while not done(await (await conn.execute(query, (job_id,))).fetchone()):  # noqa: ASYNC110
        await asyncio.sleep(0.001)


class System:
    """One queue under test: how to enqueue, how to count what is done."""

    name: str
    worker_args: tuple[str, ...] = ()

    def namespace(self) -> str:
        raise NotImplementedError

    def done(self) -> int:
        raise NotImplementedError

    def produce_one_by_one(self, n: int, offset: int) -> None:
        raise NotImplementedError

    def produce_batches(self, n: int, batch: int, offset: int) -> None:
        raise NotImplementedError

    def latencies(self, k: int) -> list[float]:
        raise NotImplementedError

    def setup(self) -> None:
        return None

    def teardown(self) -> None:
        return None


class OmniQSystem(System):
    def __init__(self, worker_type: str = "thread_pool") -> None:
        self.project = f"bench_{uuid.uuid4().hex[:8]}"
        self.worker_type = worker_type
        self.name = f"OmniQ ({worker_type})"
        self.worker_args = ("--worker-type", worker_type)
        self.oq: Any = None
        from bench_tasks import anoop, noop

        self.func = anoop if worker_type == "async" else noop

    def namespace(self) -> str:
        return self.project

    def setup(self) -> None:
        from omniq import OmniQ

        self.oq = OmniQ(project_name=self.project, backend_type="postgres", dsn=DSN).open()

    def teardown(self) -> None:
        self.oq.close()
        scalar(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(f"omniq_{self.project}")))  # fmt: skip

    def done(self) -> int:
        return int(scalar(sql.SQL("SELECT count(*) FROM {}.tasks WHERE status = 'completed'")
                          .format(sql.Identifier(f"omniq_{self.project}"))))  # fmt: skip

    def produce_one_by_one(self, n: int, offset: int) -> None:
        for i in range(n):
            self.oq.enqueue(self.func, {"i": offset + i})

    def produce_batches(self, n: int, batch: int, offset: int) -> None:
        for start in range(0, n, batch):
            count = min(batch, n - start)
            self.oq.enqueue_many(self.func, [{"i": offset + start + j} for j in range(count)])

    def latencies(self, k: int) -> list[float]:
        samples = []
        for i in range(k):
            started = time.perf_counter()
            self.oq.get_result(self.oq.enqueue(self.func, {"i": i}), timeout=30)
            samples.append(time.perf_counter() - started)
        return samples


class PgqueuerSystem(System):
    name = "pgqueuer"

    def __init__(self) -> None:
        self.schema = f"bench_pgq_{uuid.uuid4().hex[:8]}"

    def namespace(self) -> str:
        return self.schema

    def _queries(self, connection: Any) -> Any:
        from pgqueuer import AsyncpgDriver, Queries

        return Queries(AsyncpgDriver(connection))

    def setup(self) -> None:
        os.environ["PGQUEUER_SCHEMA"] = self.schema

        async def install() -> None:
            import asyncpg

            connection = await asyncpg.connect(DSN)
            await self._queries(connection).install()
            await connection.close()

        asyncio.run(install())

    def teardown(self) -> None:
        scalar(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def done(self) -> int:
        return int(scalar(sql.SQL(
            "SELECT count(*) FROM {}.pgqueuer_log WHERE status = 'successful'"
        ).format(sql.Identifier(self.schema))))  # fmt: skip

    def _run(self, work: Callable[[Any], Any]) -> Any:
        async def main() -> Any:
            import asyncpg

            connection = await asyncpg.connect(DSN)
            try:
                return await work(self._queries(connection))
            finally:
                await connection.close()

        return asyncio.run(main())

    def produce_one_by_one(self, n: int, offset: int) -> None:
        async def produce(queries: Any) -> None:
            for i in range(n):
                await queries.enqueue("noop", str(offset + i).encode())

        self._run(produce)

    def produce_batches(self, n: int, batch: int, offset: int) -> None:
        async def produce(queries: Any) -> None:
            for start in range(0, n, batch):
                count = min(batch, n - start)
                await queries.enqueue(
                    ["noop"] * count,
                    [str(offset + start + j).encode() for j in range(count)],
                    [0] * count,
                )

        self._run(produce)

    def latencies(self, k: int) -> list[float]:
        table = sql.SQL("SELECT 1 FROM {}.pgqueuer_log WHERE job_id = %s AND status = 'successful'"
                        ).format(sql.Identifier(self.schema))  # fmt: skip

        async def measure(queries: Any) -> list[float]:
            samples = []
            async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
                for i in range(k):
                    started = time.perf_counter()
                    (job_id,) = await queries.enqueue("noop", str(i).encode())
                    # pgqueuer keeps no results: its log says when the job succeeded.
                    await poll(conn, table, int(job_id), lambda row: row is not None)
                    samples.append(time.perf_counter() - started)
            return samples

        return list(self._run(measure))


class ProcrastinateSystem(System):
    name = "procrastinate"

    def __init__(self) -> None:
        self.schema = f"bench_proc_{uuid.uuid4().hex[:8]}"

    def namespace(self) -> str:
        return self.schema

    def setup(self) -> None:
        from bench_pg_peers import procrastinate_app

        scalar(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        app, _ = procrastinate_app(DSN, self.schema)

        async def apply() -> None:
            async with app.open_async():
                await app.schema_manager.apply_schema_async()

        asyncio.run(apply())

    def teardown(self) -> None:
        scalar(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def done(self) -> int:
        return int(scalar(sql.SQL(
            "SELECT count(*) FROM {}.procrastinate_jobs WHERE status = 'succeeded'"
        ).format(sql.Identifier(self.schema))))  # fmt: skip

    def _run(self, work: Callable[[Any], Any]) -> Any:
        from bench_pg_peers import procrastinate_app

        app, task = procrastinate_app(DSN, self.schema)

        async def main() -> Any:
            async with app.open_async():
                return await work(task)

        return asyncio.run(main())

    def produce_one_by_one(self, n: int, offset: int) -> None:
        async def produce(task: Any) -> None:
            for i in range(n):
                await task.defer_async(i=offset + i)

        self._run(produce)

    def produce_batches(self, n: int, batch: int, offset: int) -> None:
        async def produce(task: Any) -> None:
            for start in range(0, n, batch):
                count = min(batch, n - start)
                await task.batch_defer_async(*({"i": offset + start + j} for j in range(count)))

        self._run(produce)

    def latencies(self, k: int) -> list[float]:
        query = sql.SQL("SELECT status FROM {}.procrastinate_jobs WHERE id = %s").format(
            sql.Identifier(self.schema)
        )

        async def measure(task: Any) -> list[float]:
            samples = []
            async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
                for i in range(k):
                    started = time.perf_counter()
                    job_id = await task.defer_async(i=i)
                    await poll(conn, query, job_id, lambda row: row == ("succeeded",))
                    samples.append(time.perf_counter() - started)
            return samples

        return list(self._run(measure))


def run_system(system: System, n: int, batch: int, k: int) -> list[Figure]:
    """Warm up, then the two end-to-end runs, the latency loop and the worker's peak RSS."""
    figures: list[Figure] = []
    system.setup()
    try:
        with worker(
            system.name.split()[0].lower(), system.namespace(), *system.worker_args
        ) as proc:
            log(f"{system.name}: warming up")
            system.produce_batches(200, 100, offset=-1000)
            wait_done(system.done, 200)
            base = 200
            log(f"{system.name}: {n} tasks, enqueue() one by one")
            started = time.perf_counter()
            system.produce_one_by_one(n, offset=0)
            enqueued = time.perf_counter()
            ended = wait_done(system.done, base + n)
            figures.append(Figure("enqueue, one by one", system.name, n / (enqueued - started),
                                  "tasks/s"))  # fmt: skip
            figures.append(Figure("end to end, enqueue() one by one", system.name,
                                  n / (ended - started), "tasks/s"))  # fmt: skip
            base += n
            log(f"{system.name}: {n} tasks, batches of {batch}")
            started = time.perf_counter()
            system.produce_batches(n, batch, offset=n)
            enqueued = time.perf_counter()
            ended = wait_done(system.done, base + n)
            figures.append(Figure(f"enqueue, batches of {batch}", system.name,
                                  n / (enqueued - started), "tasks/s"))  # fmt: skip
            figures.append(Figure(f"end to end, batches of {batch}", system.name,
                                  n / (ended - started), "tasks/s"))  # fmt: skip
            log(f"{system.name}: latency, {k} sequential tasks")
            samples = sorted(system.latencies(k))
            figures.append(Figure("latency p50, sequential", system.name,
                                  statistics.median(samples) * 1000, "ms"))  # fmt: skip
            figures.append(Figure("latency p99, sequential", system.name,
                                  samples[int(len(samples) * 0.99) - 1] * 1000, "ms"))  # fmt: skip
            figures.append(Figure("worker peak RSS", system.name, peak_rss_mib(proc), "MiB"))
    finally:
        system.teardown()
    return figures


BASELINES = {"tasks/s": "pgqueuer", "ms": "procrastinate", "MiB": "pgqueuer"}


def report(figures: list[Figure]) -> str:
    lines = [f"{'measurement':34} {'system':24} {'figure':>12} {'unit':8} {'ratio':>8} vs"]
    for measurement in dict.fromkeys(f.measurement for f in figures):
        rows = [f for f in figures if f.measurement == measurement]
        for figure in rows:
            base_name = BASELINES[figure.unit]
            base = next((f for f in rows if f.system == base_name), None)
            ratio = f"{figure.value / base.value:.2f}x" if base and base.value else "-"
            lines.append(f"{measurement:34} {figure.system:24} {figure.value:12,.2f} "
                         f"{figure.unit:8} {ratio:>8} {base_name}")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def targets(figures: list[Figure]) -> list[str]:
    def value(measurement: str, system: str) -> float:
        return next(f.value for f in figures if f.measurement == measurement and f.system == system)

    omniq = "OmniQ (thread_pool)"
    e2e = value("end to end, enqueue() one by one", omniq) / value(
        "end to end, enqueue() one by one", "pgqueuer"
    )
    batch_name = next(f.measurement for f in figures if f.measurement.startswith("enqueue, batch"))
    enqueue_many = value(batch_name, omniq) / value(batch_name, "pgqueuer")
    p50 = value("latency p50, sequential", omniq)
    rss = value("worker peak RSS", omniq)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return [
        f"{verdict(e2e >= 2)}: end to end (one by one) {e2e:.2f}x pgqueuer (target >= 2x)",
        f"{verdict(enqueue_many >= 1)}: enqueue_many {enqueue_many:.2f}x pgqueuer's batch "
        "rate (target >= 1x)",
        f"{verdict(p50 <= 3)}: p50 latency {p50:.2f} ms (target <= 3 ms)",
        f"{verdict(rss <= 60)}: worker peak RSS {rss:.1f} MiB (target <= 60 MiB)",
    ]


def machine() -> str:
    load = os.getloadavg()
    version = scalar("SHOW server_version")
    sync = scalar("SHOW synchronous_commit")
    return (f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
            f"{load[2]:.2f}; PostgreSQL {version}, synchronous_commit={sync}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks, 100 samples")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--systems", default="omniq,omniq-async,pgqueuer,procrastinate")
    args = parser.parse_args()
    n, k = (1_000, 100) if args.quick else (args.tasks, args.samples)
    makers: dict[str, Callable[[], System]] = {
        "omniq": OmniQSystem,
        "omniq-async": lambda: OmniQSystem("async"),
        "pgqueuer": PgqueuerSystem,
        "procrastinate": ProcrastinateSystem,
    }
    before = machine()
    figures: list[Figure] = []
    for key in args.systems.split(","):
        figures.extend(run_system(makers[key](), n, args.batch, k))
    print(f"N={n} no-op tasks, {k} latency samples, workers in their own process, 4 slots each")
    print(f"at the start: {before}")
    print(f"at the end:   {machine()}")
    print()
    print(report(figures))
    if {"omniq", "pgqueuer", "procrastinate"} <= set(args.systems.split(",")):
        print("\n".join(targets(figures)))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()
