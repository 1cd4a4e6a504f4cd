"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The app is served by uvicorn in a thread on a free loopback port, over a store with real
tasks; the tests click as a person does and check the store.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from omniq import OmniQ
from omniq.dashboard.server import BackgroundServer
from omniq.models.task import TaskStatus

from . import jobs
from .conftest import TOKEN, Store, settings, wait_until

CHROMIUM = os.environ.get("OMNIQ_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:  # never skipped: .ci/run installs it
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def url(store: Store) -> Iterator[str]:
    with store.reader() as oq, BackgroundServer(oq, settings()) as server:
        yield server.url


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    """A signed-in tab; the test fails on any script error the page logs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: _console(m, errors))
    tab.goto(f"{url}/login")
    tab.fill("input[name=token]", TOKEN)
    tab.click("button[type=submit]")
    expect(tab).to_have_url(f"{url}/")
    yield tab
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def _console(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


def test_every_page_loads_with_its_content(page: Page, url: str, store: Store) -> None:
    expect(page.locator("#queues tr[data-queue=mail]")).to_be_visible()
    expect(page.locator("#chart-throughput canvas")).to_have_count(1)
    expect(page.locator("#chart-latency canvas")).to_have_count(1)
    expect(page.locator("#recent-events")).to_contain_text("completed")
    page.click("nav >> text=Tasks")
    expect(page.locator("#task-table tbody tr")).to_have_count(50)
    page.select_option("select[name=status]", "failed")
    page.click("text=Filter")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#task-table tbody tr")).not_to_have_count(0)
    page.click("nav >> text=Failed")
    expect(page.locator("#retry-all")).to_be_visible()
    page.click("nav >> text=Schedules")
    expect(page.locator(f"tr[data-schedule='{store.schedule}']")).to_contain_text("hourly")
    page.goto(f"{url}/tasks/{store.pickled}")
    expect(page.locator("#arguments")).to_contain_text("pickled, not loaded")
    assert not store.tripwire.exists()


def test_retry_and_cancel_buttons_change_the_store(page: Page, url: str, store: Store) -> None:
    failed = store.writer.enqueue(jobs.add, {"a": 0, "b": 0}, queue_name="idle")
    page.goto(f"{url}/tasks/{failed}")
    page.click("button:has-text('Cancel')")
    expect(page.locator(".notice")).to_contain_text("cancel requested")
    assert store.status(failed) is TaskStatus.CANCELLED
    expect(page.locator("button:has-text('Cancel')")).to_have_count(0)
    target = store.failed[0]
    page.goto(f"{url}/tasks/{target}")
    page.click("button:has-text('Retry')")
    expect(page.locator(".notice")).to_contain_text("enqueued again")
    assert store.status(target) is TaskStatus.ENQUEUED


def test_retry_all_shown(page: Page, url: str, store: Store) -> None:
    page.goto(f"{url}/failed?name=bad")
    shown = page.locator("#task-table tbody tr").count()
    assert shown >= 1
    page.click("#retry-all")
    expect(page.locator(".notice")).to_contain_text(f"{shown} task(s) enqueued again")
    expect(page.locator("#task-table")).to_have_count(0)
    assert all(store.status(t) is not TaskStatus.FAILED for t in store.failed)


def test_schedule_pause_and_resume(page: Page, url: str, store: Store) -> None:
    page.goto(f"{url}/schedules")
    row = page.locator(f"tr[data-schedule='{store.schedule}']")
    row.locator("button:has-text('Pause')").click()
    expect(row).to_contain_text("paused")
    assert store.writer.get_schedule(store.schedule).status.value == "paused"  # type: ignore[union-attr]
    row.locator("button:has-text('Resume')").click()
    expect(row).to_contain_text("active")


def test_overview_moves_when_a_worker_completes_tasks(page: Page, store: Store) -> None:
    """The page is left open; a worker runs new tasks; the counts change without a reload."""
    cell = page.locator("#queues tr[data-queue=live] td[data-status=completed]")
    expect(page.locator("#queues")).to_be_visible()
    worker = OmniQ(project_name="dash", db_path=store.db_path, queues=["live"]).open()
    try:
        ids = worker.enqueue_many(jobs.add, [{"a": i, "b": i} for i in range(20)],
                                  queue_name="live")  # fmt: skip
        expect(cell).to_have_text("0", timeout=15_000)  # the new queue appears, nothing run
        worker.start_worker(worker_type="thread_pool", max_workers=4)
        wait_until(lambda: all(worker.get_task(t).status.is_final for t in ids))  # type: ignore[union-attr]
        expect(cell).to_have_text("20", timeout=15_000)
    finally:
        worker.stop_worker()
        worker.close()
