"""OmniQ on NATS JetStream vs taskiq + taskiq-nats, in one run on one NATS server.

Usage::

    .venv/bin/python benchmarks/bench_nats.py            # full run: N=10,000 (~2-4 minutes)
    .venv/bin/python benchmarks/bench_nats.py --quick    # smoke run: N=1,000 (< 1 minute)

See ``benchmarks/README.md`` ("NATS") for what every figure means. Both systems get the
same server, the same no-op task, one worker in its own process and one producer (this
process) that enqueues one task at a time, then (OmniQ only: taskiq has no batch enqueue)
with ``enqueue_many``. Completion is detected by polling the result stream's message count
every 20 ms through a connection of the benchmark's own. Every stream a run creates is
deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
WORKER_OPTIONS: dict[str, Any] = {"max_workers": 4, "poll_interval": 0.02}
E2E_ONE, E2E_BATCH, P50, P99, RSS, ENQ_ONE, ENQ_BATCH = (
    "e2e1", "e2eN", "p50", "p99", "rss", "enq1", "enqN",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config:
    tasks: int
    samples: int
    batch: int
    json_path: str | None


@dataclasses.dataclass(frozen=True)
class Figure:
    key: str
    what: str
    system: str
    value: float
    unit: str


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- the server, seen from a connection of the benchmark's own ---------------------------


class Monitor:
    """A nats-py client on a thread of its own: stream counts and clean-up."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._nc: Any = self.call(self._connect())

    async def _connect(self) -> Any:
        import nats

        return await nats.connect(URL)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def messages(self, stream: str) -> int:
        async def count() -> int:
            try:
                info = await self._nc.jetstream().stream_info(stream)
            except Exception:  # not created yet
                return 0
            return int(info.state.messages)

        return int(self.call(count()))

    def wait_messages(self, stream: str, target: int, timeout: float = 600) -> float:
        """Poll until ``stream`` holds ``target`` messages; the time it was first seen."""
        deadline = time.monotonic() + timeout
        while self.messages(stream) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stream} did not reach {target} messages in {timeout}s")
            time.sleep(0.02)
        return time.time()

    def delete_streams(self, match: Callable[[str], bool]) -> None:
        async def delete() -> None:
            js = self._nc.jetstream()
            for info in await js.streams_info():
                if match(info.config.name):
                    await js.delete_stream(info.config.name)

        self.call(delete())

    def server_version(self) -> str:
        return str(self._nc.connected_server_version)

    def close(self) -> None:
        self.call(self._nc.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class PeakRss:
    """Peak RSS (MiB) of a process: ``VmHWM``, or the largest 10 ms sample."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self._peak = max(self._peak, self._process.memory_info().rss)
            self._stop.wait(0.01)

    def read(self) -> float:
        self._stop.set()
        self._thread.join()
        peak = self._peak
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        return peak / 2**20


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], ready: str) -> Iterator[subprocess.Popen[str]]:
    """A worker process, started and waited for; stopped (or killed) on the way out."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=HERE)  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if ready in line:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{args} did not print {ready!r}")
        else:
            raise RuntimeError(f"{args} exited with {proc.wait()} before {ready!r}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
        yield proc
    finally:
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- OmniQ --------------------------------------------------------------------------------


def omniq_worker_main(project: str) -> None:
    """``bench_nats.py --omniq-worker PROJECT``: one OmniQ worker until stdin closes."""
    import signal

    # As `pip install 'omniq[nats]'` installs it: nats-py imports aiohttp (websockets) only
    # when it is installed, and here only taskiq needs it (about 20 MiB of RSS).
    sys.modules.setdefault("aiohttp", None)  # type: ignore[arg-type]
    from omniq import OmniQ

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with OmniQ(project_name=project, backend_type="nats", servers=URL) as oq:
        oq.start_worker(**WORKER_OPTIONS)
        print("ready", flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        oq.stop_worker(grace_period=5)


def omniq_enqueue_rates(config: Config, monitor: Monitor, add: Callable[..., None],
                        log: Callable[[str], None]) -> None:  # fmt: skip
    from bench_tasks import noop
    from omniq import OmniQ

    n, batch = config.tasks, config.batch
    project = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        with OmniQ(project_name=project, backend_type="nats", servers=URL) as oq:
            log("OmniQ: enqueue rates, no worker running")
            started = time.perf_counter()
            for i in range(n):
                oq.enqueue(noop, func_args={"i": i})
            add(ENQ_ONE, "enqueue(), one by one", "OmniQ", n / (time.perf_counter() - started),
                "tasks/s")  # fmt: skip
            started = time.perf_counter()
            for start in range(0, n, batch):
                oq.enqueue_many(noop, [{"i": i} for i in range(start, min(n, start + batch))])
            add(ENQ_BATCH, f"enqueue_many({batch})", "OmniQ",
                n / (time.perf_counter() - started), "tasks/s")  # fmt: skip
    finally:
        monitor.delete_streams(lambda name: project.replace("_", "__") in name)


def taskiq_enqueue_rate(config: Config, monitor: Monitor, add: Callable[..., None],
                        log: Callable[[str], None]) -> None:  # fmt: skip
    tasks = taskiq_app()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(tasks.broker.startup())
        log("taskiq: enqueue rate (kiq one by one), no worker running")
        started = time.perf_counter()
        loop.run_until_complete(kick(tasks, config.tasks))
        add(ENQ_ONE, "enqueue(), one by one", "taskiq-nats",
            config.tasks / (time.perf_counter() - started), "tasks/s")  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(tasks.broker.shutdown())
        loop.close()
        monitor.delete_streams(lambda s: os.environ["BENCH_TASKIQ_NAME"] in s)


def taskiq_app() -> Any:
    """A fresh import of ``bench_nats_tasks`` with new stream and bucket names."""
    os.environ["BENCH_TASKIQ_NAME"] = f"taskiq_{uuid.uuid4().hex[:8]}"
    os.environ["BENCH_NATS_URL"] = URL
    sys.modules.pop("bench_nats_tasks", None)
    import bench_nats_tasks

    return bench_nats_tasks


async def kick(tasks: Any, count: int) -> None:
    for i in range(count):
        await tasks.noop.kiq(i)


async def taskiq_round_trip(tasks: Any, i: int) -> None:
    task = await tasks.noop.kiq(i)
    await task.wait_result(check_interval=0.002, timeout=60)


def run_workers(config: Config, monitor: Monitor, add: Callable[..., None],
                log: Callable[[str], None]) -> None:  # fmt: skip
    """Both workers up at once: end to end for each, then latency in alternating blocks."""
    from bench_tasks import noop
    from omniq import OmniQ
    from omniq.backends.nats.names import ProjectNames

    n, batch = config.tasks, config.batch
    project = f"bench_{uuid.uuid4().hex[:8]}"
    omniq_results = ProjectNames.of(project).results_stream
    tasks = taskiq_app()
    name = os.environ["BENCH_TASKIQ_NAME"]
    taskiq_results = f"OBJ_{name}_results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    omniq_args = [sys.executable, str(HERE / "bench_nats.py"), "--omniq-worker", project]
    taskiq_args = [str(Path(sys.executable).with_name("taskiq")), "worker",
                   "bench_nats_tasks:broker", "--workers", "1"]  # fmt: skip
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(tasks.broker.startup())
        with process(omniq_args, env, "ready") as omniq_worker, process(
            taskiq_args, env, "Listening started"
        ) as taskiq_supervisor, OmniQ(project_name=project, backend_type="nats",
                                      servers=URL) as oq:  # fmt: skip
            omniq_rss = PeakRss(omniq_worker.pid)
            taskiq_rss = PeakRss(_taskiq_child(taskiq_supervisor.pid))
            oq.get_result(oq.enqueue(noop, func_args={"i": -1}), timeout=30)  # warm-ups
            loop.run_until_complete(taskiq_round_trip(tasks, -1))
            done = 1

            log(f"OmniQ: end to end, {n} tasks enqueued one by one")
            started = time.time()
            for i in range(n):
                oq.enqueue(noop, func_args={"i": i})
            done += n
            add(E2E_ONE, f"end to end, N={n}, enqueue() one by one", "OmniQ",
                n / (monitor.wait_messages(omniq_results, done) - started), "tasks/s")  # fmt: skip
            log(f"OmniQ: end to end, {n} tasks by enqueue_many({batch})")
            started = time.time()
            for start in range(0, n, batch):
                oq.enqueue_many(noop, [{"i": i} for i in range(start, min(n, start + batch))])
            done += n
            add(E2E_BATCH, f"end to end, N={n}, enqueue_many({batch})", "OmniQ",
                n / (monitor.wait_messages(omniq_results, done) - started), "tasks/s")  # fmt: skip

            log(f"taskiq: end to end, {n} tasks kicked one by one")
            stored = monitor.messages(taskiq_results)
            started = time.time()
            loop.run_until_complete(kick(tasks, n))
            stored += 2 * n  # the object store writes a chunk and a meta message per result
            finished = monitor.wait_messages(taskiq_results, stored)
            add(E2E_ONE, f"end to end, N={n}, kiq() one by one", "taskiq-nats",
                n / (finished - started), "tasks/s")  # fmt: skip

            log(f"latency: {config.samples} sequential tasks each, in alternating blocks of 25")
            mine: list[float] = []
            theirs: list[float] = []
            for block in range(0, config.samples, 25):
                for i in range(block, min(config.samples, block + 25)):
                    started_at = time.perf_counter()
                    oq.get_result(oq.enqueue(noop, func_args={"i": i}), timeout=30)
                    mine.append((time.perf_counter() - started_at) * 1000)
                for i in range(block, min(config.samples, block + 25)):
                    started_at = time.perf_counter()
                    loop.run_until_complete(taskiq_round_trip(tasks, i))
                    theirs.append((time.perf_counter() - started_at) * 1000)
            for system, values in (("OmniQ", mine), ("taskiq-nats", theirs)):
                add(P50, "latency p50, sequential", system, percentile(values, 50), "ms")
                add(P99, "latency p99, sequential", system, percentile(values, 99), "ms")
            add(RSS, "worker peak RSS", "OmniQ", omniq_rss.read(), "MiB")
            add(RSS, "worker peak RSS", "taskiq-nats", taskiq_rss.read(), "MiB")
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(tasks.broker.shutdown())
        loop.close()
        monitor.delete_streams(lambda s: project.replace("_", "__") in s or name in s)


def _taskiq_child(supervisor: int) -> int:
    """The pid of the process that runs tasks (``taskiq worker`` supervises one child)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(supervisor).children()
        if children:
            return children[0].pid
        time.sleep(0.05)
    return supervisor


# -- the report -------------------------------------------------------------------------


def pressure() -> str:
    out = []
    for kind in ("cpu", "io"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            some = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
            out.append(f"{kind} {some.split()[2].split('=')[1]}%")
    return ", ".join(out) or "n/a"


def load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "?"


def source_state() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent,
                               capture_output=True, text=True).stdout.split("\n")  # fmt: skip
    except OSError:
        return "unknown (no git)"
    changed = [line for line in dirty if line.strip()]
    return f"git {commit or '?'}" + (
        f" + {len(changed)} uncommitted file(s) in src/" if changed else ""
    )


def header(config: Config, notes: dict[str, str], server: str) -> str:
    from importlib.metadata import version

    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(f"{p} {version(p)}" for p in ("omniq", "nats-py", "taskiq", "taskiq-nats"))
    return "\n".join([
        f"code: {source_state()}",
        f"machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({model})",
        f"NATS server: {server} at {URL} (JetStream, file storage)",
        f"load average (1/5/15 min) at start: {notes['load_start']}; at end: {notes['load_end']}",
        f"stall pressure avg60 at start: {notes['pressure_start']}; at end: "
        f"{notes['pressure_end']} (others share this machine: high values skew every figure)",
        f"versions: Python {platform.python_version()}, {versions}",
        f"run: N={config.tasks}, {config.samples} latency samples, batches of {config.batch}; "
        f"OmniQ worker {WORKER_OPTIONS} (thread_pool, aiohttp not importable: as "
        "`pip install omniq[nats]` installs it); taskiq worker --workers 1 (defaults); both "
        "workers run at once, latency samples alternate in blocks of 25",
    ])  # fmt: skip


def fmt(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if unit == "tasks/s" else f"{value:.2f} {unit}"


def report(figures: list[Figure]) -> tuple[str, list[str]]:
    peers = {f.key: f for f in figures if f.system == "taskiq-nats"}
    peers[E2E_BATCH] = peers.get(E2E_ONE)  # type: ignore[assignment]  # taskiq has no batches
    peers[ENQ_BATCH] = peers.get(ENQ_ONE)  # type: ignore[assignment]
    lines = ["| figure | system | value | vs taskiq-nats |", "|---|---|---|---|"]
    for f in figures:
        peer = peers.get(f.key)
        ratio = "" if f.system != "OmniQ" or peer is None else f"{f.value / peer.value:.2f}x"
        lines.append(f"| {f.what} | {f.system} | {fmt(f.value, f.unit)} | {ratio} |")
    mine = {f.key: f for f in figures if f.system == "OmniQ"}
    checks = []

    def check(ok: bool, text: str) -> None:
        checks.append(f"{'PASS' if ok else 'FAIL'}: {text}")

    for key in (E2E_BATCH, E2E_ONE):
        if key in mine and peers.get(key) is not None:
            r = mine[key].value / peers[key].value
            check(
                r >= 2.0, f"{mine[key].what}: {r:.2f}x taskiq-nats kiq() one by one (target >= 2x)"
            )
    if P50 in mine:
        check(mine[P50].value <= 5.0, f"latency p50 {mine[P50].value:.2f} ms (target <= 5 ms)")
    if RSS in mine:
        check(mine[RSS].value <= 50.0, f"worker peak RSS {mine[RSS].value:.1f} MiB (target <= 50)")
    return "\n".join(lines), checks


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description="OmniQ NATS benchmark (see README.md)")
    parser.add_argument("--tasks", type=int, default=None, help="task count (10000)")
    parser.add_argument("--samples", type=int, default=None, help="latency samples (300)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="N=1000, 100 samples")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    return Config(
        tasks=args.tasks or (1000 if args.quick else 10_000),
        samples=args.samples or (100 if args.quick else 300),
        batch=args.batch,
        json_path=args.json_path,
    )


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--omniq-worker":
        omniq_worker_main(sys.argv[2])
        return
    config = parse_args(argv)
    sys.path.insert(0, str(HERE))

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    figures: list[Figure] = []

    def add(key: str, what: str, system: str, value: float, unit: str) -> None:
        figures.append(Figure(key, what, system, value, unit))
        log(f"  {system}: {what}: {fmt(value, unit)}")

    notes = {"load_start": load(), "pressure_start": pressure()}
    monitor = Monitor()
    try:
        server = monitor.server_version()
        omniq_enqueue_rates(config, monitor, add, log)
        taskiq_enqueue_rate(config, monitor, add, log)
        run_workers(config, monitor, add, log)
    finally:
        monitor.close()
    notes.update(load_end=load(), pressure_end=pressure())
    table, checks = report(figures)
    print(header(config, notes, server))
    print()
    print(table)
    print()
    print("\n".join(checks))
    if config.json_path:
        Path(config.json_path).write_text(json.dumps(
            {"figures": [dataclasses.asdict(f) for f in figures], "notes": notes}, indent=2
        ))  # fmt: skip


if __name__ == "__main__":
    main()
