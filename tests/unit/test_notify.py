"""The in-process channel wakes only the listeners a change concerns."""

from __future__ import annotations

import asyncio
import threading
import time

from omniq.core.notify import Channel


async def test_a_new_task_wakes_task_listeners_not_schedule_loops() -> None:
    channel = Channel()
    tasks, schedules = asyncio.Event(), asyncio.Event()
    channel.add_task_listener(tasks)
    channel.add_schedule_listener(schedules)
    channel.notify_tasks()
    assert tasks.is_set()
    assert not schedules.is_set()


async def test_a_new_schedule_wakes_schedule_loops_not_task_listeners() -> None:
    channel = Channel()
    tasks, schedules = asyncio.Event(), asyncio.Event()
    channel.add_task_listener(tasks)
    channel.add_schedule_listener(schedules)
    when = time.time() + 30
    channel.notify_schedules_at(when)
    assert schedules.is_set()
    assert not tasks.is_set()
    assert channel.next_schedule_due(after=time.time()) == when
    assert channel.next_due(after=time.time()) is None


async def test_due_times_are_kept_apart_and_sorted() -> None:
    channel = Channel()
    now = time.time()
    for offset in (30, 10, 20):
        channel.notify_tasks_at(now + offset)
    channel.notify_schedules_at(now + 5)
    assert channel.next_due(after=now) == now + 10
    assert channel.next_due(after=now + 10) == now + 20
    assert channel.next_due(after=now + 30) is None
    assert channel.next_schedule_due(after=now) == now + 5


async def test_removed_listeners_are_not_woken() -> None:
    channel = Channel()
    schedules = asyncio.Event()
    channel.add_schedule_listener(schedules)
    channel.remove_schedule_listener(schedules)
    channel.notify_schedules_at(time.time())
    assert not schedules.is_set()


async def test_a_notification_from_another_thread_wakes_the_listener_loop() -> None:
    channel = Channel()
    tasks = asyncio.Event()
    channel.add_task_listener(tasks)
    threading.Thread(target=channel.notify_tasks).start()
    await asyncio.wait_for(tasks.wait(), timeout=10)


async def test_other_threads_call_into_the_loop_only_while_the_event_is_clear() -> None:
    channel = Channel()
    tasks = asyncio.Event()
    channel.add_task_listener(tasks)
    loop = asyncio.get_running_loop()
    calls: list[object] = []
    original = loop.call_soon_threadsafe

    def counting(callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(callback)
        return original(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:

        def notify_from_a_thread() -> None:
            thread = threading.Thread(target=channel.notify_tasks)
            thread.start()
            thread.join()

        notify_from_a_thread()  # clear: one call into the loop, which sets it
        await asyncio.wait_for(tasks.wait(), timeout=10)
        assert len(calls) == 1
        notify_from_a_thread()  # still set (not looked at yet): nothing to do
        notify_from_a_thread()
        assert len(calls) == 1
        tasks.clear()  # the listener looks again: the next notification wakes it
        notify_from_a_thread()
        await asyncio.wait_for(tasks.wait(), timeout=10)
        assert len(calls) == 2
    finally:
        del loop.call_soon_threadsafe
