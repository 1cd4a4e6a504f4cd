"""The dashboard app in-process (Starlette's TestClient): pages, filters, safety, actions."""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from omniq.dashboard import DashboardSettings, UnsafeBindError, create_app
from omniq.dashboard.security import CSRF_COOKIE, SESSION_COOKIE
from omniq.exceptions import ConfigurationError
from omniq.models.task import TaskStatus

from . import jobs
from .conftest import TOKEN, Store, settings

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    """Signed in with the token (a bearer header: no CSRF, like a script)."""
    with store.reader() as oq, TestClient(create_app(oq, settings()), base_url=BASE) as c:
        c.headers["authorization"] = f"Bearer {TOKEN}"
        yield c


@pytest.fixture
def browser_like(store: Store) -> Iterator[TestClient]:
    """Signed in through the form, with cookies, as a browser is."""
    with store.reader() as oq, TestClient(create_app(oq, settings()), base_url=BASE) as c:
        response = c.post("/login", data={"token": TOKEN}, headers={"origin": BASE})
        assert response.status_code == 200  # redirected to the overview
        assert c.cookies.get(SESSION_COOKIE)
        yield c


def ids_on(html: str) -> list[str]:
    return re.findall(r'<tr data-task="([^"]+)"', html)


def test_overview_shows_queues_workers_charts_and_the_unserved_queue(
    client: TestClient, store: Store
) -> None:
    html = client.get("/").text
    for queue in ("default", "mail", "vault"):
        assert f'data-queue="{queue}"' in html
    # 60 adds, the pickled result and the hourly schedule's first run completed in default
    row = re.search(r'data-queue="default".*?</tr>', html, re.S)
    assert row is not None
    assert re.search(r'data-status="failed"><span class="zero">0<', row.group(0))
    mail = re.search(r'data-queue="mail".*?</tr>', html, re.S)
    assert mail is not None
    assert ">3</a>" in mail.group(0)
    # vault has a due task and no live worker: flagged
    assert 'class="unserved" data-queue="vault"' in html
    assert "Queue <b>vault</b> has 1 due task(s) and no live worker" in html
    assert 'id="chart-throughput"' in html
    series = client.get("/api/activity").json()
    assert len(series["minutes"]) == 60
    assert sum(series["completed"]) >= 61
    assert sum(series["failed"]) >= 3
    assert any(p is not None for p in series["p50"])


def test_task_list_filters_and_keyset_pages(client: TestClient, store: Store) -> None:
    first = ids_on(client.get("/tasks", params={"name": "adder"}).text)
    assert len(first) == 50
    assert set(first) <= set(store.completed)
    html = client.get("/tasks", params={"name": "adder"}).text
    match = re.search(r'href="(/tasks\?[^"]*before=[^"]+)" id="next-page"', html)
    assert match is not None
    second = ids_on(client.get(match.group(1).replace("&amp;", "&")).text)
    assert len(second) == 10
    assert not set(first) & set(second)
    assert set(first) | set(second) == set(store.completed)
    assert set(ids_on(client.get("/tasks", params={"status": "failed"}).text)) == set(store.failed)
    assert set(ids_on(client.get("/tasks", params={"queue": "mail"}).text)) == set(store.failed)
    assert len(ids_on(client.get("/tasks", params={"tag": "math"}).text)) == 50
    assert ids_on(client.get("/tasks", params={"tag": "nothing"}).text) == []
    assert "No tasks match these filters" in client.get("/tasks", params={"queue": "x"}).text
    assert client.get("/tasks", params={"status": "bogus"}).status_code == 400
    assert client.get("/tasks", params={"before": "not-a-cursor"}).status_code == 400


def test_find_by_id_prefix(client: TestClient, store: Store) -> None:
    target = store.failed[0]
    response = client.get("/tasks", params={"q": target[:13]})
    assert response.url.path == f"/tasks/{target}"
    assert client.get(f"/tasks/{target[:13]}").url.path == f"/tasks/{target}"
    assert client.get("/tasks/ffffffffffff-nothing").status_code == 404


def test_task_page_shows_arguments_result_error_and_events(
    client: TestClient, store: Store
) -> None:
    done = client.get(f"/tasks/{store.completed[5]}").text
    assert '<th class="mono">a</th><td><pre class="value plain">5</pre>' in done
    assert '<pre class="value plain" id="result">6</pre>' in done
    assert "completed" in done
    assert 'id="events"' in done
    failed = client.get(f"/tasks/{store.failed[0]}").text
    assert "builtins.ValueError</b>: broken on purpose: r0" in failed
    assert 'class="traceback"' in failed
    assert "raise ValueError" in failed
    assert "/retry" in failed
    assert "/cancel" not in failed


def test_pickles_are_never_loaded(client: TestClient, store: Store) -> None:
    page = client.get(f"/tasks/{store.pickled}").text
    assert re.search(r'class="value pickled">pickled, not loaded: \d+ bytes', page)
    result = client.get(f"/tasks/{store.pickled_result}").text
    assert re.search(r'class="value pickled" id="result">pickled, not loaded: \d+ bytes', result)
    listing = client.get("/tasks").text + client.get("/tasks", params={"queue": "vault"}).text
    assert "pickled, not loaded" in listing
    client.get("/")
    assert not store.tripwire.exists(), "the dashboard loaded a pickle"


def test_the_tripwire_fires_when_loaded(tmp_path: Path) -> None:
    """The pickled argument of the store really has a side effect when loaded."""
    marker = tmp_path / "loaded"
    pickle.loads(pickle.dumps(jobs.Tripwire(marker)))
    assert marker.exists()


def test_responses_forbid_framing_and_foreign_scripts(client: TestClient) -> None:
    headers = client.get("/").headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # default-src 'self'


def test_sign_in_is_required_with_a_token(store: Store) -> None:
    with store.reader() as oq, TestClient(create_app(oq, settings()), base_url=BASE) as c:
        response = c.get("/tasks", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Ftasks"
        assert c.get("/api/activity").status_code == 401
        assert c.get("/static/dashboard.css").status_code == 200
        wrong = c.post("/login", data={"token": "wrong"}, headers={"origin": BASE})
        assert wrong.status_code == 401
        assert "Wrong token" in wrong.text
        assert c.get("/", headers={"authorization": "Bearer nope"}, follow_redirects=False
                     ).status_code == 303  # fmt: skip
        foreign = c.post("/login", data={"token": TOKEN}, headers={"origin": "http://evil.test"})
        assert foreign.status_code == 401
        assert not c.cookies.get(SESSION_COOKIE)


def test_actions_need_the_csrf_token_and_the_same_origin(
    browser_like: TestClient, store: Store
) -> None:
    task_id = store.writer.enqueue(jobs.add, {"a": 1, "b": 1}, queue_name="idle")
    url = f"/tasks/{task_id}/cancel"
    page = browser_like.get(f"/tasks/{task_id}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    assert csrf.group(1) == browser_like.cookies.get(CSRF_COOKIE)
    refused = [
        browser_like.post(url, data={}, headers={"origin": BASE}),
        browser_like.post(url, data={"csrf": "forged"}, headers={"origin": BASE}),
        browser_like.post(
            url, data={"csrf": csrf.group(1)}, headers={"origin": "http://evil.test"}
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert store.status(task_id) is TaskStatus.ENQUEUED
    done = browser_like.post(url, data={"csrf": csrf.group(1), "next": f"/tasks/{task_id}"},
                             headers={"origin": BASE})  # fmt: skip
    assert done.status_code == 200
    assert "cancel requested" in done.text
    assert store.status(task_id) is TaskStatus.CANCELLED


def test_retry_cancel_and_schedules_change_the_store(client: TestClient, store: Store) -> None:
    failed = store.failed[1]
    assert client.post(f"/tasks/{failed}/retry").status_code == 200
    assert store.status(failed) is TaskStatus.ENQUEUED
    again = client.post(f"/tasks/{failed}/retry")
    assert "not failed or expired: not retried" in again.text
    assert client.post(f"/tasks/{store.delayed}/cancel").status_code == 200
    assert store.status(store.delayed) is TaskStatus.CANCELLED
    assert client.post(f"/schedules/{store.schedule}/pause").status_code == 200
    assert store.writer.get_schedule(store.schedule).status.value == "paused"  # type: ignore[union-attr]
    assert client.post(f"/schedules/{store.schedule}/resume").status_code == 200
    assert store.writer.get_schedule(store.schedule).status.value == "active"  # type: ignore[union-attr]
    assert client.post(f"/schedules/{store.schedule}/explode").status_code == 404
    assert client.post("/tasks/no-such-task/retry").status_code == 404


def test_read_only_hides_and_refuses_actions(store: Store) -> None:
    with store.reader() as oq, TestClient(create_app(oq, settings(read_only=True)),
                                          base_url=BASE) as c:  # fmt: skip
        c.headers["authorization"] = f"Bearer {TOKEN}"
        page = c.get(f"/tasks/{store.failed[2]}").text
        assert "read-only" in page
        assert "/retry" not in page
        refused = c.post(f"/tasks/{store.failed[2]}/retry")
        assert refused.status_code == 403
        assert "read-only" in refused.text
        assert "Retry all" not in c.get("/failed").text
    assert store.status(store.failed[2]) is TaskStatus.FAILED


def test_without_a_token_the_dashboard_only_shows(store: Store) -> None:
    with store.reader() as oq, TestClient(create_app(oq, settings(token=None)),
                                          base_url=BASE) as c:  # fmt: skip
        page = c.get(f"/tasks/{store.failed[2]}").text
        assert "view only: no token" in page
        assert "/retry" not in page
        assert c.post(f"/tasks/{store.failed[2]}/retry").status_code == 403
        # a DNS-rebinding page reaches it under another name: refused
        assert c.get("/", headers={"host": "evil.test:8080"}).status_code == 400


def test_binding_beyond_loopback_needs_a_token(store: Store) -> None:
    with pytest.raises(UnsafeBindError, match=r"refusing to serve the dashboard on '0\.0\.0\.0'"):
        DashboardSettings(host="0.0.0.0").check()
    with store.reader() as oq, pytest.raises(UnsafeBindError, match="--token"):
        create_app(oq, DashboardSettings(host="192.0.2.1"))
    DashboardSettings(host="0.0.0.0", token=TOKEN).check()
    DashboardSettings(host="::1").check()
    with pytest.raises(ConfigurationError, match="at least 16"):
        DashboardSettings(token="short").check()
    with pytest.raises(ConfigurationError, match="port 70000"):
        DashboardSettings(port=70000).check()


def test_metrics_serves_the_stores_prometheus_metrics(client: TestClient, store: Store) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with store.reader() as oq:
        expected = {queue.queue_name: queue.counts for queue in oq.stats().queues}
    assert expected["mail"]["failed"] > 0  # other tests of the module may retry some
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples[("omniq_store_up", ())] == 1.0
    for queue, counts in expected.items():
        for status, count in counts.items():
            assert samples[("omniq_queue_tasks", (("queue", queue), ("status", status)))] == count
    assert samples[("omniq_queue_due_tasks", (("queue", "vault"),))] == 1.0
    assert samples[("omniq_queue_live_workers", (("queue", "vault"),))] == 0.0
    openmetrics = client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_metrics_need_the_token_and_answer_a_scraper_with_401(store: Store) -> None:
    with store.reader() as oq, TestClient(create_app(oq, settings()), base_url=BASE) as c:
        refused = c.get("/metrics", follow_redirects=False)
        assert refused.status_code == 401  # a scraper is not sent to a sign-in page
        bearer = c.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        assert "omniq_store_up 1.0" in bearer.text
