"""Putting a worker together: an executor, a task runner, a completion batcher, the loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from omniq.core.store import Store
from omniq.monitoring.setup import worker_observer
from omniq.serialization import Serializer
from omniq.workers.completions import CompletionBatcher
from omniq.workers.config import WorkerOptions, create_executor
from omniq.workers.lifecycle import TaskRunner
from omniq.workers.persistence import Patience
from omniq.workers.worker import Worker, new_worker_id

__all__ = ["build_worker"]


def build_worker(
    store: Store,
    serializer: Serializer,
    worker_type: str,
    settings: WorkerOptions,
    queues: Sequence[str] | Callable[[], Sequence[str]],
) -> Worker:
    """Build a worker of ``worker_type`` on ``store`` (not started).

    Args:
        store: The opened store it claims from and records outcomes in.
        serializer: Loads calls and dumps results.
        worker_type: ``"thread_pool"``, ``"async"``, ``"process_pool"`` or ``"gevent"``.
        settings: Its validated options.
        queues: Queue names in service order, or a callable returning them.

    Raises:
        ConfigurationError: The worker type cannot run here (see :func:`create_executor`).
        MissingDependencyError: Its optional dependency is missing (or prometheus-client,
            with ``metrics_port``).
    """
    executor = create_executor(worker_type, settings.max_workers)
    worker_id = new_worker_id()
    # An outcome keeps trying through an outage while its lease can live: it was renewed
    # at most a third of a lease ago.
    patience = Patience(settings.lease_duration * 2 / 3)
    observer = worker_observer(worker_id, worker_type, settings.metrics_port, settings.metrics_host)
    runner = TaskRunner(
        store=store,
        serializer=serializer,
        executor=executor,
        worker_id=worker_id,
        completions=CompletionBatcher(
            store=store, worker_id=worker_id, patience=patience, observer=observer
        ),
        patience=patience,
        observer=observer,
    )
    return Worker(
        runner,
        queues,
        lease_duration=settings.lease_duration,
        poll_interval=settings.poll_interval,
        grace_period=settings.grace_period,
        prefetch_multiplier=settings.prefetch_multiplier,
        all_queues=settings.all_queues,
    )
