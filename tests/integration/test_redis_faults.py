"""The Redis backend under faults: refused and bad connections, drops, outages, SIGKILL.

The shared server is never stopped: each test puts a :class:`tcp_proxy.TcpProxy` between
OmniQ and Redis and breaks that path instead (``cut`` is an outage or a restart as a
client sees it; ``drop_connections`` a restart that comes straight back). The server keeps
its data throughout, so nothing whose enqueue returned may be lost.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from backend_targets import REDIS_URL, TARGETS, new_project
from omniq import EventType, OmniQ, TaskStatus
from omniq.backends.redis import RedisBackend
from omniq.backends.redis.keys import project_prefix
from omniq.exceptions import BackendError
from omniq.storage.records import ResultRecord
from tcp_proxy import TcpProxy, proxy_to

from . import jobs
from .conftest import Proc, Procs, event_types, pid_of, wait_until

pytestmark = pytest.mark.slow

TARGET = TARGETS["redis"]
HOST, PORT = TARGET.service.host, TARGET.service.port  # type: ignore[union-attr]
RECOVERY_LOG = r"recovered \d+ tasks whose worker died"


@pytest.fixture
def project() -> Iterator[str]:
    TARGET.check_service()
    name = new_project("rfault")
    try:
        yield name
    finally:
        TARGET.remove(name)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    TARGET.check_service()
    with proxy_to(HOST, PORT) as running:
        yield running


def via(proxy: TcpProxy) -> str:
    host, port = proxy.address
    return f"redis://{host}:{port}/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- connecting ----------------------------------------------------------------------------


def test_a_refused_connection_fails_at_once_with_an_omniq_error(project: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    with pytest.raises(BackendError) as failure:
        OmniQ(project_name=project, backend_type="redis", url=url).open()
    assert time.monotonic() - started < 5
    assert f"cannot connect to Redis at 127.0.0.1:{url.split(':')[2]}" in str(failure.value)
    assert failure.value.__cause__ is None  # no raw redis-py exception in the chain shown


def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    project: str, proxy: TcpProxy
) -> None:
    proxy.set_delay(10.0)  # accepts, then holds every byte: a hung server
    started = time.monotonic()
    with pytest.raises(BackendError, match="within 1s: no answer in time"):
        RedisBackend(project_name=project, url=via(proxy), connect_timeout=1).initialize()
    assert time.monotonic() - started < 4


def test_a_bad_password_is_a_clear_error(project: str) -> None:
    url = REDIS_URL.replace("redis://", "redis://someone:not-the-password@")
    with pytest.raises(BackendError, match="authentication failed") as failure:
        OmniQ(project_name=project, backend_type="redis", url=url).open()
    assert "not-the-password" not in str(failure.value)


def test_a_cut_path_fails_enqueue_quickly_and_nothing_returned_is_lost(
    project: str, proxy: TcpProxy
) -> None:
    with OmniQ(project_name=project, backend_type="redis", url=via(proxy)) as oq:
        before = oq.enqueue(func=pow, func_args={"base": 2, "exp": 2})
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"Redis at 127\.0\.0\.1"):
            oq.enqueue(func=pow, func_args={"base": 2, "exp": 3})
        assert time.monotonic() - started < 5
        proxy.restore()
        after = wait_until(lambda: _try_enqueue(oq), 10, "an enqueue after the restore")
    with OmniQ(project_name=project, backend_type="redis", url=REDIS_URL) as direct:
        direct.start_worker(max_workers=2)
        assert direct.get_result(before, timeout=10) == 4
        assert direct.get_result(after, timeout=10) == 8
        direct.stop_worker()


def _try_enqueue(oq: OmniQ) -> str | None:
    try:
        return oq.enqueue(func=pow, func_args={"base": 2, "exp": 3})
    except BackendError:
        return None


# -- a worker whose connection breaks ---------------------------------------------------------


@pytest.mark.timeout(90)
def test_a_worker_survives_dropped_connections(
    project: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    """Connections dropped again and again mid-run: every task still completes."""
    logs = tmp_path / "runs"
    logs.mkdir()
    with (
        OmniQ(project_name=project, backend_type="redis", url=REDIS_URL) as direct,
        OmniQ(project_name=project, backend_type="redis", url=via(proxy)) as oq,
    ):
        oq.start_worker(max_workers=4, lease_duration=2.0, poll_interval=0.05)
        ids = [
            direct.enqueue(jobs.record, {"n": n, "log_dir": str(logs), "work_seconds": 0.05})
            for n in range(40)
        ]
        for _ in range(5):
            time.sleep(0.1)  # let the worker get back to work between the drops
            proxy.drop_connections()
        results = [direct.get_result(task_id, timeout=60) for task_id in ids]
        assert results == [n * n for n in range(40)]
        ran = {int(line) for log in logs.iterdir() for line in log.read_text().split()}
        assert ran == set(range(40))
        assert oq.worker is not None
        assert oq.worker.is_running
        oq.stop_worker()


@pytest.mark.timeout(90)
def test_after_an_outage_the_worker_reconnects_and_a_lapsed_lease_runs_again(
    project: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    with (
        OmniQ(project_name=project, backend_type="redis", url=REDIS_URL) as direct,
        OmniQ(project_name=project, backend_type="redis", url=via(proxy)) as oq,
    ):
        oq.start_worker(max_workers=2, lease_duration=1.0, poll_interval=0.05)
        blocked = direct.enqueue(
            jobs.block_until, {"runs": str(runs), "release": str(release), "max_wait": 30.0},
            max_retries=2,
        )  # fmt: skip
        wait_until(lambda: jobs.read_lines(runs), 30, "the task to start")
        proxy.cut()  # the worker can neither renew the lease nor record the outcome
        release.touch()
        during = direct.enqueue(func=pow, func_args={"base": 3, "exp": 2})
        # Another process sees the lease lapse (the server's clock) while the path is cut.
        wait_until(
            lambda: _lease_lapsed(project, blocked), 30, "the lease to lapse during the outage"
        )
        proxy.restore()
        assert direct.get_result(during, timeout=30) == 9
        assert direct.get_result(blocked, timeout=30).startswith("released in")
        assert len(jobs.read_lines(runs)) in (1, 2)  # run again only if its outcome was lost
        oq.stop_worker()


def _lease_lapsed(project: str, task_id: str) -> bool:
    """Whether the task's stored lease has ended (read straight from the server)."""
    with redis.Redis.from_url(REDIS_URL) as client:
        status, lease = client.hmget(f"{project_prefix(project)}:t:{task_id}", "s", "l")
    return status != b"executing" or lease is None or float(lease) < time.time()


async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_next_outcome(
    project: str,
) -> None:
    from omniq.storage.records import TaskRecord

    async with RedisBackend(project_name=project, url=REDIS_URL) as backend:
        queue = backend.task_queue
        await queue.enqueue([TaskRecord(id="t", func_name="m:f", payload=b"", created_at=1.0,
                                        run_at=1.0)])  # fmt: skip
        [first] = await queue.claim(["default"], 1, "slow", 2.0, 3.0)
        assert await queue.recover_expired_leases(4.0) == ["t"]
        [second] = await queue.claim(["default"], 1, "next", 5.0, 60.0)
        assert second.attempts == first.attempts + 1
        mine = ResultRecord(task_id="t", payload=b"next", created_at=6.0, attempt=2)
        assert await queue.complete_many(["t"], "next", 6.0, results=[mine]) == ["t"]
        late = ResultRecord(task_id="t", payload=b"slow", created_at=7.0, attempt=1)
        assert await queue.complete_many(["t"], "slow", 7.0, results=[late]) == []
        assert not await queue.finish("t", TaskStatus.FAILED, 7.0, worker_id="slow")
        await backend.result_store.put_many([late])  # a late write to the store itself
        stored = await backend.result_store.get("t", 7.0)
        assert stored is not None
        assert stored.payload == b"next"
        task = await queue.get("t")
        assert task is not None
        assert (task.status, task.worker_id) == (TaskStatus.COMPLETED, "next")


# -- SIGKILL of a worker process -------------------------------------------------------------


def cli_worker(procs: Procs, name: str, config: Path, *args: str) -> Proc:
    """Start ``omniq worker -c config`` in its own process (killed at teardown)."""
    proc = Proc(name, ["-m", "omniq.cli", "worker", "-c", str(config), *args], procs.env,
                procs.logs)  # fmt: skip
    procs.all.append(proc)
    return proc


@pytest.mark.timeout(90)
def test_sigkill_of_a_worker_mid_task_runs_the_task_again_after_its_lease(
    project: str, procs: Procs, tmp_path: Path
) -> None:
    config = tmp_path / "omniq.yaml"
    config.write_text(yaml.safe_dump({
        "project_name": project, "task_queue": {"type": "redis", "config": {"url": REDIS_URL}},
    }))  # fmt: skip
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    with OmniQ.from_config_file(config) as oq:
        task_id = oq.enqueue(
            jobs.block_until, {"runs": str(runs), "release": str(release), "max_wait": 30.0},
            max_retries=1,
        )  # fmt: skip
        # a 3 s lease: a renewal late by a stall does not expire it before the kill
        victim = cli_worker(procs, "victim", config, "--lease", "3", "--concurrency", "1")
        wait_until(lambda: jobs.read_lines(runs), 30, "the task to start in the victim")
        task = oq.get_task(task_id)
        assert task is not None
        assert task.status is TaskStatus.EXECUTING
        assert pid_of(task.worker_id) == victim.pid
        victim.signal(signal.SIGKILL)
        assert victim.wait_exit(10) == -signal.SIGKILL

        release.touch()
        rescuer = cli_worker(procs, "rescuer", config, "--lease", "1")
        assert oq.get_result(task_id, timeout=30) == f"released in {rescuer.pid}"
        assert [int(pid) for pid in jobs.read_lines(runs)] == [victim.pid, rescuer.pid]
        events = oq.get_events(task_id)
        assert event_types(events) == [
            EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING,
            EventType.RETRYING,  # the rescuer's lease recovery
            EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED,
        ]  # fmt: skip
        assert "lease expired" in (events[3].error or "")
        rescuer.signal()
        assert rescuer.wait_exit(30) == 0, rescuer.stderr()
