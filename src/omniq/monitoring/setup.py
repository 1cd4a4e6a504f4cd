"""Which observers a worker gets: metrics when asked for, traces when OpenTelemetry is here."""

from __future__ import annotations

from omniq.monitoring.observer import Observers, TaskObserver
from omniq.monitoring.otel import AVAILABLE

__all__ = ["worker_observer"]


def worker_observer(
    worker_id: str, worker_type: str, metrics_port: int | None, metrics_host: str
) -> TaskObserver | None:
    """The observer of a new worker, or ``None`` when nothing observes it.

    Args:
        worker_id: The worker's id.
        worker_type: Its type (shown in the metrics).
        metrics_port: Serve Prometheus metrics on this port, or ``None``.
        metrics_host: The address the metrics server listens on.

    Raises:
        MissingDependencyError: ``metrics_port`` is set without prometheus-client.
    """
    observers: list[TaskObserver] = []
    if metrics_port is not None:
        from omniq.monitoring.worker_metrics import WorkerMetrics

        observers.append(WorkerMetrics(metrics_port, metrics_host, worker_type))
    if AVAILABLE:
        from omniq.monitoring.execution_spans import ExecutionSpans

        observers.append(ExecutionSpans(worker_id))
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else Observers(observers)
