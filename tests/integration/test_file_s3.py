"""The file backend on S3: a moto server on a loopback port, reached through s3fs.

Claims and schedule firing are exclusive through conditional writes (``If-None-Match``,
``If-Match``); a missing bucket, refused credentials and a refused connection are clear
errors with secrets masked; a store that cannot make claims exclusive refuses a second
worker. ``OMNIQ_TEST_S3=1`` also runs the whole contract and API suites on S3.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend_targets import S3_BUCKET, _s3_cleanup, new_project, s3_options
from omniq import OmniQ, TaskStatus
from omniq.backends.file import FileBackend
from omniq.exceptions import BackendError
from omniq.models.schedule import ScheduleStatus
from omniq.storage.records import ScheduleRecord, TaskRecord

from . import jobs
from .conftest import Procs, pid_of

pytestmark = pytest.mark.slow

NOW = 1_700_000_000.0


@pytest.fixture
def project() -> Iterator[str]:
    name = new_project("s3")
    yield name
    _s3_cleanup(name)


def backend(project: str, **options: Any) -> FileBackend:
    return FileBackend(
        project_name=project, path=f"s3://{S3_BUCKET}/projects",
        storage_options={**s3_options(), **options},
    )  # fmt: skip


def task(task_id: str) -> TaskRecord:
    return TaskRecord(id=task_id, func_name="m:f", payload=b"\x00", created_at=NOW, run_at=NOW)


def test_tasks_run_and_their_files_are_json(project: str) -> None:
    with OmniQ(project_name=project, backend=backend(project)) as oq:
        assert oq.backend.guarantees.exclusive
        oq.start_worker(max_workers=2)
        ids = [oq.enqueue(func=pow, func_args={"base": 2, "exp": n}) for n in range(5)]
        assert [oq.get_result(i, timeout=30) for i in ids] == [1, 2, 4, 8, 16]
        assert [e.type.value for e in oq.get_events(ids[0])] == [
            "enqueued", "dequeued", "executing", "completed",
        ]  # fmt: skip
        oq.stop_worker()
    import boto3

    client = boto3.client(
        "s3", endpoint_url=s3_options()["endpoint_url"], aws_access_key_id="testing",
        aws_secret_access_key="testing", region_name="us-east-1",
    )  # fmt: skip
    listed = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=f"projects/{project}/tasks/")
    keys = [item["Key"] for item in listed["Contents"]]
    assert len(keys) == 5
    body = client.get_object(Bucket=S3_BUCKET, Key=keys[0])["Body"].read()
    assert json.loads(body)["task"]["status"] == "completed"


def test_claims_are_exclusive_among_racing_backends(project: str) -> None:
    first, second = backend(project), backend(project)
    first.initialize()
    second.initialize()
    try:
        ids = [f"t-{n:04d}" for n in range(60)]
        asyncio.run(first.task_queue.enqueue([task(i) for i in ids]))
        claims: list[tuple[str, str]] = []
        lock = threading.Lock()

        def drain(handle: FileBackend, worker: str) -> None:
            async def run() -> None:
                while batch := await handle.task_queue.claim(["default"], 2, worker, NOW, NOW + 60):
                    with lock:
                        claims.extend((record.id, worker) for record in batch)

            asyncio.run(run())

        threads = [
            threading.Thread(target=drain, args=(first if n % 2 else second, f"w{n}"))
            for n in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        counts = Counter(task_id for task_id, _ in claims)
        assert sorted(counts) == ids
        assert set(counts.values()) == {1}, [i for i, c in counts.items() if c > 1]
        for task_id, worker in claims:
            stored = asyncio.run(first.task_queue.get(task_id))
            assert stored is not None
            assert (stored.status, stored.worker_id, stored.attempts) == (
                TaskStatus.EXECUTING, worker, 1,
            )  # fmt: skip
    finally:
        first.close()
        second.close()


def test_a_schedule_run_fires_once_among_racing_backends(project: str) -> None:
    from omniq.core.schedules import run_id

    first, second = backend(project), backend(project)
    first.initialize()
    second.initialize()
    try:
        schedule = ScheduleRecord(id="s1", func_name="m:f", payload=b"", spec=b"",
                                  next_run_at=NOW, created_at=NOW - 1)  # fmt: skip
        asyncio.run(first.task_queue.add_schedule(schedule))
        wins: list[bool] = []

        def fire(handle: FileBackend) -> None:
            run = task(run_id("s1", NOW))
            run.schedule_id = "s1"
            fired = asyncio.run(handle.task_queue.fire_schedule(
                "s1", NOW, NOW + 60, ScheduleStatus.ACTIVE, run))  # fmt: skip
            wins.append(fired)

        threads = [threading.Thread(target=fire, args=(h,)) for h in (first, second) * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert wins.count(True) == 1
        stored = asyncio.run(first.task_queue.get_schedule("s1"))
        assert stored is not None
        assert (stored.run_count, stored.next_run_at) == (1, NOW + 60)
        assert [r.id for r in asyncio.run(first.task_queue.schedule_runs("s1"))] == [
            run_id("s1", NOW)
        ]
    finally:
        first.close()
        second.close()


def test_a_worker_in_another_process_runs_the_tasks(
    project: str, procs: Procs, tmp_path: Path
) -> None:
    with OmniQ(project_name=project, backend=backend(project)) as oq:
        worker = procs.spawn(
            "s3-worker", "file_worker.py", f"--path=s3://{S3_BUCKET}/projects",
            f"--project={project}", f"--storage-options-json={json.dumps(s3_options())}",
        )  # fmt: skip
        worker.wait_line("READY", 60)
        task_id = oq.enqueue(jobs.describe, func_args={"x": 4})
        assert oq.get_result(task_id, timeout=60) == {"double": 8, "pid": worker.pid}
        stored = oq.get_task(task_id)
        assert stored is not None
        assert pid_of(stored.worker_id) == worker.pid
        worker.signal()
        worker.assert_clean_exit(60)


def test_a_missing_bucket_is_named(project: str) -> None:
    started = time.monotonic()
    missing = FileBackend(project_name=project, path="s3://no-such-bucket/x",
                          storage_options=s3_options())  # fmt: skip
    with pytest.raises(BackendError, match="bucket 'no-such-bucket' does not exist"):
        missing.initialize()
    assert time.monotonic() - started < 10


def test_a_refused_connection_fails_fast_with_secrets_masked(project: str) -> None:
    options = {**s3_options("http://user:hunter2@127.0.0.1:9"), "secret": "s3cr3t-value"}
    refused = FileBackend(project_name=project, path=f"s3://{S3_BUCKET}/x",
                          storage_options=options)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(BackendError, match="cannot connect") as info:
        refused.initialize()
    assert time.monotonic() - started < 10
    assert "hunter2" not in str(info.value)
    assert "s3cr3t-value" not in str(info.value)
    assert "s3cr3t-value" not in repr(refused)


@pytest.fixture(scope="module")
def strict_moto() -> Iterator[str]:
    """A second moto server, in its own process, that checks credentials."""
    code = (
        "from moto.server import ThreadedMotoServer; import time\n"
        "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start()\n"
        "print(s.get_host_and_port()[1], flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_refused_credentials_are_named_and_masked(project: str, strict_moto: str) -> None:
    options = {**s3_options(strict_moto), "key": "AKIAFAKEFAKEFAKE", "secret": "wr0ng-secret"}
    denied = FileBackend(project_name=project, path=f"s3://{S3_BUCKET}/x",
                         storage_options=options)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(BackendError, match="denied") as info:
        denied.initialize()
    assert time.monotonic() - started < 20
    assert "wr0ng-secret" not in str(info.value)


def test_a_store_without_conditional_writes_runs_one_worker_only() -> None:
    """``dir::memory://`` has no exclusive create: the second live worker is refused."""
    import fsspec

    root = "/omniq-noexcl"
    project = new_project("noexcl")
    path = f"dir::memory://{root}"
    try:
        with OmniQ(project_name=project, backend_type="file", path=path) as first:
            assert not first.backend.guarantees.exclusive
            first.start_worker(max_workers=1)
            second = FileBackend(project_name=project, path=path)
            second.initialize()
            try:
                now = time.time()
                with pytest.raises(BackendError, match="cannot make claims exclusive"):
                    asyncio.run(second.task_queue.claim(["default"], 1, "late", now, now + 30))
            finally:
                second.close()
            task_id = first.enqueue(func=pow, func_args={"base": 3, "exp": 2})
            assert first.get_result(task_id, timeout=10) == 9
            first.stop_worker()
    finally:
        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)
