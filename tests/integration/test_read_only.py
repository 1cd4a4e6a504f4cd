"""A read-only file system, directory or database file is refused at open, with a message
that says what is read-only and what to do (as root too, where permissions do not stop
writes: the mode bits count)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_targets import REQUIRE_SERVICES
from omniq import OmniQ
from omniq.exceptions import BackendError

from . import jobs
from .conftest import PROJECT

pytestmark = pytest.mark.slow


def make_store(db_path: Path) -> str:
    with OmniQ(project_name=PROJECT, db_path=db_path) as oq:
        return oq.enqueue(jobs.describe, {"x": 1})


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = f"cannot mount {args}: {done.stderr.strip()}"
        if REQUIRE_SERVICES:  # CI runs as root: these tests must run there
            pytest.fail(f"{reason} and OMNIQ_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs, which the test may remount read-only."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point))
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_read_only_file_system_is_named_with_what_to_do(small_disk: Path) -> None:
    db_path = small_disk / "queue.db"
    make_store(db_path)
    mount("-o", "remount,ro", str(small_disk))
    with pytest.raises(BackendError) as info:
        OmniQ(project_name=PROJECT, db_path=db_path).open()
    message = str(info.value)
    assert "read-only file system" in message
    assert str(db_path) in message
    assert "remount it read-write" in message
    with pytest.raises(BackendError, match="read-only file system"):  # a new file there too
        OmniQ(project_name=PROJECT, db_path=small_disk / "sub" / "new.db").open()


def test_a_read_only_directory_is_named_with_what_to_do(tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        with pytest.raises(BackendError) as info:
            OmniQ(project_name=PROJECT, db_path=directory / "queue.db").open()
    finally:
        directory.chmod(0o755)
    message = str(info.value)
    assert f"the directory {str(directory)!r} of the database is read-only" in message
    assert "chmod u+w" in message
    assert not (directory / "queue.db").exists()


def test_a_read_only_database_file_is_refused_at_open(tmp_path: Path) -> None:
    db_path = tmp_path / "queue.db"
    task_id = make_store(db_path)
    db_path.chmod(0o444)
    before = db_path.read_bytes()
    with pytest.raises(BackendError) as info:
        OmniQ(project_name=PROJECT, db_path=db_path).open()
    message = str(info.value)
    assert f"the database file {str(db_path)!r} is read-only" in message
    assert "chmod u+w" in message
    assert db_path.read_bytes() == before  # refused before anything was written
    db_path.chmod(0o644)
    with OmniQ(project_name=PROJECT, db_path=db_path) as oq:
        assert oq.get_task(task_id) is not None
