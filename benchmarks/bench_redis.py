"""OmniQ on Redis vs RedisHuey, SAQ, arq and RQ, in one run on one Redis server.

Usage::

    .venv/bin/python benchmarks/bench_redis.py              # N=10,000, 500 latency samples
    .venv/bin/python benchmarks/bench_redis.py --quick      # smoke run: N=500, 50 samples
    .venv/bin/python benchmarks/bench_redis.py --only omniq,huey --json out.json

See ``benchmarks/README.md`` ("bench_redis.py") for what every figure means. Every system
gets a worker in its own process and one producer (this process); every key it writes is in
a database of its own (``--url``, default db 9) under this run's namespace, and is deleted
by prefix at the end (never ``FLUSHDB``: the server is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
SYSTEMS = ("omniq", "huey", "saq", "arq", "rq")
BATCH = 500
#: OmniQ's worker: the library's defaults (thread pool of 4, 0.02 s poll).
OMNIQ_WORKER: dict[str, Any] = {"max_workers": 4}
#: How often a peer's client looks for a result (none of them pushes results to a waiter
#: that is not their own: a tight poll is the most generous client for them).
PEER_RESULT_POLL = 0.0005


# -- worker processes ------------------------------------------------------------------------


def run_worker(system: str) -> None:
    """The body of ``bench_redis.py --worker SYSTEM`` (env: namespace and URL)."""
    sys.path.insert(0, str(HERE))
    import redis_peers as peers

    if system == "omniq":
        from omniq import OmniQ

        oq = OmniQ(project_name=peers.NS, backend_type="redis", url=peers.URL).open()
        oq.start_worker(**OMNIQ_WORKER)
        print("READY", flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin
        oq.stop_worker(grace_period=5)
        oq.close()
    elif system == "huey":
        huey, _ = peers.huey_app()
        print("READY", flush=True)
        huey.create_consumer().run()  # Huey's defaults: one worker thread
    elif system == "saq":
        from saq import Worker

        worker = Worker(peers.saq_queue(), functions=[peers.saq_noop])  # concurrency 10
        print("READY", flush=True)
        asyncio.run(worker.start())
    elif system == "arq":
        from arq.worker import run_worker as arq_run

        print("READY", flush=True)
        arq_run(peers.arq_settings())
    elif system == "rq":
        from rq import Queue, SimpleWorker

        connection = redis.Redis.from_url(peers.URL)
        queue = Queue(f"{peers.NS}-rq", connection=connection)
        print("READY", flush=True)
        SimpleWorker([queue], connection=connection).work(logging_level="WARNING")
    else:  # pragma: no cover
        raise SystemExit(f"unknown system {system!r}")


class WorkerProcess:
    """One system's worker subprocess, stopped (or killed) on the way out."""

    def __init__(self, system: str, env: dict[str, str]) -> None:
        self.system = system
        self.popen = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", system],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, text=True,
        )  # fmt: skip
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"{system} worker did not start")

    def peak_rss_mib(self) -> float:
        """The worker's peak resident memory (``VmHWM``), in MiB."""
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        lines = status.splitlines()
        kib = next(int(line.split()[1]) for line in lines if line.startswith("VmHWM"))
        return kib / 1024

    def stop(self) -> None:
        if self.popen.poll() is None:
            if self.system == "omniq":
                assert self.popen.stdin is not None
                self.popen.stdin.close()
            else:
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


# -- the producers -----------------------------------------------------------------------


class Client:
    """One system's producer: enqueue one, enqueue many, count finished, wait for a result."""

    batch = False

    def enqueue(self, i: int) -> Any:
        raise NotImplementedError

    def enqueue_many(self, start: int, count: int) -> None:
        raise NotImplementedError

    def finished(self) -> int:
        raise NotImplementedError

    def result(self, handle: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Release the client."""


class OmniQClient(Client):
    batch = True

    def __init__(self, peers: Any) -> None:
        from omniq import OmniQ

        self.oq = OmniQ(project_name=peers.NS, backend_type="redis", url=peers.URL).open()
        self.noop = peers.noop
        self.counts = redis.Redis.from_url(peers.URL)
        self.key = "{omniq:" + peers.NS + "}:n:default"

    def enqueue(self, i: int) -> Any:
        return self.oq.enqueue(self.noop, {"i": i})

    def enqueue_many(self, start: int, count: int) -> None:
        self.oq.enqueue_many(self.noop, [{"i": i} for i in range(start, start + count)])

    def finished(self) -> int:
        return int(self.counts.hget(self.key, "completed") or 0)

    def result(self, handle: Any) -> Any:
        return self.oq.get_result(handle, timeout=30)

    def close(self) -> None:
        self.oq.close()
        self.counts.close()


def poll(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while (value := check()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no result")
        time.sleep(PEER_RESULT_POLL)
    return value


class HueyClient(Client):
    def __init__(self, peers: Any) -> None:
        self.huey, self.task = peers.huey_app()
        self.counts = redis.Redis.from_url(peers.URL)
        self.key = self.huey.storage.result_key

    def enqueue(self, i: int) -> Any:
        return self.task(i)

    def finished(self) -> int:
        return int(self.counts.hlen(self.key))

    def result(self, handle: Any) -> Any:
        return poll(lambda: handle.get(preserve=True))

    def close(self) -> None:
        self.counts.close()


class SaqClient(Client):
    def __init__(self, peers: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue = peers.saq_queue()
        self.loop.run_until_complete(self.queue.connect())
        self.total = 0

    def enqueue(self, i: int) -> Any:
        self.total += 1
        return self.loop.run_until_complete(self.queue.enqueue("saq_noop", i=i))

    def finished(self) -> int:
        left = self.loop.run_until_complete(self.queue.count("incomplete"))
        return self.total - int(left)

    def result(self, handle: Any) -> Any:
        from saq.job import Status

        def check() -> Any:
            self.loop.run_until_complete(handle.refresh())
            return handle.result if handle.status == Status.COMPLETE else None

        return poll(check)

    def close(self) -> None:
        self.loop.run_until_complete(self.queue.disconnect())
        self.loop.close()


class ArqClient(Client):
    def __init__(self, peers: Any) -> None:
        from arq import create_pool

        self.loop = asyncio.new_event_loop()
        self.settings = peers.arq_settings()
        self.pool = self.loop.run_until_complete(create_pool(self.settings.redis_settings))
        self.counts = redis.Redis.from_url(peers.URL)

    def enqueue(self, i: int) -> Any:
        return self.loop.run_until_complete(
            self.pool.enqueue_job("arq_noop", i, _queue_name=self.settings.queue_name)
        )

    def finished(self) -> int:
        # Done when nothing is queued or in progress; counted as "all" then.
        if self.counts.zcard(self.settings.queue_name):
            return -1
        if next(self.counts.scan_iter(match="arq:in-progress:*", count=1000), None) is not None:
            return -1
        return 1 << 30

    def result(self, handle: Any) -> Any:
        from arq.jobs import JobStatus

        def check() -> Any:
            status = self.loop.run_until_complete(handle.status())
            if status != JobStatus.complete:
                return None
            return self.loop.run_until_complete(handle.result(poll_delay=PEER_RESULT_POLL))

        return poll(check)

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()
        self.counts.close()


class RqClient(Client):
    batch = True

    def __init__(self, peers: Any) -> None:
        from rq import Queue

        self.connection = redis.Redis.from_url(peers.URL)
        self.queue = Queue(f"{peers.NS}-rq", connection=self.connection)
        self.noop = peers.noop

    def enqueue(self, i: int) -> Any:
        return self.queue.enqueue(self.noop, i)

    def enqueue_many(self, start: int, count: int) -> None:
        data = [rq_job_data(self.noop, i) for i in range(start, start + count)]
        self.queue.enqueue_many(data)

    def finished(self) -> int:
        return int(self.queue.finished_job_registry.count)

    def result(self, handle: Any) -> Any:
        from rq.job import JobStatus

        def check() -> Any:
            status = handle.get_status(refresh=True)
            return handle.return_value(refresh=True) if status == JobStatus.FINISHED else None

        return poll(check)

    def close(self) -> None:
        self.connection.close()


def rq_job_data(func: Callable[..., Any], i: int) -> Any:
    from rq import Queue

    return Queue.prepare_data(func, args=(i,))


CLIENTS: dict[str, type[Client]] = {
    "omniq": OmniQClient, "huey": HueyClient, "saq": SaqClient, "arq": ArqClient,
    "rq": RqClient,
}  # fmt: skip


# -- measuring ---------------------------------------------------------------------------------


def wait_finished(client: Client, target: int, timeout: float = 600.0) -> float:
    """Poll until ``target`` tasks finished; return the time it was seen (2 ms polls)."""
    deadline = time.monotonic() + timeout
    while client.finished() < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {client.finished()} of {target} finished")
        time.sleep(0.002)
    return time.perf_counter()


def measure(system: str, n: int, samples: int, env: dict[str, str]) -> dict[str, Any]:
    """Every figure of one system, with its worker in its own process."""
    sys.path.insert(0, str(HERE))
    import redis_peers as peers

    os.environ.update(env)
    client = CLIENTS[system](peers)
    worker = WorkerProcess(system, env)
    figures: dict[str, Any] = {"system": system}
    try:
        done = 0
        client.result(client.enqueue(0))  # warm-up: the worker is up and has run a task
        done += 1
        started = time.perf_counter()
        for i in range(n):
            client.enqueue(i)
        enqueued = time.perf_counter()
        finished = wait_finished(client, done + n)
        done += n
        figures["enqueue_one_per_s"] = n / (enqueued - started)
        figures["e2e_one_per_s"] = n / (finished - started)
        if client.batch:
            started = time.perf_counter()
            for start in range(0, n, BATCH):
                client.enqueue_many(start, min(BATCH, n - start))
            finished = wait_finished(client, done + n)
            done += n
            figures["e2e_many_per_s"] = n / (finished - started)
        latencies = []
        for i in range(samples):
            begin = time.perf_counter()
            client.result(client.enqueue(i))
            latencies.append((time.perf_counter() - begin) * 1000)
        latencies.sort()
        figures["p50_ms"] = statistics.median(latencies)
        figures["p99_ms"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        figures["worker_rss_mib"] = worker.peak_rss_mib()
    finally:
        worker.stop()
        client.close()
    return figures


# -- the machine ---------------------------------------------------------------------------


def machine_load() -> str:
    """Load average and CPU pressure (PSI, 60 s average), to judge how busy the machine was."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        cpu = Path("/proc/pressure/cpu").read_text().split()[2]  # "avg60=..."
    except OSError:
        cpu = "avg60=n/a"
    return f"load {load} (1/5/15 min), cpu pressure {cpu}, {os.cpu_count()} CPUs"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("omniq", "redis", "hiredis", "huey", "saq", "arq", "rq"):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    with redis.Redis.from_url(os.environ["OMNIQ_BENCH_REDIS_URL"]) as client:
        found.append(f"redis-server {client.info('server')['redis_version']}")
    return ", ".join(found)


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                              capture_output=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=HERE, text=True,
                               capture_output=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" (+{len(dirty.splitlines())} changed files under src/)" if dirty else "")


@contextlib.contextmanager
def cleaned(url: str, ns: str) -> Iterator[None]:
    """Delete every key of this run on the way out (SCAN by the run's prefixes)."""
    try:
        yield
    finally:
        huey = ns.replace("-", "")  # Huey keeps only the letters and digits of its name
        patterns = ["{omniq:" + ns + "}:*", f"huey.*{huey}huey", f"saq:*{ns}-saq*", f"{ns}-arq*",
                    f"rq:*{ns}-rq*"]  # fmt: skip
        # arq and RQ name job keys by job id only: in the bench's own database, they are ours.
        patterns += ["arq:job:*", "arq:result:*", "arq:in-progress:*", "arq:retry:*",
                     "rq:job:*", "rq:results:*", "rq:worker:*", "rq:workers*"]  # fmt: skip
        with redis.Redis.from_url(url) as client:
            mine = [queue for queue in client.smembers("rq:queues") if ns.encode() in queue]
            if mine:
                client.srem("rq:queues", *mine)
            for pattern in patterns:
                keys = list(client.scan_iter(match=pattern, count=1000))
                for start in range(0, len(keys), 500):
                    client.unlink(*keys[start : start + 500])


# -- the report ------------------------------------------------------------------------------

COLUMNS = (
    ("e2e_one_per_s", "end to end, enqueue() (tasks/s)", "{:,.0f}"),
    ("e2e_many_per_s", "end to end, enqueue_many (tasks/s)", "{:,.0f}"),
    ("enqueue_one_per_s", "enqueue() alone (tasks/s)", "{:,.0f}"),
    ("p50_ms", "latency p50 (ms)", "{:.2f}"),
    ("p99_ms", "latency p99 (ms)", "{:.2f}"),
    ("worker_rss_mib", "worker peak RSS (MiB)", "{:.1f}"),
)


def report(rows: list[dict[str, Any]]) -> str:
    header = "| system | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for row in rows:
        cells = [fmt.format(row[key]) if key in row else "—" for key, _, fmt in COLUMNS]
        lines.append(f"| {row['system']} | " + " | ".join(cells) + " |")
    omniq = next((row for row in rows if row["system"] == "omniq"), None)
    huey = next((row for row in rows if row["system"] == "huey"), None)
    if omniq is not None:
        lines.append("")
        lines.append("Ratios (OmniQ / peer, same run; tasks/s: above 1 is better, ms and MiB: "
                     "below 1 is better):")  # fmt: skip
        for row in rows:
            if row is omniq:
                continue
            parts = [f"{key} {omniq[key] / row[key]:.2f}x" for key, _, _ in COLUMNS
                     if key in omniq and key in row and row[key]]  # fmt: skip
            lines.append(f"- vs {row['system']}: " + ", ".join(parts))
        lines.append("")
        lines.append("Targets (issue 11):")
        if huey is not None:
            ratio = omniq["e2e_one_per_s"] / huey["e2e_one_per_s"]
            lines.append(f"- end to end >= 2x RedisHuey: {ratio:.2f}x "
                         f"{'PASS' if ratio >= 2 else 'FAIL'}")  # fmt: skip
        lines.append(f"- p50 latency <= 1.5 ms: {omniq['p50_ms']:.2f} ms "
                     f"{'PASS' if omniq['p50_ms'] <= 1.5 else 'FAIL'}")  # fmt: skip
        rss = omniq["worker_rss_mib"]
        verdict = "PASS" if rss * 1.048576 <= 50 else "FAIL"
        lines.append(f"- worker RSS <= 50 MB: {rss:.1f} MiB {verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="N=500, 50 samples")
    parser.add_argument("--only", default=",".join(SYSTEMS), help="systems, comma-separated")
    parser.add_argument("--url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still clean up the keys
    n, samples = (500, 50) if args.quick else (args.tasks, args.samples)
    ns = f"omniq-bench-{uuid.uuid4().hex[:8]}"
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMNIQ_BENCH_NS": ns, "OMNIQ_BENCH_REDIS_URL": args.url,
           "PYTHONPATH": path}  # fmt: skip
    os.environ.update(env)
    print(f"code {git_commit()}; {platform.platform()}; Python {platform.python_version()}")
    print(f"versions: {versions()}")
    print(f"N={n:,} no-op tasks, {samples} sequential latency samples, server {args.url}")
    print(f"machine at start: {machine_load()}")
    rows = []
    with cleaned(args.url, ns):
        for system in args.only.split(","):
            print(f"... {system}", file=sys.stderr, flush=True)
            try:
                rows.append(measure(system, n, samples, env))
            except ImportError as exc:
                print(f"{system}: skipped ({exc}; pip install -e '.[bench]')", file=sys.stderr)
    print(f"machine at end: {machine_load()}")
    print()
    print(report(rows))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
