"""The taskiq side of ``bench_nats.py``: a taskiq-nats broker and its no-op task.

``taskiq worker bench_nats_tasks:broker`` imports this module in the worker process; the
stream, consumer and bucket names come from the environment the benchmark sets
(``BENCH_TASKIQ_NAME``), so each run uses fresh ones that it deletes afterwards.
Everything else is taskiq-nats's documented defaults: ``PullBasedJetStreamBroker`` (file
storage stream, durable pull consumer, batches of one) with ``NATSObjectStoreResultBackend``.
"""

from __future__ import annotations

import os

from taskiq_nats import NATSObjectStoreResultBackend, PullBasedJetStreamBroker

URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
NAME = os.environ.get("BENCH_TASKIQ_NAME", "taskiq_bench")

broker = PullBasedJetStreamBroker(
    servers=URL,
    subject=f"{NAME}.tasks",
    stream_name=f"{NAME}_stream",
    durable=f"{NAME}_durable",
).with_result_backend(NATSObjectStoreResultBackend(servers=URL, bucket_name=f"{NAME}_results"))


@broker.task
async def noop(i: int = 0) -> int:
    """Do nothing (a coroutine: taskiq awaits it on its loop)."""
    return i
