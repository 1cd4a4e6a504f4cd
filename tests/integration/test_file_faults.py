"""Faults of the file backend on a local directory: a full disk, corrupted or foreign files,
a path that cannot be written."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_targets import REQUIRE_SERVICES
from omniq import OmniQ, TaskStatus
from omniq.backends.file import FileBackend
from omniq.exceptions import BackendError

from . import jobs
from .conftest import wait_until

BIG = "x" * 20_000  # a description this long makes each task file ~20 kB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real file system that runs out of space."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        reason = f"cannot mount a small tmpfs here: {done.stderr.strip()}"
        if REQUIRE_SERVICES:  # CI runs as root: the full-disk test must run there
            pytest.fail(f"{reason} and OMNIQ_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def documents(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.json") if p.is_file()]


def test_a_full_disk_stores_nothing_half_done_and_names_the_path(small_disk: Path) -> None:
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 2_500_000)
    with OmniQ(project_name="full", backend_type="file", path=small_disk) as oq:
        stored: list[str] = []

        def fill() -> None:
            for n in range(500):
                stored.append(oq.enqueue(jobs.describe, func_args={"x": n}, description=BIG))

        with pytest.raises(BackendError) as info:
            fill()
        message = str(info.value)
        assert "no space left on device" in message
        assert str(small_disk) in message  # the path is named
        assert stored  # some fitted before the disk filled up
        root = small_disk / "full"
        # Nothing half-written: every file under a real name is a whole JSON document,
        # and no temporary file is left behind.
        for path in documents(root):
            json.loads(path.read_text())
        assert not list((root / "tmp").iterdir())
        for task_id in stored:
            task = oq.get_task(task_id)
            assert task is not None
            assert task.status is TaskStatus.ENQUEUED
        assert len(list(root.glob("tasks/*.json"))) == len(stored)  # the failed one is not
        ballast.unlink()  # space again: a worker runs every stored task
        oq.start_worker(max_workers=2)
        for task_id in stored:
            assert oq.get_result(task_id, timeout=30)["double"] % 2 == 0
        oq.stop_worker()


def test_corrupted_and_foreign_files_are_reported_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with OmniQ(project_name="rot", backend_type="file", path=tmp_path) as oq:
        good = [oq.enqueue(jobs.describe, func_args={"x": n}) for n in range(3)]
        bad = oq.enqueue(jobs.describe, func_args={"x": 99})
        root = tmp_path / "rot"
        [bad_file] = root.glob(f"tasks/{bad}.json")
        bad_file.write_bytes(b'{"omniq": "task", "truncat')  # a torn or corrupted file
        [entry] = [p for p in (root / "queues").rglob("*") if p.is_file() and bad in p.name]
        (entry.parent / "0000-not-an-entry.txt").write_text("left here by someone")
        (root / "tasks" / "foreign.txt").write_text('{"hello": "world"}')
        (root / "log" / "00000000" / "000000999999.json").write_text("garbage")
        with caplog.at_level(logging.WARNING, logger="omniq.backends.file"):
            oq.start_worker(max_workers=2)
            assert [oq.get_result(i, timeout=20)["double"] for i in good] == [0, 2, 4]
            assert oq.get_task(bad) is None  # unreadable: reported, never fatal
            assert oq.list_events(limit=100)  # the log reads past what it cannot decode
            assert oq.list_tasks(limit=100)
            oq.stop_worker()
        skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
        assert any(str(bad_file) in line for line in skipped)
        assert any("0000-not-an-entry.txt" in line for line in skipped)
        assert any("foreign.txt" in line for line in skipped)


def test_a_file_where_the_directory_should_be_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    backend = FileBackend(project_name="p", path=blocker)
    with pytest.raises(BackendError, match="not-a-dir") as info:
        backend.initialize()
    assert "Not a directory" in str(info.value) or "File exists" in str(info.value)


def test_a_read_only_location_is_named(tmp_path: Path) -> None:
    backend = FileBackend(project_name="p", path="/proc/omniq-cannot-write-here")
    with pytest.raises(BackendError, match="/proc/omniq-cannot-write-here"):
        backend.initialize()


def test_the_worker_survives_a_task_file_deleted_under_it(tmp_path: Path) -> None:
    """An operator removing a task file (``rm``) costs that task, never the worker."""
    with OmniQ(project_name="rm", backend_type="file", path=tmp_path) as oq:
        doomed = oq.enqueue(jobs.describe, func_args={"x": 1})
        [path] = (tmp_path / "rm").glob(f"tasks/{doomed}.json")
        path.unlink()
        survivor = oq.enqueue(jobs.describe, func_args={"x": 2})
        oq.start_worker(max_workers=1)
        assert oq.get_result(survivor, timeout=20)["double"] == 4
        wait_until(lambda: oq.get_task(doomed) is None, 5, "the removed task to stay gone")
        oq.stop_worker()
