"""The ResultStorage contract, run against every backend."""

from __future__ import annotations

from omniq.storage.interfaces import Backend
from omniq.storage.records import ResultRecord

from .records import NOW, MakeBackend, make_result


async def test_put_get_round_trip(backend: Backend) -> None:
    result = ResultRecord(
        task_id="task-1", payload=bytes(range(256)), created_at=NOW - 0.5, expires_at=NOW + 10
    )
    await backend.result_store.put_many([result])
    assert await backend.result_store.get("task-1", NOW) == result


async def test_put_get_without_expiry(backend: Backend) -> None:
    result = make_result(expires_at=None)
    await backend.result_store.put_many([result])
    assert await backend.result_store.get(result.task_id, NOW + 10**9) == result


async def test_get_unknown_is_none(backend: Backend) -> None:
    assert await backend.result_store.get("missing", NOW) is None


async def test_put_replaces(backend: Backend) -> None:
    first = make_result(payload=b"first", expires_at=NOW + 5)
    second = make_result(first.task_id, payload=b"second", expires_at=None)
    await backend.result_store.put_many([first])
    await backend.result_store.put_many([second])
    assert await backend.result_store.get(first.task_id, NOW + 100) == second
    # The replaced record's expiry no longer applies.
    assert await backend.result_store.purge_expired(NOW + 100) == 0
    assert await backend.result_store.get(first.task_id, NOW + 100) == second


async def test_get_ignores_expired(backend: Backend) -> None:
    result = make_result(expires_at=NOW + 10)
    await backend.result_store.put_many([result])
    assert await backend.result_store.get(result.task_id, NOW + 9) == result
    assert await backend.result_store.get(result.task_id, NOW + 10) == result  # not before now
    assert await backend.result_store.get(result.task_id, NOW + 10.5) is None


async def test_delete(backend: Backend) -> None:
    result = make_result()
    await backend.result_store.put_many([result])
    assert await backend.result_store.delete(result.task_id) is True
    assert await backend.result_store.get(result.task_id, NOW) is None
    assert await backend.result_store.delete(result.task_id) is False
    assert await backend.result_store.delete("missing") is False


async def test_purge_expired(backend: Backend) -> None:
    store = backend.result_store
    forever = make_result(expires_at=None)
    past_1 = make_result(expires_at=NOW - 10)
    past_2 = make_result(expires_at=NOW - 0.001)
    boundary = make_result(expires_at=NOW)
    future = make_result(expires_at=NOW + 10)
    deleted = make_result(expires_at=NOW - 5)
    for result in (forever, past_1, past_2, boundary, future, deleted):
        await store.put_many([result])
    assert await store.delete(deleted.task_id)

    assert await store.purge_expired(NOW) == 2
    assert await store.purge_expired(NOW) == 0
    # Gone even for a reader with an earlier clock.
    assert await store.get(past_1.task_id, NOW - 100) is None
    assert await store.get(past_2.task_id, NOW - 100) is None
    for kept in (forever, boundary, future):
        assert await store.get(kept.task_id, NOW) == kept
    assert await store.purge_expired(NOW + 11) == 2
    assert await store.get(forever.task_id, NOW + 11) == forever


async def test_returned_results_are_copies(backend: Backend) -> None:
    result = make_result(expires_at=NOW + 10)
    await backend.result_store.put_many([result])
    result.expires_at = NOW - 100
    got = await backend.result_store.get(result.task_id, NOW)
    assert got is not None
    assert got.expires_at == NOW + 10
    got.payload = b"changed"
    again = await backend.result_store.get(result.task_id, NOW)
    assert again is not None
    assert again.payload == b"\x01r"


async def test_other_instance_sees_results(backend: Backend, make_backend: MakeBackend) -> None:
    other = await make_backend()
    result = make_result()
    await backend.result_store.put_many([result])
    assert await other.result_store.get(result.task_id, NOW) == result
    assert await other.result_store.delete(result.task_id)
    assert await backend.result_store.get(result.task_id, NOW) is None


async def test_put_many_stores_and_replaces(backend: Backend) -> None:
    store = backend.result_store
    first = [
        ResultRecord(task_id=f"r-{i}", payload=b"old", created_at=NOW, expires_at=None)
        for i in range(5)
    ]
    await store.put_many(first)
    second = [
        ResultRecord(task_id=f"r-{i}", payload=f"new-{i}".encode(), created_at=NOW + 1,
                     expires_at=NOW + 10)
        for i in range(3)
    ]  # fmt: skip
    await store.put_many(second)
    for i in range(3):
        got = await store.get(f"r-{i}", NOW)
        assert got is not None
        assert got.payload == f"new-{i}".encode()
        assert got.expires_at == NOW + 10
    for i in range(3, 5):
        got = await store.get(f"r-{i}", NOW)
        assert got is not None
        assert got.payload == b"old"
    await store.put_many([])


async def test_a_result_never_replaces_one_of_a_later_attempt(backend: Backend) -> None:
    """A worker that lost its lease and writes late cannot overwrite the new owner's result."""
    store = backend.result_store
    second = ResultRecord(task_id="t-late", payload=b"attempt 2", created_at=NOW, attempt=2)
    first = ResultRecord(task_id="t-late", payload=b"attempt 1", created_at=NOW + 1, attempt=1)
    await store.put_many([second])
    await store.put_many([first])
    await store.put_many([first])
    assert await store.get("t-late", NOW) == second
    third = ResultRecord(task_id="t-late", payload=b"attempt 3", created_at=NOW + 2, attempt=3)
    await store.put_many([third])
    assert await store.get("t-late", NOW) == third
    again = ResultRecord(task_id="t-late", payload=b"attempt 3 again", created_at=NOW, attempt=3)
    await store.put_many([again])  # the same attempt may replace its own result
    assert await store.get("t-late", NOW) == again


async def test_delete_many(backend: Backend) -> None:
    store = backend.result_store
    results = [make_result() for _ in range(3)]
    await store.put_many(results)
    ids = [result.task_id for result in results]
    assert await store.delete_many([ids[0], ids[2], "missing", ids[0]]) == 2
    assert await store.get(ids[0], NOW) is None
    assert await store.get(ids[1], NOW) == results[1]
    assert await store.get(ids[2], NOW) is None
    assert await store.delete_many([]) == 0


async def test_delete_many_in_bulk(backend: Backend) -> None:
    store = backend.result_store
    results = [make_result() for _ in range(1_200)]  # more than one SQL chunk
    await store.put_many(results)
    assert await store.delete_many([result.task_id for result in results]) == 1_200
    assert await store.get(results[-1].task_id, NOW) is None
