"""Worker types and the options a worker accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omniq.exceptions import ConfigurationError, MissingDependencyError
from omniq.workers.executors import AsyncExecutor, TaskExecutor, ThreadPoolTaskExecutor

__all__ = ["PLANNED_WORKER_TYPES", "WORKER_TYPES", "WorkerOptions", "create_executor"]

#: Worker types that can be started today.
WORKER_TYPES: tuple[str, ...] = ("async", "thread_pool", "process_pool", "gevent")
#: Worker types named by the documentation that are not built yet.
PLANNED_WORKER_TYPES: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Options of a worker, from ``worker_config`` or keyword arguments.

    Attributes:
        max_workers: Tasks run at once (threads for ``thread_pool``).
        lease_duration: Seconds a claim is valid without renewal; a dead worker's tasks are
            re-run by others after at most this long.
        poll_interval: Seconds between store checks while idle (other processes' enqueues
            are seen after at most this long; this process's at once).
        grace_period: Seconds ``stop_worker`` waits for running tasks before releasing them.
        prefetch_multiplier: Most tasks each slot holds, running or claimed ahead. Each
            slot holds about 20 ms of work (by the mean body time): no-op-sized bodies get
            the full multiplier, 5 ms bodies 4, bodies of 20 ms and more none, so claims keep
            up with short bodies and no task waits behind long ones. 1 disables it.
    """

    max_workers: int = 4
    lease_duration: float = 30.0
    poll_interval: float = 0.02
    grace_period: float = 30.0
    prefetch_multiplier: int = 32

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> WorkerOptions:
        """Validate and build options; unknown keys and bad values are errors naming them."""
        defaults = cls()
        allowed = {
            "max_workers", "lease_duration", "poll_interval", "grace_period",
            "prefetch_multiplier",
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
            counts[key] = count
        values: dict[str, float] = {}
        for key in ("lease_duration", "poll_interval", "grace_period"):
            value = options.get(key, getattr(defaults, key))
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or (value == 0 and key != "grace_period")
            ):
                bound = ">= 0" if key == "grace_period" else "> 0"
                raise ConfigurationError(
                    f"{key} {value!r} is not valid: expected a number of seconds {bound}"
                )
            values[key] = float(value)
        return cls(
            max_workers=counts["max_workers"],
            prefetch_multiplier=counts["prefetch_multiplier"],
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
    if worker_type in PLANNED_WORKER_TYPES:
        raise ConfigurationError(
            f"worker_type {worker_type!r} is planned but not available yet; use one of {allowed}"
        )
    raise ConfigurationError(f"worker_type {worker_type!r} is not one of {allowed}")
