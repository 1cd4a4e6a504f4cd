"""Fire due schedules in a tight loop (no worker): a source of contention for the tests.

Usage: ``python fire_schedules.py --db PATH --stop-file PATH [--project it] [--pause 0.001]``

A worker looks for due schedules only at the due times its own process knows of, or every
second; this script looks every ``--pause`` seconds, so several of them race for every due
run of every schedule in the store. It enqueues what it fires but runs nothing.

Protocol on stdout (one line each, flushed): ``READY`` once the store is open, then
``FIRED <n>`` (how many runs this process fired) when ``--stop-file`` appears; it exits 0
next. It gives up (exit 1) after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import time
import uuid

from omniq import OmniQ
from omniq.core.notify import channel
from omniq.workers.scheduler import ScheduleFirer


def stop_requested(stop_file: str) -> bool:
    return os.path.exists(stop_file)  # one stat: cheap enough to call from the loop


async def fire_until(oq: OmniQ, stop_file: str, pause: float, max_seconds: float) -> int:
    # A channel of its own: this script's firings must not wake the test's workers in-process.
    store = dataclasses.replace(oq.store, channel=channel(f"firer:{uuid.uuid4()}"))
    firer = ScheduleFirer(store)
    fired = 0
    deadline = time.monotonic() + max_seconds
    while not stop_requested(stop_file):
        if time.monotonic() > deadline:
            raise SystemExit(f"{stop_file} did not appear within {max_seconds}s")
        fired += await firer.fire_due()
        await asyncio.sleep(pause)
    return fired


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--project", default="it")
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--pause", type=float, default=0.001)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()

    async with OmniQ(project_name=args.project, db_path=args.db) as oq:
        print("READY", flush=True)
        fired = await fire_until(oq, args.stop_file, args.pause, args.max_seconds)
    print(f"FIRED {fired}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
