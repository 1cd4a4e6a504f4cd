"""A worker's own Prometheus metrics, served over HTTP (``omniq worker --metrics-port``).

:class:`WorkerMetrics` observes a worker (see :mod:`omniq.monitoring.observer`) and counts
into metrics of prometheus-client's default registry, which a small HTTP server started
with the worker serves at ``/metrics`` (with prometheus-client's ``process_*`` and
``python_*`` metrics, and any metric the task functions define there). The metrics are
those of the process: several workers of one process add up in the same series, and
``omniq_worker_*`` tell them apart by ``worker_id``.

=====================================  =========  ==============================================
Metric                                 Type       Labels, meaning
=====================================  =========  ==============================================
``omniq_tasks_finished_total``         counter    queue, task, outcome (completed, failed,
                                                  cancelled, expired): final outcomes recorded
``omniq_task_retries_total``           counter    queue, task: failed attempts retried later
``omniq_task_duration_seconds``        histogram  queue, task: time the body ran
``omniq_task_queue_wait_seconds``      histogram  queue: from due (``run_at``) until claimed
``omniq_lease_recoveries_total``       counter    tasks made due again after their worker died
``omniq_worker_info``                  gauge      worker_id, worker_type, queues: 1 per worker
``omniq_worker_slots``                 gauge      worker_id: tasks it runs at once
``omniq_worker_tasks_in_flight``       gauge      worker_id: tasks it holds (running or claimed)
=====================================  =========  ==============================================

``task`` is the function's ``module:qualname``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omniq.exceptions import ConfigurationError
from omniq.models.task import TaskError, TaskStatus
from omniq.monitoring.observer import TaskObserver
from omniq.monitoring.requirements import prometheus_client
from omniq.storage.records import TaskRecord

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics_core import Metric

    from omniq.workers.worker import Worker

__all__ = ["DURATION_BUCKETS", "WorkerMetrics", "metrics_url"]

_log = logging.getLogger("omniq.worker")

#: Histogram buckets of durations and waits, in seconds: 1 ms to 1 hour.
DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip


@dataclass(frozen=True)
class _Families:
    finished: Counter
    retries: Counter
    duration: Histogram
    queue_wait: Histogram
    recoveries: Counter


class _LiveWorkers:
    """Collects ``omniq_worker_*`` from the workers of this process that have metrics."""

    def __init__(self) -> None:
        self.workers: dict[str, tuple[Worker, str]] = {}
        self.lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily(
            "omniq_worker_info", "Workers of this process (1 each).",
            labels=["worker_id", "worker_type", "queues"],
        )  # fmt: skip
        slots = GaugeMetricFamily(
            "omniq_worker_slots", "Tasks the worker runs at once.", labels=["worker_id"]
        )
        in_flight = GaugeMetricFamily(
            "omniq_worker_tasks_in_flight",
            "Tasks the worker holds, running or claimed ahead.",
            labels=["worker_id"],
        )
        with self.lock:
            workers = list(self.workers.items())
        for worker_id, (worker, worker_type) in workers:
            queues = ",".join(worker.queues()) + (",*" if worker.all_queues else "")
            info.add_metric([worker_id, worker_type, queues], 1)
            slots.add_metric([worker_id], worker.runner.executor.max_workers)
            in_flight.add_metric([worker_id], worker.in_flight)
        return [info, slots, in_flight]


@functools.cache
def _families() -> tuple[_Families, _LiveWorkers]:
    """The worker metrics, registered once per process in the default registry."""
    prometheus = prometheus_client()
    live = _LiveWorkers()
    prometheus.REGISTRY.register(live)
    families = _Families(
        finished=prometheus.Counter(
            "omniq_tasks_finished",
            "Tasks whose final outcome this process recorded, by outcome.",
            ["queue", "task", "outcome"],
        ),
        retries=prometheus.Counter(
            "omniq_task_retries",
            "Failed attempts this process scheduled to run again.",
            ["queue", "task"],
        ),
        duration=prometheus.Histogram(
            "omniq_task_duration_seconds",
            "Seconds task bodies ran.",
            ["queue", "task"],
            buckets=DURATION_BUCKETS,
        ),
        queue_wait=prometheus.Histogram(
            "omniq_task_queue_wait_seconds",
            "Seconds from when a task was due until a worker claimed it.",
            ["queue"],
            buckets=DURATION_BUCKETS,
        ),
        recoveries=prometheus.Counter(
            "omniq_lease_recoveries",
            "Tasks made due again after their worker stopped renewing the lease.",
        ),
    )
    return families, live


#: worker id -> the URL its metrics are served at (while it runs).
_urls: dict[str, str] = {}


def metrics_url(worker: Worker) -> str | None:
    """The URL a running worker serves its metrics at, or ``None`` (no ``metrics_port``)."""
    return _urls.get(worker.worker_id)


class WorkerMetrics(TaskObserver):
    """Counts a worker's tasks into Prometheus metrics and serves them while it runs.

    Args:
        port: TCP port of the ``/metrics`` server (0: any free port).
        host: Address it listens on.
        worker_type: Shown in ``omniq_worker_info``.

    Raises:
        MissingDependencyError: prometheus-client is not installed.
    """

    def __init__(self, port: int, host: str, worker_type: str) -> None:
        self.port = port
        self.host = host
        self.worker_type = worker_type
        self._families, self._live = _families()
        self._server: Any = None
        # The labelled series, looked up once each (``labels()`` takes a lock every call).
        self._series: dict[tuple[int | str, ...], Any] = {}

    def _series_of(self, family: Any, *labels: str) -> Any:
        key: tuple[int | str, ...] = (id(family), *labels)  # families live with the process
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = family.labels(*labels)
        return series

    def worker_started(self, worker: Worker) -> None:
        """Start the ``/metrics`` server.

        Raises:
            ConfigurationError: The port cannot be listened on (taken, or not allowed).
        """
        from prometheus_client import start_http_server

        try:
            server, _ = start_http_server(self.port, self.host)
        except OSError as exc:
            raise ConfigurationError(
                f"metrics_port {self.port!r}: cannot serve metrics on {self.host}:{self.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._server = server
        host, port = str(server.server_address[0]), server.server_address[1]
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/metrics"
        _urls[worker.worker_id] = url
        with self._live.lock:
            self._live.workers[worker.worker_id] = (worker, self.worker_type)
        _log.info("worker %s: Prometheus metrics at %s", worker.worker_id, url)

    def worker_stopped(self, worker: Worker) -> None:
        """Stop the ``/metrics`` server; the worker leaves ``omniq_worker_info``."""
        with self._live.lock:
            self._live.workers.pop(worker.worker_id, None)
        _urls.pop(worker.worker_id, None)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def task_started(  # noqa: D102 - as TaskObserver
        self, record: TaskRecord, headers: Mapping[str, str] | None, waited: float
    ) -> None:
        self._series_of(self._families.queue_wait, record.queue_name).observe(waited)

    def body_ended(  # noqa: D102
        self, record: TaskRecord, seconds: float, error: BaseException | None
    ) -> None:
        duration = self._families.duration
        self._series_of(duration, record.queue_name, record.func_name).observe(seconds)

    def task_finished(  # noqa: D102
        self, record: TaskRecord, status: TaskStatus, error: TaskError | None
    ) -> None:
        families = self._families
        if status is TaskStatus.RETRYING:
            self._series_of(families.retries, record.queue_name, record.func_name).inc()
        else:
            finished = families.finished
            self._series_of(finished, record.queue_name, record.func_name, status.value).inc()

    def leases_recovered(self, task_ids: Sequence[str]) -> None:  # noqa: D102
        self._families.recoveries.inc(len(task_ids))
