"""PostgreSQL across processes and hosts: wake-ups, a killed remote worker, an outage, races.

A worker "on another host" reaches the server through a TCP proxy the test controls
(``tests/tcp_proxy.py``): cutting it is the network failing between that host and the
database, while the shared server itself keeps running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from backend_targets import POSTGRES_DSN, TARGETS, new_project
from omniq import EventType, OmniQ, TaskStatus
from omniq.backends.postgres.schema import schema_name
from omniq.exceptions import BackendError
from tcp_proxy import TcpProxy

from . import jobs
from .conftest import Procs, event_types, pid_of, wait_until

pytestmark = [pytest.mark.slow]

RECOVERY_LOG = (r"recovered \d+ tasks whose worker died",)
#: What a worker cut off from the server may log while it reconnects: one line each.
OUTAGE_LOG = (
    r"PostgreSQL at 127\.0\.0\.1",  # its verbs, naming the server (and never a password)
    r"PostgreSQL connection to .* lost .*: retrying once",
    r"LISTEN on .*(lost its connection|cannot connect)",
    r"the store is unavailable .* trying again|written after \d+ tries",
    r"could not read the store's clock",
    r"took back \d+ tasks a claim had taken before its connection dropped",
    r"discarding closed connection|error connecting in 'omniq'",  # psycopg_pool's own lines
    r"error ignored terminating <psycopg.AsyncPipeline",  # psycopg's, a pipeline cut short
    r"^\s",  # the continuation lines of libpq's messages
    # A worker step failing through the outage logs once, then once when it works again.
    r"failed: .*\(will retry, quietly until it works again\)",
    r": working again after \d+ failed tries",
)


@pytest.fixture
def project() -> Iterator[str]:
    TARGETS["postgres"].check_service()
    name = new_project("it_pg")
    yield name
    TARGETS["postgres"].remove(name)


@pytest.fixture
def oq(project: str) -> Iterator[OmniQ]:
    with OmniQ(project_name=project, backend_type="postgres", dsn=POSTGRES_DSN) as instance:
        yield instance


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    params = conninfo_to_dict(POSTGRES_DSN)
    with TcpProxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432))) as p:
        yield p


def through(proxy: TcpProxy) -> str:
    """The test DSN, reaching the server through ``proxy`` (as from another host)."""
    params = conninfo_to_dict(POSTGRES_DSN)
    params.update(host=proxy.address[0], port=str(proxy.address[1]))
    return make_conninfo("", **params)


@pytest.mark.timeout(60)
def test_a_new_task_wakes_an_idle_worker_in_another_process_at_once(
    procs: Procs, oq: OmniQ, project: str
) -> None:
    """An idle worker that polls once a minute picks new tasks up through notifications."""
    worker = procs.postgres_worker("worker", POSTGRES_DSN, project, poll=60.0)
    worker.wait_line("READY", 30)
    warm = oq.enqueue(jobs.describe, {"x": 0})
    assert oq.get_result(warm, timeout=30)["pid"] == worker.pid
    latencies = []
    for x in range(5):
        time.sleep(1.2)  # the worker is idle again, in its (minute-long) wait
        started = time.monotonic()
        task_id = oq.enqueue(jobs.describe, {"x": x})
        assert oq.get_result(task_id, timeout=10, poll_interval=0.002) == {
            "double": 2 * x, "pid": worker.pid,
        }  # fmt: skip
        latencies.append(time.monotonic() - started)
    # Polling alone would take 30 s on average; each pickup came from a notification. (The
    # time a notification takes is measured in benchmarks/bench_postgres.py, not here: a
    # bound of a few hundred ms would fail on a loaded machine.)
    assert max(latencies) < 5, latencies
    worker.signal()
    worker.assert_clean_exit(30)


@pytest.mark.timeout(60)
def test_a_result_wakes_a_waiter_in_another_process(procs: Procs, oq: OmniQ, project: str) -> None:
    worker = procs.postgres_worker("worker", POSTGRES_DSN, project)
    worker.wait_line("READY", 30)
    task_id = oq.enqueue(jobs.record, {"n": 3, "log_dir": str(procs.logs), "work_seconds": 0.3})
    started = time.monotonic()
    assert oq.get_result(task_id, timeout=20, poll_interval=30) == 9  # polling never looks
    assert time.monotonic() - started < 5
    worker.signal()
    worker.assert_clean_exit(30)


@pytest.mark.timeout(120)
def test_a_worker_on_another_host_killed_mid_task_is_recovered(
    procs: Procs, oq: OmniQ, project: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    task_id = oq.enqueue(
        jobs.block_until,
        {"runs": str(runs), "release": str(release), "max_wait": 60.0},
        max_retries=1,
    )
    remote = procs.postgres_worker(
        "remote",
        through(proxy),
        project,
        lease=3.0,
        max_workers=1,  # not expired by a stall
    )
    wait_until(lambda: jobs.read_lines(runs), 30, "the task to start on the remote host")
    task = oq.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.EXECUTING
    assert pid_of(task.worker_id) == remote.pid
    remote.signal(signal.SIGKILL)
    assert remote.wait_exit(10) == -signal.SIGKILL

    release.touch()
    rescuer = procs.postgres_worker("rescuer", POSTGRES_DSN, project, lease=1.0)
    assert oq.get_result(task_id, timeout=60) == f"released in {rescuer.pid}"
    assert [int(pid) for pid in jobs.read_lines(runs)] == [remote.pid, rescuer.pid]
    assert event_types(oq.get_events(task_id)) == [
        EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING, EventType.RETRYING,
        EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED,
    ]  # fmt: skip
    rescuer.signal()
    rescuer.assert_clean_exit(30, allowed_stderr=RECOVERY_LOG)


@pytest.mark.timeout(180)
def test_an_outage_between_a_worker_and_the_server_loses_and_repeats_nothing(
    procs: Procs, oq: OmniQ, project: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    """Cut the network of a busy worker twice; every task runs exactly once, all complete.

    The lease (30 s) outlives each outage, so no other worker may take a task over: a task
    runs twice only if an outcome was lost or a claim was repeated.
    """
    log_dir = tmp_path / "runs"
    log_dir.mkdir()
    worker = procs.postgres_worker("remote", through(proxy), project, max_workers=4, lease=30.0)
    worker.wait_line("READY", 30)
    ids = oq.enqueue_many(
        jobs.record, [{"n": n, "log_dir": str(log_dir), "work_seconds": 0.01} for n in range(300)]
    )

    def ran() -> int:
        return sum(len(jobs.read_lines(path)) for path in log_dir.glob("*.log"))

    for threshold in (60, 180):
        wait_until(lambda threshold=threshold: ran() >= threshold, 60, f"{threshold} runs")
        proxy.cut()
        time.sleep(1.5)  # the outage itself: the worker is cut off this long
        proxy.restore()
    results = [oq.get_result(task_id, timeout=90) for task_id in ids]
    assert results == [n * n for n in range(300)]
    runs = sorted(int(line) for path in log_dir.glob("*.log") for line in jobs.read_lines(path))
    assert runs == list(range(300)), "a task ran twice, or not at all"
    assert proxy.connections > 2  # it really reconnected
    worker.signal()
    worker.assert_clean_exit(60, allowed_stderr=OUTAGE_LOG)


@pytest.mark.timeout(120)
def test_many_processes_creating_the_schema_at_once_race_safely(project: str) -> None:
    """Eight processes open an empty database at the same moment: one creates, all work."""
    script = textwrap.dedent(f"""
        import sys, time
        from omniq import OmniQ
        start = float(sys.argv[1])
        time.sleep(max(0.0, start - time.time()))
        with OmniQ(project_name={project!r}, backend_type="postgres",
                   dsn={POSTGRES_DSN!r}) as oq:
            task_id = oq.enqueue(func=pow, func_args={{"base": -1, "exp": 1}})
            print(task_id)
    """)
    start = time.time() + 2.0
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert out.strip()
    schema = schema_name(project)
    with psycopg.connect(POSTGRES_DSN) as conn:
        version = conn.execute(
            psycopg.sql.SQL("SELECT value FROM {}.meta WHERE key = 'version'").format(
                psycopg.sql.Identifier(schema)
            )
        ).fetchone()
        count = conn.execute(
            psycopg.sql.SQL("SELECT count(*) FROM {}.tasks").format(psycopg.sql.Identifier(schema))
        ).fetchone()
    assert version == ("1",)
    assert count == (8,)


def test_a_refused_connection_fails_fast_naming_the_server_not_the_password() -> None:
    dsn = "postgresql://omniq:s3cret@127.0.0.1:1/test"  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        OmniQ(project_name="unreachable", backend_type="postgres", dsn=dsn,
              connect_timeout=2).open()  # fmt: skip
    assert time.monotonic() - started < 8
    message = str(info.value)
    assert "127.0.0.1:1/test" in message
    assert "s3cret" not in message
    assert "***" in message


def test_a_cut_server_fails_a_call_fast_and_recovers_when_restored(
    proxy: TcpProxy, project: str
) -> None:
    with OmniQ(project_name=project, backend_type="postgres", dsn=through(proxy),
               connect_timeout=2) as oq:  # fmt: skip
        task_id = oq.enqueue(func=pow, func_args={"base": -5, "exp": 1})
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"PostgreSQL at 127\.0\.0\.1"):
            oq.get_task(task_id)
        assert time.monotonic() - started < 10
        proxy.restore()
        task = wait_until(lambda: _get_or_none(oq, task_id), 30, "the store to answer again")
        assert task.status is TaskStatus.ENQUEUED


def _get_or_none(oq: OmniQ, task_id: str) -> object:
    try:
        return oq.get_task(task_id)
    except BackendError:
        return None


def test_without_the_driver_the_error_names_the_extra() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["psycopg"] = None  # as if omniq[postgres] were not installed
        from omniq import OmniQ
        from omniq.exceptions import MissingDependencyError
        try:
            OmniQ(project_name="p", backend_type="postgres")
        except MissingDependencyError as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert "pip install 'omniq[postgres]'" in done.stdout
