"""What a Store may fuse: only writes of one backend, and only its own roles."""

from __future__ import annotations

import pytest

from omniq.backends.memory import MemoryBackend, MemoryEventStorage, MemoryResultStorage
from omniq.backends.mixed import MixedBackend
from omniq.core.notify import Channel
from omniq.core.store import Store
from omniq.storage.capabilities import SPLIT, Capabilities


@pytest.fixture
def memory() -> MemoryBackend:
    return MemoryBackend("p")


def test_one_backend_keeps_its_capabilities(memory: MemoryBackend) -> None:
    store = Store.assemble(memory, (None, None, None), Channel())
    assert store.capabilities == memory.capabilities
    assert store.capabilities.fused_events
    assert store.capabilities.fused_results
    assert store.blocking_enqueue is not None


def test_a_role_given_as_an_instance_is_never_fused(memory: MemoryBackend) -> None:
    events = Store.assemble(memory, (None, None, MemoryEventStorage()), Channel())
    assert not events.capabilities.fused_events
    assert events.capabilities.fused_results
    assert events.blocking_enqueue is None  # a task and its event would be two writes
    results = Store.assemble(memory, (None, MemoryResultStorage(), None), Channel())
    assert results.capabilities.fused_events
    assert not results.capabilities.fused_results
    queue = Store.assemble(memory, (MemoryBackend("q").task_queue, None, None), Channel())
    assert queue.capabilities == SPLIT


def test_a_mixed_backend_fuses_only_what_shares_the_queue_backend() -> None:
    queue, other = MemoryBackend("a"), MemoryBackend("b")
    mixed = MixedBackend(queue, other, queue)
    assert mixed.capabilities == Capabilities(
        fused_events=True, fused_results=False, ordered_writes=True, shared=False
    )
    split = MixedBackend(queue, other, MemoryBackend("c"))
    assert not split.capabilities.fused_events
    assert not split.capabilities.fused_results
    split.initialize()
    store = Store.assemble(split, (None, None, None), Channel())
    assert store.task_queue is queue.task_queue
    assert store.result_store is other.result_store
