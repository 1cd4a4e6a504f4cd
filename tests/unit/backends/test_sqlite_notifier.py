"""The SQLite file watch wakes this process's idle workers when another connection writes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.contract.records import NOW, make_task

from omniq.backends.sqlite import SQLiteBackend
from omniq.backends.sqlite.notifier import FileWatchNotifier
from omniq.backends.sqlite.task_queue import SQLiteTaskQueue
from omniq.core.notify import Channel


async def until(check: Callable[[], bool]) -> None:
    """Yield to the loop until ``check()`` is true, for 10 s at most (a poll with a deadline)."""
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110 - the watch state has no event to await
            await asyncio.sleep(0.001)


def commit_elsewhere(path: Path) -> None:
    """A commit by another OmniQ connection to the file, as another process would make."""
    other = SQLiteBackend(project_name="watch", db_path=path)
    other.initialize()
    try:
        other.task_queue.enqueue_blocking([], [])  # an empty write: still a commit
    finally:
        other.close()


async def test_watches_only_while_a_worker_listens_and_wakes_it_on_a_write(
    tmp_path: Path,
) -> None:
    backend = SQLiteBackend(project_name="watch", db_path=tmp_path / "q.db")
    backend.initialize()
    notifier = backend.notifier
    assert isinstance(notifier, FileWatchNotifier)
    channel = Channel()
    await notifier.start(channel)
    try:
        assert not notifier.watching  # a producer-only process does not watch
        woken = asyncio.Event()
        channel.add_task_listener(woken)
        await until(lambda: notifier.watching)
        await asyncio.to_thread(commit_elsewhere, backend.db_path)
        await asyncio.wait_for(woken.wait(), 10)
        channel.remove_task_listener(woken)
        await until(lambda: not notifier.watching)
    finally:
        await notifier.stop()
        backend.close()
    assert not notifier.watching


async def test_a_sink_without_demand_reports_is_watched_from_the_start(tmp_path: Path) -> None:
    class Sink:
        def __init__(self) -> None:
            self.woken = asyncio.Event()

        def tasks_available(self, when: float | None = None) -> None:
            self.woken.set()

        def result_ready(self, task_id: str) -> None: ...

        def schedules_changed(self, when: float | None = None) -> None: ...

        def cancel_requested(self) -> None: ...

    backend = SQLiteBackend(project_name="watch", db_path=tmp_path / "q.db")
    backend.initialize()
    notifier = FileWatchNotifier(backend.db_path)
    sink = Sink()
    await notifier.start(sink)
    try:
        assert notifier.watching
        await asyncio.to_thread(commit_elsewhere, backend.db_path)
        await asyncio.wait_for(sink.woken.wait(), 10)
    finally:
        await notifier.stop()
        backend.close()


async def test_a_look_that_finds_nothing_due_reports_when_a_new_task_becomes_due(
    tmp_path: Path,
) -> None:
    # A commit wakes the workers when a delayed task is stored, not when it becomes due:
    # the worker's look reports its due time, once (only tasks stored since are read).
    reported: list[float] = []
    path = tmp_path / "q.db"
    producer = SQLiteBackend(project_name="watch", db_path=path)
    producer.initialize()
    waiting = make_task(run_at=NOW - 5)  # stored before the worker's first look
    producer.task_queue.enqueue_blocking([waiting], [])
    worker = SQLiteBackend(project_name="watch", db_path=path)
    worker.initialize()
    queue = SQLiteTaskQueue(worker._writer, worker._reader, reported.append)  # type: ignore[arg-type]
    try:
        now = NOW - 10
        assert await queue.claim(["default"], 4, "w", now, now + 30) == []
        assert reported == [NOW - 5]  # the first look reads every waiting task
        producer.task_queue.enqueue_blocking([make_task(run_at=NOW - 7)], [])
        assert await queue.claim(["default"], 4, "w", now, now + 30) == []
        assert reported == [NOW - 5, NOW - 7]
        assert await queue.claim(["default"], 4, "w", now, now + 30) == []
        assert reported == [NOW - 5, NOW - 7]  # nothing new stored: nothing more to tell
        claimed = await queue.claim(["default"], 4, "w", NOW, NOW + 30)
        assert len(claimed) == 2
        assert waiting.id in {task.id for task in claimed}
    finally:
        worker.close()
        producer.close()


def test_a_commit_mark_is_seen_by_a_watch_and_changes_nothing_on_disk(tmp_path: Path) -> None:
    """The mark must not dirty the ``-wal``'s inode: that made the next fsync journal it."""
    import inotify_simple

    backend = SQLiteBackend(project_name="watch", db_path=tmp_path / "q.db")
    backend.initialize()
    try:
        notifier = backend.notifier
        assert isinstance(notifier, FileWatchNotifier)
        backend.task_queue.enqueue_blocking([make_task()], [])  # the -wal now exists
        before = notifier.wal_path.stat()
        with inotify_simple.INotify() as watch:
            watch.add_watch(tmp_path, inotify_simple.flags.CLOSE_NOWRITE)
            notifier.committed()
            events = watch.read(timeout=10_000)
        after = notifier.wal_path.stat()
    finally:
        backend.close()
    assert notifier.wal_path.name in {event.name for event in events}
    assert (after.st_mtime_ns, after.st_ctime_ns, after.st_size) == (
        before.st_mtime_ns, before.st_ctime_ns, before.st_size,
    )  # fmt: skip
