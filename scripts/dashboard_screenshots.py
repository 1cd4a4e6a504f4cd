"""Screenshots of the dashboard's pages for the docs: ``docs/images/dashboard_*.png``.

Usage::

    python scripts/dashboard_screenshots.py            # rewrite docs/images/dashboard_*.png
    python scripts/dashboard_screenshots.py --out DIR  # write elsewhere

Fills a store with ``omniq demo --keep`` (real tasks: completed, retried, failed, delayed, a
schedule), starts a worker running slow reports beside work waiting in a queue no worker
serves, serves the dashboard over it on a free loopback port with a token, signs in, and
photographs each page with Debian's headless Chromium (``/usr/bin/chromium``, driven by
Playwright). The pages show times and ids of the run, so the images differ from run to run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from omniq import OmniQ
from omniq.cli.connect import StoreOptions, open_omniq
from omniq.dashboard import DashboardSettings
from omniq.dashboard.server import BackgroundServer
from omniq.demo.tasks import digest, slow_report

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
CHROMIUM = os.environ.get("OMNIQ_CHROMIUM", "/usr/bin/chromium")
TOKEN = "screenshot-token-0123456789"
PAGES = {
    "dashboard_overview.png": "/",
    "dashboard_tasks.png": "/tasks?queue=high",
    "dashboard_failed.png": "/failed",
    "dashboard_task.png": None,  # the demo's failed task, found on /failed
    "dashboard_schedules.png": "/schedules",
}


def fill(directory: Path) -> Path:
    """A demo store in ``directory`` (``omniq demo --keep --db-path``)."""
    db_path = directory / "demo.db"
    subprocess.run([sys.executable, "-m", "omniq.cli", "demo", "--db-path", str(db_path),
                    "--keep", "--json"], check=True, capture_output=True)  # fmt: skip
    return db_path


def busy_worker(db_path: Path) -> OmniQ:
    """A worker on queue ``high`` running slow reports, and work waiting in an unserved queue.

    The overview then shows a live worker and what it runs, and flags ``exports``.
    """
    oq = OmniQ(project_name="demo", db_path=db_path, queues=["high"],
               strict_serialization=True, allowed_modules=["omniq.demo"]).open()  # fmt: skip
    oq.enqueue_many(slow_report, [{"name": f"quarterly-{i}", "seconds": 60} for i in range(3)],
                    queue_name="high", name="quarterly report")  # fmt: skip
    with OmniQ(
        project_name="demo",
        db_path=db_path,
        strict_serialization=True,
        allowed_modules=["omniq.demo"],
    ) as other:  # its queue is not the worker's
        other.enqueue_many(digest, [{"text": f"export-{i}"} for i in range(40)],
                           queue_name="exports")  # fmt: skip
    oq.schedule(digest, {"text": "nightly"}, cron_expression="0 3 * * *", name="nightly digest")
    paused = oq.schedule(slow_report, {"name": "hourly", "seconds": 1}, interval=3600,
                         queue_name="high", name="hourly report")  # fmt: skip
    oq.pause_schedule(paused)
    oq.start_worker(worker_type="thread_pool", max_workers=4)
    deadline = time.monotonic() + 10
    while len(oq.list_tasks("executing")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return oq


def shoot(db_path: Path, out: Path) -> list[Path]:
    """Photograph every page of the dashboard over ``db_path`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    worker = busy_worker(db_path)
    with (
        open_omniq(StoreOptions(db_path=db_path)) as oq,
        BackgroundServer(oq, DashboardSettings(port=0, token=TOKEN)) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 560})
        page.goto(f"{server.url}/login")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        for name, path in PAGES.items():
            if path is None:
                page.goto(f"{server.url}/failed")
                href = page.locator("#task-table a").first.get_attribute("href")
                path = href or "/tasks"
            page.goto(f"{server.url}{path}")
            if path == "/":
                page.wait_for_selector("#chart-throughput canvas")
            target = out / name
            long = name == "dashboard_tasks.png"  # 50 rows: its first screen only
            page.screenshot(
                path=str(target),
                full_page=True,
                clip={"x": 0, "y": 0, "width": 1280, "height": 860} if long else None,
            )
            written.append(target)
        browser.close()
    worker.stop_worker(grace_period=0.2)
    worker.close()
    return written


def main() -> None:
    """Regenerate the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omniq-shots-") as directory:
        for path in shoot(fill(Path(directory)), args.out):
            print(re.sub(r"^.*/docs/", "docs/", str(path)))


if __name__ == "__main__":
    main()
