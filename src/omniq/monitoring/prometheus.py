"""Store-level Prometheus metrics, read from the store on each scrape.

What the store holds, whichever process serves it (the dashboard's ``/metrics``, or any
application that registers :func:`store_collector`). Every scrape reads the store once
(:meth:`omniq.OmniQ.stats_async`: the task counts of every queue and the live workers), so
a scrape costs what ``omniq status`` costs.

=========================================  =====  ===========================================
Metric                                     Type   Labels, meaning
=========================================  =====  ===========================================
``omniq_queue_tasks``                      gauge  queue, status: tasks by status
``omniq_queue_due_tasks``                  gauge  queue: waiting tasks whose run time has come
``omniq_queue_delayed_tasks``              gauge  queue: waiting tasks whose run time is ahead
``omniq_queue_oldest_due_age_seconds``     gauge  queue: how long the oldest due task has
                                                  waited (0 when none is due)
``omniq_queue_live_workers``               gauge  queue: live workers serving it (0 with due
                                                  tasks: nothing will run them)
``omniq_live_workers``                     gauge  live workers of the store
``omniq_live_worker_slots``                gauge  tasks the live workers run at once, in all
``omniq_schedules``                        gauge  status: schedules by status
``omniq_store_up``                         gauge  1 if the store could be read, else 0 (and
                                                  no other store metric)
``omniq_store_read_duration_seconds``      gauge  how long reading the store took
=========================================  =====  ===========================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from omniq.exceptions import ConfigurationError
from omniq.models.stats import Stats
from omniq.models.task import TaskStatus
from omniq.monitoring.requirements import prometheus_client
from omniq.workers.queue_watch import serves

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from omniq.api.omniq import OmniQ

__all__ = ["StoreCollector", "render_store_metrics", "store_collector", "store_metrics"]

_log = logging.getLogger("omniq.monitoring")


def store_metrics(stats: Stats | None, read_seconds: float) -> list[Metric]:
    """The metric families of one reading of the store.

    Args:
        stats: What :meth:`omniq.OmniQ.stats_async` returned, or ``None`` if reading failed
            (only ``omniq_store_up`` 0 and the read time are given then).
        read_seconds: How long the reading took.

    Returns:
        The families, for a collector or an exposition.
    """
    from prometheus_client.core import GaugeMetricFamily

    up = GaugeMetricFamily("omniq_store_up", "Whether the store could be read (1) or not (0).")
    up.add_metric([], 0 if stats is None else 1)
    read = GaugeMetricFamily(
        "omniq_store_read_duration_seconds", "Seconds reading the store for these metrics took."
    )
    read.add_metric([], read_seconds)
    if stats is None:
        return [up, read]

    def gauge(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, text, labels=labels)

    tasks = gauge("omniq_queue_tasks", "Tasks by queue and status.", ["queue", "status"])
    due = gauge("omniq_queue_due_tasks", "Waiting tasks whose run time has come.", ["queue"])
    delayed = gauge(
        "omniq_queue_delayed_tasks", "Waiting tasks whose run time is still ahead.", ["queue"]
    )
    oldest = gauge(
        "omniq_queue_oldest_due_age_seconds",
        "Seconds the longest-waiting due task has been due (0 when none is due).",
        ["queue"],
    )
    serving = gauge("omniq_queue_live_workers", "Live workers serving the queue.", ["queue"])
    for queue in stats.queues:
        for status in TaskStatus:
            tasks.add_metric([queue.queue_name, status.value], queue.counts.get(status.value, 0))
        due.add_metric([queue.queue_name], queue.due)
        delayed.add_metric([queue.queue_name], queue.delayed)
        oldest.add_metric([queue.queue_name], queue.oldest_due_age or 0.0)
        serving.add_metric(
            [queue.queue_name],
            sum(1 for worker in stats.workers if serves(worker.queues, queue.queue_name)),
        )
    workers = gauge("omniq_live_workers", "Live workers of the store.", [])
    workers.add_metric([], len(stats.workers))
    slots = gauge("omniq_live_worker_slots", "Tasks the live workers run at once, in all.", [])
    slots.add_metric([], sum(worker.concurrency for worker in stats.workers))
    schedules = gauge("omniq_schedules", "Schedules by status.", ["status"])
    for schedule_status, count in sorted(stats.schedules.items()):
        schedules.add_metric([schedule_status], count)
    return [up, read, tasks, due, delayed, oldest, serving, workers, slots, schedules]


class StoreCollector:
    """A prometheus-client collector reading an OmniQ's store on each scrape.

    Register it in a registry (``REGISTRY.register(store_collector(oq))``); each
    ``collect()`` calls the sync :meth:`omniq.OmniQ.stats`, so it must not run on the
    OmniQ's own event loop (prometheus-client's HTTP server runs it in a thread of its own).
    In async code use :func:`render_store_metrics`.

    Args:
        oq: The OmniQ whose store is read (opened on first scrape).
    """

    def __init__(self, oq: OmniQ) -> None:
        self.oq = oq

    def collect(self) -> Iterable[Metric]:
        """Read the store; ``omniq_store_up`` 0 if that fails (the error is logged)."""
        started = time.perf_counter()
        try:
            stats: Stats | None = self.oq.stats()
        except Exception as exc:
            _log.warning("reading the store for metrics failed: %s", exc)
            stats = None
        return store_metrics(stats, time.perf_counter() - started)


def store_collector(oq: OmniQ) -> StoreCollector:
    """A collector of the store-level metrics of ``oq`` (see :class:`StoreCollector`).

    Args:
        oq: An :class:`omniq.OmniQ` on the store to watch.

    Raises:
        ConfigurationError: ``oq`` is not an OmniQ.
        MissingDependencyError: prometheus-client is not installed (``omniq[metrics]``).
    """
    _check_omniq(oq)
    prometheus_client()
    return StoreCollector(oq)


class _Families:
    """A collector of families read already (for one exposition)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def render_store_metrics(oq: OmniQ, accept: str | None = None) -> tuple[bytes, str]:
    """Read the store of ``oq`` once and render its metrics for a ``/metrics`` response.

    Args:
        oq: An :class:`omniq.OmniQ` on the store to watch (opened if need be).
        accept: The scraper's ``Accept`` header: OpenMetrics is given to those asking
            for it, Prometheus' text format otherwise.

    Returns:
        ``(body, content_type)`` of the HTTP response.

    Raises:
        ConfigurationError: ``oq`` is not an OmniQ.
        MissingDependencyError: prometheus-client is not installed (``omniq[metrics]``).
    """
    _check_omniq(oq)
    prometheus: Any = prometheus_client()
    started = time.perf_counter()
    try:
        stats: Stats | None = await oq.stats_async()
    except Exception as exc:
        _log.warning("reading the store for metrics failed: %s", exc)
        stats = None
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(_Families(store_metrics(stats, time.perf_counter() - started)))
    encoder, content_type = prometheus.exposition.choose_encoder(accept or "")
    return encoder(registry), content_type


def _check_omniq(oq: object) -> None:
    from omniq.api.omniq import OmniQ

    if not isinstance(oq, OmniQ):
        raise ConfigurationError(f"oq {oq!r} is not valid: expected an omniq.OmniQ instance")
