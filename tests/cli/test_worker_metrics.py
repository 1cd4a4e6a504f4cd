"""``omniq worker --metrics-port``: a real worker process, scraped over HTTP."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from omniq import OmniQ, TaskFailedError

from . import jobs
from .conftest import Cli, wait_until

pytestmark = pytest.mark.slow


def samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def ref(func: object) -> str:
    return f"{func.__module__}:{func.__qualname__}"  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("worker_type", ["thread_pool", "gevent"])
def test_metrics_port_serves_the_worker_metrics(
    cli: Cli, oq: OmniQ, tmp_path: Path, worker_type: str
) -> None:
    worker = cli.start("--metrics-port", "0", "--type", worker_type, "--queues", "m")
    found = wait_until(
        lambda: re.search(r"Prometheus metrics at (http://127\.0\.0\.1:\d+/metrics)", worker.log()),
        30,
        "the metrics server",
    )
    url = found.group(1)
    done = oq.enqueue(jobs.add, {"x": 1, "y": 2}, queue_name="m")
    failed = oq.enqueue(jobs.fails, {"message": "no"}, queue_name="m", max_retries=0)
    retried = oq.enqueue(jobs.fails_first_time, {"marker": str(tmp_path / "first")},
                         queue_name="m", max_retries=1, retry_delay=0)  # fmt: skip
    assert oq.get_result(done, timeout=30) == 3
    assert oq.get_result(retried, timeout=30) is not None
    with pytest.raises(TaskFailedError):
        oq.get_result(failed, timeout=30)

    def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
        return name, frozenset(labels.items())

    expected = {
        key("omniq_tasks_finished_total", queue="m", task=ref(jobs.add), outcome="completed"): 1,
        key("omniq_tasks_finished_total", queue="m", task=ref(jobs.fails), outcome="failed"): 1,
        key("omniq_tasks_finished_total", queue="m", task=ref(jobs.fails_first_time),
            outcome="completed"): 1,
        key("omniq_task_retries_total", queue="m", task=ref(jobs.fails_first_time)): 1,
        key("omniq_task_duration_seconds_count", queue="m", task=ref(jobs.fails_first_time)): 2,
        key("omniq_task_queue_wait_seconds_count", queue="m"): 4,
    }  # fmt: skip

    def counted() -> bool:
        found = samples(url)
        return all(found.get(name) == count for name, count in expected.items())

    wait_until(counted, 20, f"the counts {expected} at {url}")
    [info] = [labels for name, labels in samples(url) if name == "omniq_worker_info"]
    assert dict(info)["worker_type"] == worker_type
    assert dict(info)["queues"] == "m,default"


def test_a_bad_metrics_port_is_an_error_naming_it(cli: Cli) -> None:
    done = cli.run("worker", "--metrics-port", "99999")
    assert done.returncode != 0
    assert "metrics_port 99999 is not valid: expected a TCP port from 0 to 65535" in done.stderr
