"""A worker's Prometheus metrics, scraped over HTTP from the real endpoint.

Each test uses a queue name of its own: the metrics are the process's, and other tests'
workers count into the same series.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from omniq import ConfigurationError, OmniQ, TaskFailedError
from omniq.core.portal import portal
from omniq.monitoring.worker_metrics import metrics_url

from . import jobs
from .scrape import Samples, scrape, value


def ref(func: object) -> str:
    return f"{func.__module__}:{func.__qualname__}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("worker_type", ["async", "thread_pool", "process_pool"])
def test_outcomes_durations_waits_retries_and_recoveries_are_scraped(
    worker_type: str, tmp_path: Path
) -> None:
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    with OmniQ(project_name="metrics", db_path=tmp_path / "q.db", queues=[queue]) as oq:
        # A task claimed by a worker that died: its lease has expired already.
        ghost = oq.enqueue(jobs.add, {"x": 0, "y": 0}, queue_name=queue)
        now = oq.store.clock.now()
        [claimed] = portal().call(oq.task_queue.claim([queue], 1, "ghost", now, now - 1.0))
        assert claimed.id == ghost
        before = scrape_recoveries()
        oq.start_worker(worker_type=worker_type, max_workers=3, metrics_port=0, lease_duration=4)
        assert oq.worker is not None
        url = metrics_url(oq.worker)
        assert url is not None
        assert url.startswith("http://127.0.0.1:")

        added = [oq.enqueue(jobs.add, {"x": i, "y": 1}, queue_name=queue) for i in range(3)]
        failing = oq.enqueue(jobs.fails, {"message": "no"}, queue_name=queue, max_retries=0)
        retried = oq.enqueue(
            jobs.fails_first_time, {"marker": str(tmp_path / "m")}, queue_name=queue,
            max_retries=1, retry_delay=0,
        )  # fmt: skip
        assert [oq.get_result(t, timeout=30) for t in added] == [1, 2, 3]
        assert oq.get_result(retried, timeout=30) == "second attempt"
        assert oq.get_result(ghost, timeout=30) == 0
        with pytest.raises(TaskFailedError):
            oq.get_result(failing, timeout=30)

        def finished(samples: Samples, func: object, outcome: str) -> float | None:
            return value(samples, "omniq_tasks_finished_total", queue=queue, task=ref(func),
                         outcome=outcome)  # fmt: skip

        # Outcomes are counted before result waiters are woken: one scrape sees them all.
        samples = scrape(url)
        assert finished(samples, jobs.add, "completed") == 4
        assert finished(samples, jobs.fails, "failed") == 1
        assert finished(samples, jobs.fails_first_time, "completed") == 1
        assert finished(samples, jobs.fails_first_time, "failed") is None
        retries = "omniq_task_retries_total"
        assert value(samples, retries, queue=queue, task=ref(jobs.fails_first_time)) == 1
        assert value(samples, retries, queue=queue, task=ref(jobs.add)) is None
        # One duration per body run: the retried task ran twice.
        durations = "omniq_task_duration_seconds_count"
        assert value(samples, durations, queue=queue, task=ref(jobs.add)) == 4
        assert value(samples, durations, queue=queue, task=ref(jobs.fails)) == 1
        assert value(samples, durations, queue=queue, task=ref(jobs.fails_first_time)) == 2
        total = value(samples, "omniq_task_duration_seconds_sum", queue=queue, task=ref(jobs.add))
        assert total is not None
        assert 0 < total < 30
        infinite = value(samples, "omniq_task_duration_seconds_bucket", queue=queue,
                         task=ref(jobs.add), le="+Inf")  # fmt: skip
        assert infinite == 4
        assert value(samples, "omniq_task_queue_wait_seconds_count", queue=queue) == 7
        # The ghost's task waited at least since it was due, before the worker started.
        slowest = value(samples, "omniq_task_queue_wait_seconds_bucket", queue=queue, le="0.001")
        assert slowest is not None
        assert slowest < 7
        assert scrape_recoveries() - before == 1

        worker_id = oq.worker.worker_id
        info = value(samples, "omniq_worker_info", worker_id=worker_id, worker_type=worker_type,
                     queues=f"{queue},default")  # fmt: skip
        assert info == 1
        assert value(samples, "omniq_worker_slots", worker_id=worker_id) == 3
        assert value(samples, "omniq_worker_tasks_in_flight", worker_id=worker_id) == 0
        assert any(name == "process_cpu_seconds_total" for name, _ in samples)
        worker = oq.worker
        oq.stop_worker()
        assert metrics_url(worker) is None
    with pytest.raises(OSError, match="Connection refused"):  # stopped with the worker
        scrape(url)


def scrape_recoveries() -> float:
    """``omniq_lease_recoveries_total`` of this process, from the default registry."""
    from prometheus_client import REGISTRY

    found = REGISTRY.get_sample_value("omniq_lease_recoveries_total")
    return found or 0.0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"metrics_port": -1}, "metrics_port -1"),
        ({"metrics_port": 70000}, "metrics_port 70000"),
        ({"metrics_port": "9100"}, "metrics_port '9100'"),
        ({"metrics_port": True}, "metrics_port True"),
        ({"metrics_port": 0, "metrics_host": ""}, "metrics_host ''"),
        ({"metrics_port": 0, "metrics_host": 127}, "metrics_host 127"),
    ],
)
def test_bad_metrics_options_are_refused_naming_the_value(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        OmniQ(project_name="metrics", backend_type="memory", worker_config=options)


def test_a_taken_port_refuses_the_start_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with OmniQ(project_name="metrics", backend_type="memory") as oq:
            with pytest.raises(ConfigurationError, match=f"metrics_port {port}: cannot serve"):
                oq.start_worker(metrics_port=port)
            assert oq.worker is None or not oq.worker.is_running
            assert oq.list_workers() == []


def test_without_metrics_nor_opentelemetry_nothing_is_imported(tmp_path: Path) -> None:
    """No ``metrics_port`` and no ``opentelemetry``: neither library is imported, tasks run,
    and payloads keep their three parts; ``metrics_port`` without prometheus-client is an
    error naming the extra."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        from omniq import OmniQ
        from omniq.core.portal import portal
        from omniq.exceptions import MissingDependencyError
        from omniq.serialization.values import decode_msgpack

        with OmniQ(project_name="plain", backend_type="memory") as oq:
            oq.start_worker()
            task_id = oq.enqueue(pow, {"base": 2, "exp": 5})
            assert oq.get_result(task_id, timeout=30) == 32
            record = portal().call(oq.task_queue.get(task_id))
            frame = decode_msgpack(record.payload[1:])
            assert oq.worker.runner.observer is None
        sys.modules["prometheus_client"] = None  # as if omniq[metrics] were not installed
        with OmniQ(project_name="plain", backend_type="memory") as oq:
            try:
                oq.start_worker(metrics_port=0)
            except MissingDependencyError as exc:
                assert "pip install 'omniq[metrics]'" in str(exc), exc
            else:
                raise AssertionError("metrics_port without prometheus-client started")
        loaded = sorted(
            name for name, module in sys.modules.items()
            if module is not None and name.startswith(("prometheus", "opentelemetry"))
        )
        print(len(frame), loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "[]"]
