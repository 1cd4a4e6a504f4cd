"""Worker types and the options a worker accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omniq.core import validation as check
from omniq.exceptions import ConfigurationError, MissingDependencyError
from omniq.workers.executors import AsyncExecutor, TaskExecutor, ThreadPoolTaskExecutor

__all__ = ["WORKER_TYPES", "WorkerOptions", "create_executor"]

#: Worker types that can be started today.
WORKER_TYPES: tuple[str, ...] = ("async", "thread_pool", "process_pool", "gevent")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Options of a worker, from ``worker_config`` or keyword arguments.

    Attributes:
        max_workers: Tasks run at once (threads for ``thread_pool``).
        lease_duration: Seconds a claim is valid without renewal; a dead worker's tasks are
            re-run by others after at most this long.
        poll_interval: Seconds between store checks while idle (other processes' enqueues
            are seen after at most this long; this process's at once). On a store that
            notifies (PostgreSQL), other processes' enqueues wake the worker at once too,
            and it looks at the store at least every second as a backstop.
        grace_period: Seconds ``stop_worker`` waits for running tasks before releasing them.
        prefetch_multiplier: Most tasks each slot holds, running or claimed ahead. Each
            slot holds about 20 ms of work (by the mean body time): no-op-sized bodies get
            the full multiplier, 5 ms bodies 4, bodies of 20 ms and more none, so claims keep
            up with short bodies and no task waits behind long ones. 1 disables it.
        all_queues: Also serve every queue that holds tasks, after the declared ones (in
            name order). The worker re-reads the store's queues every few seconds, so a
            queue a producer starts using is served without a restart; the worker
            registry shows ``*`` among its queues. ``omniq worker`` without ``--queues``
            and without configured queues runs this way.
        metrics_port: Serve the worker's Prometheus metrics over HTTP on this port
            (``/metrics``; 0 picks a free port, logged); ``None``: no metrics. Needs
            ``omniq[metrics]`` (see :mod:`omniq.monitoring.worker_metrics`).
        metrics_host: The address the metrics server listens on: loopback by default,
            ``0.0.0.0`` to let a Prometheus on another host scrape it.
    """

    max_workers: int = 4
    lease_duration: float = 30.0
    poll_interval: float = 0.02
    grace_period: float = 30.0
    prefetch_multiplier: int = 32
    all_queues: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> WorkerOptions:
        """Validate and build options; unknown keys and bad values are errors naming them."""
        defaults = cls()
        allowed = {
            "max_workers", "lease_duration", "poll_interval", "grace_period",
            "prefetch_multiplier", "all_queues", "metrics_port", "metrics_host",
        }  # fmt: skip
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ConfigurationError(
                f"worker_config key {unknown[0]!r} is not one of {', '.join(sorted(allowed))}"
            )
        counts: dict[str, int] = {}
        for key in ("max_workers", "prefetch_multiplier"):
            count = options.get(key, getattr(defaults, key))
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigurationError(f"{key} {count!r} is not valid: expected an integer >= 1")
            counts[key] = check.check_int(count, key, minimum=1)
        values: dict[str, float] = {}
        for key in ("lease_duration", "poll_interval", "grace_period"):
            value = options.get(key, getattr(defaults, key))
            if isinstance(value, bool) or not isinstance(value, int | float):
                bound = ">= 0" if key == "grace_period" else "> 0"
                raise ConfigurationError(
                    f"{key} {value!r} is not valid: expected a number of seconds {bound}"
                )
            # finite, >= 0 (> 0 but for grace_period), at most 100 years
            seconds = check.check_seconds(value, key, allow_zero=key == "grace_period")
            values[key] = float(seconds or 0.0)
        all_queues = options.get("all_queues", False)
        if not isinstance(all_queues, bool):
            raise ConfigurationError(
                f"all_queues {all_queues!r} is not valid: expected true or false"
            )
        metrics_port = options.get("metrics_port")
        if metrics_port is not None and (
            isinstance(metrics_port, bool)
            or not isinstance(metrics_port, int)
            or not 0 <= metrics_port <= 65535
        ):
            raise ConfigurationError(
                f"metrics_port {metrics_port!r} is not valid: expected a TCP port from 0 to "
                "65535 (0: any free port), or null for no metrics"
            )
        metrics_host = options.get("metrics_host", defaults.metrics_host)
        if not isinstance(metrics_host, str) or not metrics_host.strip():
            raise ConfigurationError(
                f"metrics_host {metrics_host!r} is not valid: expected an address to listen "
                "on, e.g. '127.0.0.1' or '0.0.0.0'"
            )
        return cls(
            max_workers=counts["max_workers"],
            prefetch_multiplier=counts["prefetch_multiplier"],
            all_queues=all_queues,
            metrics_port=metrics_port,
            metrics_host=metrics_host.strip(),
            **values,
        )


def check_worker_type(worker_type: object) -> str:
    """Return ``worker_type`` if it names a worker type, else raise naming the allowed ones.

    Only the name is checked: whether the type can run here (e.g. gevent needs its extra
    and a patched process) is checked when a worker starts, so a process that only
    enqueues may name any type.
    """
    if not isinstance(worker_type, str) or worker_type not in WORKER_TYPES:
        allowed = ", ".join(repr(name) for name in WORKER_TYPES)
        raise ConfigurationError(f"worker_type {worker_type!r} is not one of {allowed}")
    return worker_type


def create_executor(worker_type: str, max_workers: int) -> TaskExecutor:
    """Build the executor of a worker type.

    Args:
        worker_type: ``"thread_pool"``, ``"async"``, ``"process_pool"`` or ``"gevent"``.
        max_workers: Bodies run at once (threads, child processes or greenlets).

    Raises:
        ConfigurationError: Unknown or not yet available worker type, or ``"gevent"`` in a
            process that gevent has not monkey-patched (the message says how to run it).
        MissingDependencyError: ``"gevent"`` without gevent installed.
    """
    if worker_type == "thread_pool":
        return ThreadPoolTaskExecutor(max_workers)
    if worker_type == "async":
        return AsyncExecutor(max_workers)
    if worker_type == "process_pool":
        from omniq.workers.process_pool import ProcessPoolTaskExecutor

        return ProcessPoolTaskExecutor(max_workers)
    if worker_type == "gevent":
        try:
            from omniq.workers.gevent_pool import GeventTaskExecutor, check_monkey_patched
        except ImportError as exc:
            if exc.name not in ("gevent", "greenlet") and not str(exc.name).startswith(
                ("gevent.", "greenlet.")
            ):
                raise
            raise MissingDependencyError(
                "worker_type 'gevent' needs gevent, which is not installed: "
                "pip install 'omniq[gevent]'"
            ) from exc
        check_monkey_patched()
        return GeventTaskExecutor(max_workers)
    allowed = ", ".join(repr(name) for name in WORKER_TYPES)
    raise ConfigurationError(f"worker_type {worker_type!r} is not one of {allowed}")
