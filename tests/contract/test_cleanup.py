"""Every project a test makes on a shared server is removed whole (schemas, keys, streams)."""

from __future__ import annotations

from pathlib import Path

from backend_targets import TARGETS, new_project
from omniq.models.event import EventType, TaskEvent

from .records import NOW, make_result, make_task

CYCLES = 25


async def test_a_used_project_leaves_nothing_once_removed(
    backend_name: str, tmp_path: Path
) -> None:
    target = TARGETS[backend_name]
    target.check_service()
    marker = new_project("cleanup")
    projects = [f"{marker}x{i}" for i in range(CYCLES)]
    for project in projects:
        backend = target.make(project, tmp_path)
        await backend.initialize_async()
        try:
            task = make_task()
            await backend.task_queue.enqueue([task])
            await backend.event_store.append(
                [TaskEvent(task_id=task.id, type=EventType.ENQUEUED, timestamp=NOW)]
            )
            await backend.result_store.put_many([make_result(task.id)])
        finally:
            await backend.close_async()
            target.remove(project)
    if target.leftovers is not None:
        assert target.leftovers(marker) == []
