"""Run one OmniQ worker in this process until SIGTERM/SIGINT, then stop it gracefully.

Usage: ``python worker.py (--db PATH | --dsn DSN) [--project it] [--worker-type thread_pool]
[--max-workers 4] [--lease 30] [--poll 0.02] [--grace 30]`` (``--dsn``: on PostgreSQL)

Protocol on stdout (one line each, flushed), which the tests wait for:

* ``READY <worker_id>``: the worker is claiming.
* ``STOPPING``: a stop signal arrived and the worker no longer claims; ``stop_worker``
  is now waiting up to ``--grace`` seconds for running tasks.
* ``STOPPED``: ``stop_worker`` returned (unfinished tasks were released, except bodies
  running in threads, whose leases are kept until they end: the script waits for them).
* ``CLOSED``: the store is closed; the process exits 0 next.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time

from omniq import OmniQ


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db")
    where.add_argument("--dsn")
    parser.add_argument("--project", default="it")
    parser.add_argument("--worker-type", default="thread_pool")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--poll", type=float, default=0.02)
    parser.add_argument("--grace", type=float, default=30.0)
    args = parser.parse_args()

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.dsn is not None:
        oq = OmniQ(project_name=args.project, backend_type="postgres", dsn=args.dsn).open()
    else:
        oq = OmniQ(project_name=args.project, db_path=args.db).open()
    oq.start_worker(
        worker_type=args.worker_type,
        max_workers=args.max_workers,
        lease_duration=args.lease,
        poll_interval=args.poll,
        grace_period=args.grace,
    )
    worker = oq.worker
    assert worker is not None
    say(f"READY {worker.worker_id}")

    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass

    stopper = threading.Thread(target=oq.stop_worker, kwargs={"grace_period": args.grace})
    stopper.start()
    deadline = time.monotonic() + 10
    while worker.is_running and time.monotonic() < deadline:
        time.sleep(0.005)
    say("STOPPING")
    stopper.join()
    say("STOPPED")
    while worker.keeping_leases:  # as `omniq worker` does
        time.sleep(0.01)
    oq.close()
    say("CLOSED")


if __name__ == "__main__":
    main()
