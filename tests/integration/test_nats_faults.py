"""The NATS backend when the network or a process fails.

Every fault is made by the test itself: a :class:`~tcp_proxy.TcpProxy` between OmniQ and
the machine's shared NATS server (cut, dropped connections), a private ``nats-server``
started here when a server with passwords is needed, and SIGKILL of a worker process
started here. The shared server is never stopped or reconfigured.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_targets import NATS_URL, TARGETS, new_project
from child_env import child_environment
from omniq import EventType, OmniQ, TaskEvent, TaskStatus
from omniq.exceptions import BackendError
from tcp_proxy import TcpProxy, proxy_to

from . import jobs
from .conftest import JOBS_ROOT, Proc, event_types, pid_of, wait_until

# When a connection is reset (the proxy cuts or drops it, the server restarts), nats-py's
# reconnection leaves the socket, transport and StreamWriter of the failed attempt unclosed:
# a leak of nats-py (2.16), reported by the garbage collector as "Exception ignored in".
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in:pytest.PytestUnraisableExceptionWarning"
    ),
]

TARGET = TARGETS["nats"]


@pytest.fixture(autouse=True)
def _collect_leaks() -> Iterator[None]:
    """Collect nats-py's leaked sockets here, where the filter above applies, not later."""
    yield
    gc.collect()


@pytest.fixture
def project() -> Iterator[str]:
    TARGET.check_service()
    name = new_project("natsfault")
    try:
        yield name
    finally:
        TARGET.remove(name)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    host, port = TARGET.service.host, TARGET.service.port  # type: ignore[union-attr]
    with proxy_to(host, port) as found:
        yield found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def through(proxy: TcpProxy) -> str:
    host, port = proxy.address
    return f"nats://{host}:{port}"


# -- unreachable server, bad credentials ----------------------------------------------------


def test_an_unreachable_server_fails_fast_with_an_omniq_error(project: str) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(BackendError, match=rf"cannot connect to NATS at 127\.0\.0\.1:{port}"):
        OmniQ(project_name=project, backend_type="nats", servers=f"nats://127.0.0.1:{port}",
              connect_timeout=2.0).open()  # fmt: skip
    assert time.monotonic() - started < 8


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A nats-server of the test's own that wants a user and password (no JetStream)."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.path.exists(binary):
        pytest.fail("nats-server is not installed (the NATS service needs it)")
    port = free_port()
    log = (tmp_path / "nats.log").open("wb")
    server = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "--user", "omniq", "--pass", "s3cret-pw"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        wait_until(lambda: _listening(port), 10, "the private nats-server to listen")
        yield port, "s3cret-pw"
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_bad_credentials_fail_fast_and_never_show_the_password(
    project: str, private_server: tuple[int, str]
) -> None:
    port, _ = private_server
    started = time.monotonic()
    url = f"nats://omniq:wrong-pw@127.0.0.1:{port}"
    with pytest.raises(BackendError) as caught:
        OmniQ(project_name=project, backend_type="nats", servers=url, connect_timeout=2.0).open()
    assert time.monotonic() - started < 8
    message = str(caught.value)
    assert "wrong-pw" not in message
    assert "uthorization" in message  # the server's reason: Authorization Violation
    with pytest.raises(BackendError) as caught:
        OmniQ(project_name=project, backend_type="nats", servers=f"nats://127.0.0.1:{port}",
              user="omniq", password="not-it", connect_timeout=2.0).open()  # fmt: skip
    assert "not-it" not in str(caught.value)


@pytest.fixture
def refusing_server() -> Iterator[int]:
    """A listener that speaks just enough NATS to refuse a client once, then resets its retries.

    nats-py retries a refused connect; a real nats-server sometimes resets such a retry before
    its ``-ERR`` is read, so the client's last error is the reset. This makes that order certain.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted = itertools.count()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(
                    b'INFO {"server_id":"x","version":"2.10.0","proto":1,"max_payload":1048576,'
                    b'"auth_required":true}\r\n'
                )
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)  # CONNECT + PING
                    if next(accepted) == 0:
                        conn.sendall(b"-ERR 'Authorization Violation'\r\n")
                        time.sleep(0.05)  # the client reads the -ERR before the reset
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_refusal_followed_by_a_reset_reports_the_refusal(refusing_server: int) -> None:
    url = f"nats://omniq:wrong-pw@127.0.0.1:{refusing_server}"
    with pytest.raises(BackendError) as caught:
        OmniQ(project_name="refused", backend_type="nats", servers=url, connect_timeout=1.0).open()
    message = str(caught.value)
    assert "Authorization Violation" in message, message
    assert "wrong-pw" not in message


def test_a_secret_is_masked_in_repr_and_config_errors() -> None:
    from omniq.backends.nats import NATSBackend

    backend = NATSBackend("p", servers="nats://user:hunter2@127.0.0.1:4222", token=None)
    assert "hunter2" not in repr(backend)
    backend = NATSBackend("p", servers="nats://t0ken-value@127.0.0.1:4222")
    assert "t0ken-value" not in repr(backend)
    from omniq.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"servers entry 'http://u:\*\*\*@h'") as caught:
        NATSBackend("p", servers=["http://u:hunter2@h"])
    assert "hunter2" not in str(caught.value)


# -- dropped connections and outages ------------------------------------------------------


def test_a_dropped_connection_loses_nothing_and_the_worker_goes_on(
    project: str, proxy: TcpProxy
) -> None:
    with OmniQ(project_name=project, backend_type="nats", servers=through(proxy)) as oq:
        oq.start_worker(max_workers=4, lease_duration=5.0)
        first = [oq.enqueue(func=pow, func_args={"base": 2, "exp": i}) for i in range(50)]
        proxy.drop_connections()  # a server restart as the client sees it
        second = [oq.enqueue(func=pow, func_args={"base": 3, "exp": i}) for i in range(50)]
        proxy.drop_connections()
        for i, task_id in enumerate(first):
            assert oq.get_result(task_id, timeout=30) == 2**i
        for i, task_id in enumerate(second):
            assert oq.get_result(task_id, timeout=30) == 3**i
        assert proxy.connections >= 3  # it did reconnect
        oq.stop_worker()


def test_an_outage_fails_calls_in_time_and_work_resumes_after_it(
    project: str, proxy: TcpProxy
) -> None:
    with OmniQ(project_name=project, backend_type="nats", servers=through(proxy),
               request_timeout=1.0) as oq:  # fmt: skip
        oq.start_worker(max_workers=2, lease_duration=5.0)
        before = oq.enqueue(func=pow, func_args={"base": 2, "exp": 3})
        assert oq.get_result(before, timeout=30) == 8
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"did not answer|NATS"):
            oq.enqueue(func=pow, func_args={"base": 2, "exp": 4})
        assert time.monotonic() - started < 10
        proxy.restore()
        after = wait_until(
            lambda: _try_enqueue(oq), 30, "an enqueue to succeed once the network is back"
        )
        assert oq.get_result(after, timeout=30) == 32
        oq.stop_worker()


def _try_enqueue(oq: OmniQ) -> str | None:
    try:
        return oq.enqueue(func=pow, func_args={"base": 2, "exp": 5})
    except BackendError:
        return None


# -- a worker killed mid-task ------------------------------------------------------------


def _config(tmp_path: Path, project: str) -> Path:
    path = tmp_path / "omniq.yaml"
    path.write_text(
        f"project_name: {project}\ntask_queue:\n  type: nats\n  config:\n    servers: {NATS_URL}\n"
    )
    return path


def _worker(tmp_path: Path, name: str, config: Path, lease: float) -> Proc:
    path = [str(JOBS_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = child_environment(PYTHONPATH=os.pathsep.join(path), PYTHONUNBUFFERED="1")
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return Proc(name, ["-m", "omniq.cli", "worker", f"--config={config}", f"--lease={lease}",
                       "--concurrency=1", "--poll=0.05"], env, logs)  # fmt: skip


@pytest.mark.timeout(120)
def test_a_task_of_a_sigkilled_worker_runs_again_after_its_lease(
    project: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, project)
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    procs: list[Proc] = []
    try:
        with OmniQ.from_config_file(config) as oq:
            task_id = oq.enqueue(
                jobs.block_until,
                func_args={"runs": str(runs), "release": str(release), "max_wait": 60.0},
                max_retries=1,
            )
            victim = _worker(tmp_path, "victim", config, lease=2.0)
            procs.append(victim)
            wait_until(lambda: jobs.read_lines(runs), 60, "the task to start in the victim")
            task = oq.get_task(task_id)
            assert task is not None
            assert task.status is TaskStatus.EXECUTING
            assert pid_of(task.worker_id) == victim.pid
            victim.signal(signal.SIGKILL)
            assert victim.wait_exit(10) == -signal.SIGKILL
            killed_at = time.monotonic()

            release.touch()
            rescuer = _worker(tmp_path, "rescuer", config, lease=2.0)
            procs.append(rescuer)
            assert oq.get_result(task_id, timeout=60) == f"released in {rescuer.pid}"
            # Not before the victim's lease ran out (2 s from its last renewal).
            assert time.monotonic() - killed_at > 0.5
            assert [int(pid) for pid in jobs.read_lines(runs)] == [victim.pid, rescuer.pid]

            # Nothing is fused on NATS: the ``completed`` event is written after the status
            # that get_result reads, so it may land a moment later.
            def completed_events() -> list[TaskEvent] | None:
                events = oq.get_events(task_id)
                return events if events and events[-1].type is EventType.COMPLETED else None

            events = wait_until(completed_events, 30, "the completed event after the result")
            assert event_types(events) == [
                EventType.ENQUEUED, EventType.DEQUEUED, EventType.EXECUTING,
                EventType.RETRYING,  # the rescuer's lease recovery
                EventType.DEQUEUED, EventType.EXECUTING, EventType.COMPLETED,
            ]  # fmt: skip
            assert "lease expired" in (events[3].error or "")
            rescuer.signal()
            assert rescuer.wait_exit(30) == 0
    finally:
        for proc in procs:
            proc.close()
        print("\n".join(f"--- {p.name}\n{p.stderr()[-3000:]}" for p in procs))


# -- a real server restart (a private JetStream server: file storage) ----------------------


class PrivateJetStream:
    """A nats-server with JetStream of the test's own, restartable on the same port and store."""

    def __init__(self, tmp_path: Path) -> None:
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.port = free_port()
        self.store = tmp_path / "jetstream"
        self.log = tmp_path / "nats-js.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
                 str(self.store)], stdout=log, stderr=log,
            )  # fmt: skip
        wait_until(lambda: _listening(self.port), 10, "the private nats-server to listen")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM, or SIGKILL (no chance to flush anything of its own)."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(10)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@pytest.fixture
def jetstream(tmp_path: Path) -> Iterator[PrivateJetStream]:
    server = PrivateJetStream(tmp_path)
    if not os.path.exists(server.binary):
        pytest.fail("nats-server is not installed (the NATS service needs it)")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_a_server_restart_loses_nothing_whose_enqueue_returned(
    jetstream: PrivateJetStream,
) -> None:
    with OmniQ(project_name="restart", backend_type="nats", servers=jetstream.url,
               request_timeout=2.0) as oq:  # fmt: skip
        waiting = [oq.enqueue(func=pow, func_args={"base": 2, "exp": i}) for i in range(100)]
        later = oq.enqueue(func=pow, func_args={"base": 3, "exp": 2}, run_in=1.0)
        jetstream.stop(kill=True)  # gone: the client tries to reconnect meanwhile
        with pytest.raises(BackendError):
            oq.enqueue(func=pow, func_args={"base": 5, "exp": 1})
        jetstream.start()  # same port, same store directory
        oq.start_worker(max_workers=4, lease_duration=5.0)
        for i, task_id in enumerate(waiting):
            assert oq.get_result(task_id, timeout=60) == 2**i
        assert oq.get_result(later, timeout=60) == 9
        oq.stop_worker()


@pytest.mark.timeout(120)
def test_a_worker_goes_on_across_a_server_restart(jetstream: PrivateJetStream) -> None:
    with OmniQ(project_name="restart2", backend_type="nats", servers=jetstream.url,
               request_timeout=2.0) as oq:  # fmt: skip
        oq.start_worker(max_workers=4, lease_duration=5.0)
        first = oq.enqueue(func=pow, func_args={"base": 2, "exp": 10})
        assert oq.get_result(first, timeout=30) == 1024
        jetstream.stop()
        jetstream.start()
        after = wait_until(lambda: _try_enqueue(oq), 30, "an enqueue once the server is back")
        assert oq.get_result(after, timeout=60) == 32
        oq.stop_worker()


# -- several worker processes on one schedule ------------------------------------------------


@pytest.mark.timeout(120)
def test_worker_processes_fire_each_run_of_a_schedule_once(project: str, tmp_path: Path) -> None:
    config = _config(tmp_path, project)
    log_dir = tmp_path / "runs"
    log_dir.mkdir()
    runs = 8
    workers: list[Proc] = []
    try:
        with OmniQ.from_config_file(config) as oq:
            workers = [_worker(tmp_path, f"w{i}", config, lease=60.0) for i in range(3)]
            wait_until(lambda: len(oq.list_workers()) == 3, 60, "three workers to register")
            schedule_id = oq.schedule(jobs.record, func_args={"n": 1, "log_dir": str(log_dir)},
                                      interval=0.25, max_runs=runs)  # fmt: skip
            wait_until(
                lambda: sum(len(jobs.read_lines(p)) for p in log_dir.glob("*.log")) >= runs,
                60, "every run to execute",
            )  # fmt: skip
            found = oq.get_schedule(schedule_id)
            assert found is not None
            wait_until(lambda: oq.get_schedule(schedule_id).run_count == runs, 10, "the count")  # type: ignore[union-attr]
            executed = sum(len(jobs.read_lines(p)) for p in log_dir.glob("*.log"))
            assert executed == runs  # fired once each, run once each
            for worker in workers:
                worker.signal()
                assert worker.wait_exit(30) == 0
    finally:
        for worker in workers:
            worker.close()
