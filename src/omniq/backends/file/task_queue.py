"""The file task queue: enqueue, claim, leases, completion, retries and recovery.

Claim order comes from file names (see :mod:`omniq.backends.file.layout`): a claim lists
the queue's priority directories, then walks the time buckets of each, oldest first, and
stops at the first bucket not due yet, so its cost does not grow with the number of tasks.
It takes a task by *renaming* its entry to ``running/`` where the store can (one process
wins the rename), else by compare-and-swap of the task file (``If-Match`` on S3); then it
writes the task file as ``executing`` with its events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import msgspec

from omniq.backends.file.admin import AdminVerbs
from omniq.backends.file.dependencies import DependencyVerbs
from omniq.backends.file.documents import TaskDoc, encode, report
from omniq.backends.file.layout import (
    expiry_key,
    float_key,
    parse_entry,
    queue_dir,
    stamp_seconds,
    task_key,
)
from omniq.backends.file.registry import RegistryVerbs
from omniq.backends.file.result_store import FileResultStorage
from omniq.backends.file.schedules import ScheduleVerbs
from omniq.backends.file.state import GRACE_SECONDS, FileState
from omniq.backends.file.store import ObjectStore, Writes
from omniq.backends.file.task_files import TaskFiles, events_by_task, running_key, waiting_key
from omniq.exceptions import BackendError
from omniq.models.event import TaskEvent
from omniq.models.task import TaskError, TaskStatus
from omniq.storage.records import ResultRecord, TaskRecord

__all__ = ["FileTaskQueue"]


class FileTaskQueue(ScheduleVerbs, DependencyVerbs, AdminVerbs, RegistryVerbs, TaskFiles):
    """A :class:`~omniq.storage.interfaces.TaskQueue` on files (see the module docstring).

    Args:
        state: The backend's open store.
        results: The backend's result storage (completions store results through it).
    """

    def __init__(self, state: FileState, results: FileResultStorage) -> None:
        super().__init__(state)
        self._results = results

    # -- enqueue -------------------------------------------------------------------------------

    async def enqueue(self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()) -> None:
        """Store new tasks (all or none) with their events.

        Raises:
            BackendError: An id is already stored or appears twice; nothing is stored.
        """
        await self._state.run(self.enqueue_blocking, list(tasks), list(events))

    def enqueue_blocking(
        self, tasks: Sequence[TaskRecord], events: Sequence[TaskEvent] = ()
    ) -> None:
        """Blocking twin of :meth:`enqueue`, from any thread."""
        store, _ = self._open()
        writes = Writes(store)
        self._insert(writes, list(tasks), list(events))
        writes.commit()

    def _insert(
        self, writes: Writes, tasks: list[TaskRecord], events: list[TaskEvent]
    ) -> list[str]:
        """Create task files exclusively; return the ids that already existed (none stored).

        Entries are written before the files they point to (a claimer meeting an entry
        without its file skips it). The event-log file is written first.
        """
        if not tasks:
            return []
        store, log = self._open()
        seen: set[str] = set()
        for record in tasks:
            if record.id in seen:
                raise BackendError(f"a task with id {record.id!r} appears twice in the batch")
            seen.add(record.id)
        existing = [r.id for r in tasks if store.exists(task_key(r.id))]
        if existing:
            raise BackendError(f"a task with id {existing[0]!r} already exists")
        position, stored = log.append(writes, events)
        grouped = events_by_task(stored)
        docs: list[TaskDoc] = []
        for record in tasks:
            doc = TaskDoc(stamp=self._new_stamp(), task=self._copy(record),
                          events=grouped.get(record.id, []))  # fmt: skip
            if self._claimable(record):
                doc.entry = self._new_entry(doc)
                writes.touch(doc.entry)
            elif record.status is TaskStatus.WAITING:
                writes.touch(waiting_key(record.id))
                for dependency in record.depends_on:
                    writes.touch(self._dependent_key(dependency, record.id))
            docs.append(doc)
        created: dict[str, bytes] = {}

        def create(doc: TaskDoc) -> None:
            data = encode(doc)
            if writes.create(task_key(doc.task.id), data):
                created[doc.task.id] = data

        store.parallel(create, docs)
        if len(created) == len(docs):
            return []
        for doc in docs:  # undo: one id was taken meanwhile
            if doc.task.id in created:
                writes.delete(task_key(doc.task.id), created[doc.task.id])
            if doc.entry is not None:
                writes.delete(doc.entry)
        log.retract(writes, position, seen)
        writes.commit()
        taken = next(doc.task.id for doc in docs if doc.task.id not in created)
        raise BackendError(f"a task with id {taken!r} already exists")

    # -- claim ---------------------------------------------------------------------------------

    async def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        now: float,
        lease_until: float,
        events_for: Callable[[list[TaskRecord]], Sequence[TaskEvent]] | None = None,
    ) -> list[TaskRecord]:
        """Take up to ``limit`` due tasks, in service order (see the protocol)."""
        return await self._state.run(
            self._claim,
            list(queues),
            limit,
            worker_id,
            now,
            lease_until,
            events_for,
            kind="claim",
        )

    def _due(self, store: ObjectStore, queue_name: str, now_key: str) -> Iterator[str]:
        """Entry keys of a queue in claim order, stopping at the first not due per priority."""
        base = queue_dir(queue_name)
        for priority in store.list(base):
            yield from self._due_in(store, f"{base}/{priority}", now_key)

    def _due_in(self, store: ObjectStore, prefix: str, now_key: str) -> Iterator[str]:
        for a in store.list(prefix):
            if a > now_key[:7]:
                return
            for b in store.list(f"{prefix}/{a}"):
                if a + b > now_key[:9]:
                    return
                for c in store.list(f"{prefix}/{a}/{b}"):
                    if a + b + c > now_key[:11]:
                        return
                    bucket = f"{prefix}/{a}/{b}/{c}"
                    for stamp in store.list(bucket):
                        leaf = f"{bucket}/{stamp}"
                        names = store.list(leaf)
                        if not names:
                            store.prune(leaf)
                            continue
                        # Only the current quarter second holds entries not due yet.
                        yield from (f"{leaf}/{n}" for n in names if n[:16] <= now_key)
                    store.prune(bucket)
                store.prune(f"{prefix}/{a}/{b}")
            store.prune(f"{prefix}/{a}")

    def _claim(
        self,
        queues: list[str],
        limit: int,
        worker_id: str,
        now: float,
        lease_until: float,
        events_for: Callable[[list[TaskRecord]], Sequence[TaskEvent]] | None,
    ) -> list[TaskRecord]:
        store, log = self._open()
        self._only_worker(store, worker_id, now)
        writes = Writes(store)
        now_key = float_key(now)
        rename = store.guarantees.atomic_rename
        taken: list[tuple[TaskDoc, object, str]] = []
        for queue_name in dict.fromkeys(queues):
            if len(taken) >= limit:
                break
            for key in self._due(store, queue_name, now_key):
                doc_token = self._candidate(store, writes, key, now)
                if doc_token is None:
                    continue
                doc, token = doc_token
                if rename:
                    if not writes.move(key, running_key(doc.task.id)):
                        continue  # another claimer took it
                else:
                    writes.touch(running_key(doc.task.id))
                taken.append((doc, token, key))
                if len(taken) >= limit:
                    break
        if not taken:
            writes.commit()
            return []
        records = []
        for doc, _, _ in taken:
            record = self._copy(doc.task)
            record.status = TaskStatus.EXECUTING
            record.attempts += 1
            record.started_at = now
            record.worker_id = worker_id
            record.lease_expires_at = lease_until
            records.append(record)
        events = list(events_for(records)) if events_for is not None else []
        position, stored = log.append(writes, events)
        grouped = events_by_task(stored)
        won: dict[str, bool] = {}

        def write(index: int) -> None:
            doc, token, key = taken[index]
            record = records[index]
            new = self._with(doc, record, grouped.get(record.id))
            new.rev = doc.rev + 1
            if self._swap(writes, new, token):
                won[record.id] = True
                return

            # Changed since read (cancelled?): claim it only if it is still that entry's.
            def again(current: TaskDoc) -> TaskDoc | None:
                if current.entry != key or not self._claimable(current.task):
                    return None
                return self._with(current, record, grouped.get(record.id))

            won[record.id] = rename and self._change(writes, record.id, again) is not None

        store.parallel(write, range(len(taken)))
        claimed: list[TaskRecord] = []
        lost: list[str] = []
        for (_, _, key), record in zip(taken, records, strict=True):
            if won.get(record.id):
                claimed.append(self._copy(record))
                if not rename:
                    writes.delete(key)
            else:
                lost.append(record.id)
                if rename:
                    writes.delete(running_key(record.id))
        log.retract(writes, position, lost)
        writes.commit()
        return claimed

    def _candidate(
        self, store: ObjectStore, writes: Writes, key: str, now: float
    ) -> tuple[TaskDoc, object] | None:
        """The task an entry names if it may be claimed now; clean up entries that lie."""
        name = key.rsplit("/", 1)[1]
        parsed = parse_entry(name)
        if parsed is None:
            report(f"{store.location}/{key}", "it is not a queue entry")
            return None
        _, stamp, task_id = parsed
        found = self._read(store, task_id)
        if found is None:
            # An enqueue in flight, or one that crashed before writing the task file.
            if now - stamp_seconds(stamp) > GRACE_SECONDS and self._stale(store, key):
                writes.delete(key)
            return None
        doc, token = found
        if doc.entry != key or not self._claimable(doc.task):
            if self._stale(store, key):
                writes.delete(key)
            return None
        if doc.task.run_at > now:
            return None
        return doc, token

    # -- leases and outcomes -----------------------------------------------------------------

    def _held(self, current: TaskDoc, worker_id: str) -> bool:
        record = current.task
        return record.status is TaskStatus.EXECUTING and record.worker_id == worker_id

    async def extend_leases(
        self, task_ids: Sequence[str], worker_id: str, lease_until: float
    ) -> list[str]:
        """Push the lease of the tasks this worker holds; return those renewed."""
        return await self._state.run(self._extend, list(dict.fromkeys(task_ids)), worker_id,
                                     lease_until)  # fmt: skip

    def _extend(self, task_ids: list[str], worker_id: str, lease_until: float) -> list[str]:
        store, _ = self._open()
        writes = Writes(store)
        renewed: set[str] = set()

        def extend(task_id: str) -> None:
            def change(current: TaskDoc) -> TaskDoc | None:
                if not self._held(current, worker_id):
                    return None
                record = self._copy(current.task)
                record.lease_expires_at = lease_until
                return self._with(current, record)

            if self._change(writes, task_id, change) is not None:
                renewed.add(task_id)

        store.parallel(extend, task_ids)
        writes.commit()
        return [task_id for task_id in task_ids if task_id in renewed]

    async def complete_many(
        self,
        task_ids: Sequence[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None,
        results: Sequence[ResultRecord] = (),
    ) -> list[str]:
        """Mark the tasks this worker holds ``completed``, each with its result, atomically."""
        return await self._state.run(
            self._complete, list(dict.fromkeys(task_ids)), worker_id, now, events_for,
            list(results),
        )  # fmt: skip

    def _complete(
        self,
        task_ids: list[str],
        worker_id: str,
        now: float,
        events_for: Callable[[list[str]], Sequence[TaskEvent]] | None,
        results: list[ResultRecord],
    ) -> list[str]:
        store, log = self._open()
        writes = Writes(store)
        held: dict[str, tuple[TaskDoc, object]] = {}

        def read(task_id: str) -> None:
            found = self._read(store, task_id)
            if found is None:
                return
            if self._held(found[0], worker_id) and not found[0].task.cancel_requested:
                held[task_id] = found

        store.parallel(read, task_ids)
        candidates = [task_id for task_id in task_ids if task_id in held]
        if not candidates:
            return []
        # Each result goes in its task's file, with the status: one atomic write.
        by_task = {result.task_id: result for result in results}
        for task_id in candidates:
            result = by_task.get(task_id)
            if result is not None and result.expires_at is not None:
                writes.touch(expiry_key(result.expires_at, task_id))
        events = list(events_for(candidates)) if events_for is not None else []
        events = [event for event in events if event.task_id in held]
        position, stored = log.append(writes, events)
        grouped = events_by_task(stored)
        done: set[str] = set()

        def finish(task_id: str) -> None:
            def change(current: TaskDoc) -> TaskDoc | None:
                if not self._held(current, worker_id) or current.task.cancel_requested:
                    return None
                record = self._copy(current.task)
                record.status = TaskStatus.COMPLETED
                record.finished_at = now
                record.lease_expires_at = None
                new = self._with(current, record, grouped.get(task_id))
                if task_id in by_task:
                    new.result = by_task[task_id]
                return new

            doc, token = held[task_id]
            new = change(doc)
            if new is not None:
                new.rev = doc.rev + 1
                if self._swap(writes, new, token) or self._change(writes, task_id, change):
                    done.add(task_id)

        store.parallel(finish, candidates)
        lost = [task_id for task_id in candidates if task_id not in done]
        log.retract(writes, position, lost)
        writes.delete_all(running_key(task_id) for task_id in done)
        writes.commit()
        return [task_id for task_id in task_ids if task_id in done]

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        now: float,
        *,
        worker_id: str | None = None,
        error: TaskError | None = None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Move a task to a final state (see the protocol for the conditions)."""
        return await self._state.run(self._finish, task_id, status, now, worker_id, error,
                                     list(events))  # fmt: skip

    def _finish(
        self,
        task_id: str,
        status: TaskStatus,
        now: float,
        worker_id: str | None,
        error: TaskError | None,
        events: list[TaskEvent],
    ) -> bool:
        store, log = self._open()
        writes = Writes(store)
        before: list[TaskDoc] = []
        position, stored = log.append(writes, events)

        def change(current: TaskDoc) -> TaskDoc | None:
            record = current.task
            if worker_id is not None:
                if not self._held(current, worker_id):
                    return None
                if record.cancel_requested and status is not TaskStatus.CANCELLED:
                    return None
            elif record.status.is_final:
                return None
            before[:] = [current]
            record = self._copy(record)
            record.status = status
            record.finished_at = now
            record.lease_expires_at = None
            if error is not None:
                record.error = error
            return self._with(current, record, stored)

        after = self._change(writes, task_id, change)
        if after is None:
            if events:
                log.retract(writes, position, [task_id])
                writes.commit()
            return False
        self._leave_index(writes, before[0], after)
        writes.commit()
        return True

    async def retry_later(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: Sequence[TaskEvent] = (),
    ) -> bool:
        """Put an executing task back as ``retrying`` until ``run_at`` (see the protocol)."""
        return await self._state.run(self._retry, task_id, worker_id, run_at, error,
                                     list(events))  # fmt: skip

    def _retry(
        self,
        task_id: str,
        worker_id: str,
        run_at: float,
        error: TaskError | None,
        events: list[TaskEvent],
    ) -> bool:
        store, log = self._open()
        writes = Writes(store)
        found = self._read(store, task_id)
        if found is None or not self._held(found[0], worker_id) or found[0].task.cancel_requested:
            return False
        position, stored = log.append(writes, events)
        entries: list[str] = []

        def change(current: TaskDoc) -> TaskDoc | None:
            if not self._held(current, worker_id) or current.task.cancel_requested:
                return None
            record = self._copy(current.task)
            record.retry_count += 1
            record.run_at = run_at
            record.error = error
            record.lease_expires_at = None
            record.status = TaskStatus.RETRYING
            new = self._with(current, record, stored)
            new.entry = self._new_entry(new)
            if new.entry not in entries:
                entries.append(new.entry)
                writes.touch(new.entry)  # before the task file names it
            return new

        after = self._change(writes, task_id, change)
        if after is None:
            writes.delete_all(entries)
            log.retract(writes, position, [task_id])
            writes.commit()
            return False
        writes.delete_all(e for e in entries if e != after.entry)
        writes.delete(running_key(task_id))
        writes.commit()
        return True

    async def release(self, task_ids: Sequence[str], worker_id: str) -> list[str]:
        """Give back tasks this worker holds, as if never claimed."""
        return await self._state.run(self._release, list(dict.fromkeys(task_ids)), worker_id)

    def _release(self, task_ids: list[str], worker_id: str) -> list[str]:
        store, _ = self._open()
        writes = Writes(store)
        released: list[str] = []
        for task_id in task_ids:

            def change(current: TaskDoc) -> TaskDoc | None:
                if not self._held(current, worker_id):
                    return None
                record = self._copy(current.task)
                record.attempts = max(record.attempts - 1, 0)
                record.worker_id = None
                record.lease_expires_at = None
                record.status = TaskStatus.ENQUEUED
                return self._enter_queue(writes, current, record)

            if self._change(writes, task_id, change) is not None:
                writes.delete(running_key(task_id))
                released.append(task_id)
        writes.commit()
        return released

    async def recover_expired_leases(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None = None
    ) -> list[str]:
        """Make claimable the executing tasks whose lease ended before ``now``."""
        return await self._state.run(self._recover, now, events_for)

    def _recover(
        self, now: float, events_for: Callable[[list[str]], Sequence[TaskEvent]] | None
    ) -> list[str]:
        store, log = self._open()
        writes = Writes(store)
        expired: list[str] = []
        for name in store.list("running"):
            key = f"running/{name}"
            task_id = self._id_of(name)
            found = self._read(store, task_id)
            if found is None:
                if self._stale(store, key):
                    writes.delete(key)
                continue
            doc, _ = found
            record = doc.task
            if record.status is TaskStatus.EXECUTING:
                if record.lease_expires_at is not None and record.lease_expires_at < now:
                    expired.append(task_id)
                continue
            if not self._stale(store, key):
                continue  # a claim or an outcome in flight
            if doc.entry is not None and not store.exists(doc.entry):
                writes.touch(doc.entry)  # a claim died between its rename and its write
            writes.delete(key)
        if not expired:
            writes.commit()
            return []
        events = list(events_for(expired)) if events_for is not None else []
        position, stored = log.append(writes, events)
        grouped = events_by_task(stored)
        recovered: list[str] = []
        for task_id in expired:

            def change(current: TaskDoc, task_id: str = task_id) -> TaskDoc | None:
                record = current.task
                if (
                    record.status is not TaskStatus.EXECUTING
                    or record.lease_expires_at is None
                    or record.lease_expires_at >= now
                ):
                    return None
                record = self._copy(record)
                record.lease_expires_at = None
                record.status = TaskStatus.ENQUEUED
                return self._enter_queue(writes, current, record, grouped.get(task_id))

            if self._change(writes, task_id, change) is not None:
                writes.delete(running_key(task_id))
                recovered.append(task_id)
        log.retract(writes, position, [t for t in expired if t not in recovered])
        writes.commit()
        return recovered

    async def get(self, task_id: str) -> TaskRecord | None:
        """Return the task, or ``None`` if unknown."""
        return await self._state.read(self._get, task_id)

    def _get(self, task_id: str) -> TaskRecord | None:
        store, _ = self._open()
        return self._record(store, task_id)

    @staticmethod
    def _id_of(name: str) -> str:
        from omniq.backends.file.layout import id_of

        return id_of(name)


_ = msgspec  # re-exported types are built with msgspec
