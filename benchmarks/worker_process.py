"""A worker in its own process, for the cross-process benchmarks.

Usage::

    python benchmarks/worker_process.py omniq DB_PATH [--synchronous FULL] [--worker-type ...]
    python benchmarks/worker_process.py huey DB_PATH

It prints ``ready`` on stdout once the worker runs, then works until its stdin is closed
(graceful stop) or it receives SIGTERM/SIGINT. ``bench_sqlite.py`` starts it, reads the
``ready`` line, and always stops (or kills) it when done.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def run_omniq(args: argparse.Namespace) -> None:
    from omniq import OmniQ

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with OmniQ(
        project_name="bench",
        backend_type="sqlite",
        db_path=args.db_path,
        synchronous=args.synchronous,
    ) as oq:
        oq.start_worker(
            worker_type=args.worker_type,
            max_workers=args.max_workers,
            poll_interval=args.poll_interval,
        )
        print("ready", flush=True)
        # Closing our stdin is the parent's "stop" signal; SIGTERM works too.
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        oq.stop_worker(grace_period=5)


def run_huey(args: argparse.Namespace) -> None:
    from bench_tasks import huey_app

    huey, _ = huey_app(args.db_path)
    consumer = huey.create_consumer()  # Huey's defaults, as `huey_consumer` would use
    print("ready", flush=True)
    consumer.run()  # installs Huey's own SIGTERM (stop) / SIGINT (graceful) handlers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=["omniq", "huey"])
    parser.add_argument("db_path")
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--worker-type", default="thread_pool")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--poll-interval", type=float, default=0.02)
    args = parser.parse_args()
    if args.system == "omniq":
        run_omniq(args)
    else:
        run_huey(args)


if __name__ == "__main__":
    main()
