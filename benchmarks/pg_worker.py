"""A PostgreSQL queue worker in its own process, for ``bench_postgres.py``.

Usage::

    python benchmarks/pg_worker.py omniq DSN PROJECT [--worker-type thread_pool]
    python benchmarks/pg_worker.py pgqueuer DSN SCHEMA
    python benchmarks/pg_worker.py procrastinate DSN SCHEMA

Each runs its system's worker at its documented settings (OmniQ 4 slots; pgqueuer
``QueueManager.run()``'s defaults; procrastinate ``run_worker_async`` with concurrency 4),
prints ``ready`` once it works, and stops when its stdin closes or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading

CONCURRENCY = 4


def run_omniq(args: argparse.Namespace) -> None:
    from omniq import OmniQ

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with OmniQ(project_name=args.name, backend_type="postgres", dsn=args.dsn) as oq:
        oq.start_worker(worker_type=args.worker_type, max_workers=CONCURRENCY)
        print("ready", flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        oq.stop_worker(grace_period=5)


async def _stdin_closed() -> None:
    await asyncio.to_thread(sys.stdin.read)


async def run_pgqueuer(args: argparse.Namespace) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.models import Job

    os.environ["PGQUEUER_SCHEMA"] = args.name
    connection = await asyncpg.connect(args.dsn)
    manager = QueueManager(Queries(AsyncpgDriver(connection)))

    @manager.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    runner = asyncio.create_task(manager.run())
    print("ready", flush=True)
    await _stdin_closed()
    manager.shutdown.set()
    await runner
    await connection.close()


async def run_procrastinate(args: argparse.Namespace) -> None:
    from bench_pg_peers import procrastinate_app

    app, _ = procrastinate_app(args.dsn, args.name)
    async with app.open_async():
        runner = asyncio.create_task(
            app.run_worker_async(
                queues=["default"], concurrency=CONCURRENCY, install_signal_handlers=False
            )
        )
        print("ready", flush=True)
        await _stdin_closed()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=["omniq", "pgqueuer", "procrastinate"])
    parser.add_argument("dsn")
    parser.add_argument("name", help="OmniQ project, or the peer's schema")
    parser.add_argument("--worker-type", default="thread_pool")
    args = parser.parse_args()
    if args.system == "omniq":
        run_omniq(args)
    elif args.system == "pgqueuer":
        asyncio.run(run_pgqueuer(args))
    else:
        asyncio.run(run_procrastinate(args))


if __name__ == "__main__":
    main()
