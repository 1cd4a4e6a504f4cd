"""A SQLite store holding real tasks (completed, failed, delayed, pickled, scheduled), and the
dashboard served over it."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from omniq import OmniQ
from omniq.cli.connect import StoreOptions, open_omniq
from omniq.dashboard import DashboardSettings
from omniq.models.task import TaskStatus

from . import jobs

TOKEN = "test-token-" + secrets.token_hex(8)


def wait_until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it is true; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {condition}")
        time.sleep(0.02)


@dataclass
class Store:
    """A filled store: its path, a writer on it, and ids of interesting tasks."""

    db_path: Path
    writer: OmniQ
    completed: list[str]
    failed: list[str]
    delayed: str
    pickled: str
    pickled_result: str
    tripwire: Path
    schedule: str

    def reader(self) -> OmniQ:
        """An OmniQ as ``omniq dashboard`` opens it (pickles shown as placeholders)."""
        return open_omniq(StoreOptions(db_path=self.db_path))

    def status(self, task_id: str) -> TaskStatus:
        """The task's status (never for the pickled tasks: this reader loads pickles)."""
        assert task_id not in (self.pickled, self.pickled_result)
        task = self.writer.get_task(task_id)
        assert task is not None
        return task.status


def fill(db_path: Path) -> Store:
    """Run real tasks on a new store at ``db_path``."""
    tripwire = db_path.parent / "unpickled.marker"
    writer = OmniQ(project_name="dash", db_path=db_path, queues=["default", "mail"]).open()
    completed = writer.enqueue_many(jobs.add, [{"a": i, "b": 1} for i in range(60)],
                                    name="adder", tags=["math"])  # fmt: skip
    failed = [writer.enqueue(jobs.broken, {"reason": f"r{i}"}, queue_name="mail", name="bad",
                             max_retries=0) for i in range(3)]  # fmt: skip
    pickled_result = writer.enqueue(jobs.make_tripwire, {"path": str(tripwire)})
    schedule = writer.schedule(jobs.add, {"a": 1, "b": 2}, interval=dt.timedelta(hours=1),
                               name="hourly")  # fmt: skip
    writer.start_worker(worker_type="thread_pool", max_workers=4)
    try:
        for task_id in [*completed, *failed, pickled_result]:
            wait_until(lambda t=task_id: _final(writer, t))
    finally:
        writer.stop_worker()
    delayed = writer.enqueue(jobs.add, {"a": 2, "b": 2}, run_in=dt.timedelta(hours=2),
                             name="later")  # fmt: skip
    assert not tripwire.exists()  # storing the pickled result did not load it
    # Never run (enqueued after the worker stopped): its argument is a pickle that would
    # create the marker when loaded.
    pickled = writer.enqueue(jobs.echo, {"value": jobs.Tripwire(tripwire)}, queue_name="vault")
    return Store(db_path=db_path, writer=writer, completed=completed, failed=failed,
                 delayed=delayed, pickled=pickled, pickled_result=pickled_result, tripwire=tripwire,
                 schedule=schedule)  # fmt: skip


def _final(oq: OmniQ, task_id: str) -> bool:
    task = oq.get_task(task_id)
    return task is not None and task.status.is_final


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    filled = fill(tmp_path_factory.mktemp("dash") / "dash.db")
    yield filled
    filled.writer.close()


def settings(**overrides: object) -> DashboardSettings:
    """Test settings: a free loopback port, the test token."""
    values: dict[str, object] = {"port": 0, "token": TOKEN}
    values.update(overrides)
    return DashboardSettings(**values)  # type: ignore[arg-type]
