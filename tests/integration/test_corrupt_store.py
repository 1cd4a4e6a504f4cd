"""Opening a file that is not an OmniQ store fails with StoreCorruptedError, touching nothing."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from omniq import OmniQ
from omniq.exceptions import StoreCorruptedError

from . import jobs
from .conftest import PROJECT

pytestmark = pytest.mark.slow

SQLITE_HEADER = b"SQLite format 3\x00"


def random_bytes(size: int) -> bytes:
    data = os.urandom(size)
    assert not data.startswith(SQLITE_HEADER)
    return data


def valid_header_then_garbage() -> bytes:
    return SQLITE_HEADER + random_bytes(8192 - len(SQLITE_HEADER))


def omniq_store_with_smashed_schema_page(tmp_path: Path) -> bytes:
    """A real OmniQ store with tasks whose first page (the schema) is overwritten after
    its 100-byte header, as a torn write or a bad disk would leave it."""
    source = tmp_path / "source.db"
    with OmniQ(project_name=PROJECT, db_path=source) as oq:
        oq.enqueue_many(jobs.describe, [{"x": i} for i in range(200)])
    data = bytearray(source.read_bytes())
    assert data.startswith(SQLITE_HEADER)
    assert len(data) > 4096
    data[100:4096] = os.urandom(4096 - 100)
    return bytes(data)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "content",
    [
        lambda _: random_bytes(64 * 1024),
        lambda _: random_bytes(100),
        lambda _: valid_header_then_garbage(),
        omniq_store_with_smashed_schema_page,
    ],
    ids=["random-64KiB", "random-100B", "sqlite-header-then-garbage", "omniq-schema-page-smashed"],
)
def test_corrupt_file_is_refused(tmp_path: Path, content: Callable[[Path], bytes]) -> None:
    path = tmp_path / "corrupt.db"
    data = content(tmp_path)
    path.write_bytes(data)

    oq = OmniQ(project_name=PROJECT, db_path=path)
    with pytest.raises(StoreCorruptedError) as info:
        oq.open()
    assert str(path) in str(info.value)
    # First use opens too, with the same error.
    with pytest.raises(StoreCorruptedError):
        oq.enqueue(jobs.describe, func_args={"x": 1})
    oq.close()
    assert path.read_bytes() == data  # left as it was


def make_foreign_database(path: Path) -> None:
    """A database of some other application, in SQLite's default rollback-journal mode."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.close()


@pytest.mark.timeout(30)
def test_database_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other-app.db"
    make_foreign_database(path)

    with pytest.raises(StoreCorruptedError) as info:
        OmniQ(project_name=PROJECT, db_path=path).open()
    assert str(path) in str(info.value)
    assert "users" in str(info.value)

    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        rows = conn.execute("SELECT name FROM users").fetchall()
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert tables == {"users"}  # no OmniQ table was created in it
    assert rows == [("ada",)]
    assert user_version == 0


@pytest.mark.timeout(30)
def test_refusing_a_foreign_database_leaves_its_journal_mode_alone(tmp_path: Path) -> None:
    path = tmp_path / "other-app.db"
    make_foreign_database(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()

    with pytest.raises(StoreCorruptedError):
        OmniQ(project_name=PROJECT, db_path=path).open()

    with sqlite3.connect(path) as conn:
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    # BUG (src/omniq/backends/sqlite/connection.py connect(), "PRAGMA journal_mode = WAL",
    # run before schema.ensure_schema() checks whose database it is): the refused file of
    # another application is switched to WAL for good (file header bytes 18-19 become 2),
    # which that application never asked for (WAL breaks on network file systems and
    # read-only media, and adds -wal/-shm files next to it).
    assert journal_mode == "delete"


def store_with_tasks(tmp_path: Path, count: int, description: str = "") -> Path:
    path = tmp_path / "damaged.db"
    with OmniQ(project_name=PROJECT, db_path=path) as oq:
        oq.enqueue_many(jobs.describe, [{"x": i} for i in range(count)])
        oq.enqueue(jobs.describe, {"x": -1}, description=description or None)
    return path


def test_damaged_pages_behind_an_intact_header_are_refused_at_open(tmp_path: Path) -> None:
    path = store_with_tasks(tmp_path, 2000)
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    middle = (len(data) // page_size // 2) * page_size
    data[middle : middle + page_size] = random_bytes(page_size)  # one page of the tasks
    path.write_bytes(bytes(data))
    assert path.read_bytes().startswith(SQLITE_HEADER)

    with pytest.raises(StoreCorruptedError) as info:
        OmniQ(project_name=PROJECT, db_path=path).open()
    message = str(info.value)
    assert "has damaged pages (PRAGMA quick_check: " in message  # found at open
    assert str(path) in message
    assert "restore it from a backup" in message
    assert ".recover" in message


def test_a_row_that_cannot_be_decoded_raises_store_corrupted(tmp_path: Path) -> None:
    marker = "damaged-text-" + "m" * 40
    path = store_with_tasks(tmp_path, 10, description=marker)
    data = path.read_bytes()
    assert data.count(marker.encode()) == 1
    path.write_bytes(data.replace(marker.encode(), b"\xff" * len(marker)))  # not UTF-8

    oq = OmniQ(project_name=PROJECT, db_path=path).open()  # its pages are sound: it opens
    try:
        with pytest.raises(StoreCorruptedError) as info:
            oq.list_tasks(limit=100)
    finally:
        oq.close()
    message = str(info.value)
    assert "holds a row that cannot be decoded" in message
    assert "Could not decode to UTF-8" in message
    assert str(path) in message
