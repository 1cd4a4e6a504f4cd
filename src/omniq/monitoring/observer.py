"""The hooks a worker calls as its tasks run, for metrics and traces.

The worker (:class:`~omniq.workers.lifecycle.TaskRunner` and
:class:`~omniq.workers.worker.Worker`) holds at most one :class:`TaskObserver`, ``None``
when nothing observes it: then each hook costs one ``is None`` check. Outcomes are recorded
in the worker's own process whatever the worker type (a process pool's child only runs the
body), so one observer sees every task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import TaskRecord

if TYPE_CHECKING:
    from omniq.workers.worker import Worker

__all__ = ["Observers", "TaskObserver"]


class TaskObserver:
    """Receives what a worker does; every hook does nothing unless overridden.

    Hooks run on the worker's event loop and must be quick and must not raise.
    """

    def worker_started(self, worker: Worker) -> None:
        """``worker`` is starting (before it registers and claims).

        May raise :class:`~omniq.exceptions.ConfigurationError` to refuse the start (e.g. a
        metrics port that is taken).
        """

    def worker_stopped(self, worker: Worker) -> None:
        """``worker`` has stopped."""

    def task_started(
        self, record: TaskRecord, headers: Mapping[str, str] | None, waited: float
    ) -> None:
        """The body of a claimed task is about to run.

        Args:
            record: The claimed task.
            headers: The trace context stored with the task (see
                :meth:`omniq.serialization.Serializer.dump_call`), if any.
            waited: Seconds from when the task was due (``run_at``) until this claim.
        """

    def body_ended(self, record: TaskRecord, seconds: float, error: BaseException | None) -> None:
        """The body returned (``error`` ``None``) or raised, after ``seconds``."""

    def task_finished(
        self, record: TaskRecord, status: TaskStatus, error: TaskError | None
    ) -> None:
        """This worker's outcome of the attempt is durable.

        Args:
            record: The task, as claimed.
            status: ``completed``, ``failed``, ``cancelled``, ``expired``, or ``retrying``
                (the attempt failed and another is scheduled).
            error: The error recorded with it, if any.
        """

    def attempt_ended(self, record: TaskRecord) -> None:
        """The worker is done with this attempt, whether or not its outcome was recorded."""

    def leases_recovered(self, task_ids: Sequence[str]) -> None:
        """This worker's maintenance made tasks of dead workers due again."""


class Observers(TaskObserver):
    """Several observers as one, called in order.

    Args:
        observers: The observers.
    """

    def __init__(self, observers: Sequence[TaskObserver]) -> None:
        self.observers = tuple(observers)

    def worker_started(self, worker: Worker) -> None:  # noqa: D102 - as TaskObserver
        for observer in self.observers:
            observer.worker_started(worker)

    def worker_stopped(self, worker: Worker) -> None:  # noqa: D102
        for observer in self.observers:
            observer.worker_stopped(worker)

    def task_started(  # noqa: D102
        self, record: TaskRecord, headers: Mapping[str, str] | None, waited: float
    ) -> None:
        for observer in self.observers:
            observer.task_started(record, headers, waited)

    def body_ended(  # noqa: D102
        self, record: TaskRecord, seconds: float, error: BaseException | None
    ) -> None:
        for observer in self.observers:
            observer.body_ended(record, seconds, error)

    def task_finished(  # noqa: D102
        self, record: TaskRecord, status: TaskStatus, error: TaskError | None
    ) -> None:
        for observer in self.observers:
            observer.task_finished(record, status, error)

    def attempt_ended(self, record: TaskRecord) -> None:  # noqa: D102
        for observer in self.observers:
            observer.attempt_ended(record)

    def leases_recovered(self, task_ids: Sequence[str]) -> None:  # noqa: D102
        for observer in self.observers:
            observer.leases_recovered(task_ids)
