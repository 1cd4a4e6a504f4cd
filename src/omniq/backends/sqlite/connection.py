"""Opening SQLite connections with OmniQ's pragmas, and translating sqlite3 errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from omniq.exceptions import BackendError, ConfigurationError, StoreCorruptedError

__all__ = [
    "SYNCHRONOUS_MODES",
    "Synchronous",
    "connect",
    "enable_wal",
    "is_busy",
    "primary_code",
    "translate_error",
]

# SQLite's primary result codes (https://www.sqlite.org/rescode.html).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_NOTADB = 26

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
SYNCHRONOUS_MODES: tuple[Synchronous, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")


def connect(
    path: Path,
    synchronous: Synchronous,
    busy_timeout: float,
    *,
    wal: bool = True,
    shared: bool = False,
) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit).

    Args:
        path: The database file.
        synchronous: The ``PRAGMA synchronous`` level.
        busy_timeout: Seconds a statement waits for another process's lock.
        wal: Switch the database to WAL mode (persistent). The writer passes ``False`` and
            calls :func:`enable_wal` once the file is known to be OmniQ's, so a foreign
            database that is refused is left unchanged.
        shared: Usable from any thread (one at a time: the caller serialises its use).

    Returns:
        The open connection, usable only from the thread that calls this unless ``shared``.

    Raises:
        StoreCorruptedError: The file exists but is not a SQLite database.
        BackendError: The file cannot be opened.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ConfigurationError(
            f"synchronous {synchronous!r} is not one of {', '.join(SYNCHRONOUS_MODES)}"
        )
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout, check_same_thread=not shared
        )
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if wal:
            enable_wal(conn, path)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = OFF")
    except sqlite3.Error as exc:
        conn.close()
        raise translate_error(exc, path) from exc
    return conn


def enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch the database to WAL mode (readers never block the writer, and vice versa).

    Raises:
        BackendError: The file system does not support WAL (e.g. some network mounts).
    """
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise BackendError(f"could not switch {str(path)!r} to WAL mode (got {mode!r})")


def translate_error(exc: sqlite3.Error, path: Path) -> BackendError:
    """Turn a sqlite3 error into the matching OmniQ error (to be raised ``from exc``).

    Args:
        exc: The driver's error.
        path: The database file, named in the message.

    Returns:
        A :class:`StoreCorruptedError` for a corrupt or foreign file, else a
        :class:`BackendError`.
    """
    text = str(exc)
    code = primary_code(exc)
    if code == _SQLITE_CORRUPT:
        return StoreCorruptedError(_damaged(path, [text]))
    if code == _SQLITE_NOTADB:
        return StoreCorruptedError(
            f"{str(path)!r} is not a readable SQLite database ({text}); "
            "restore it from a backup or point db_path elsewhere"
        )
    if code == _SQLITE_FULL:
        return BackendError(f"disk full while writing {str(path)!r}: nothing was committed")
    if code == _SQLITE_READONLY:  # made read-only after it was opened
        return BackendError(
            f"{str(path)!r} became read-only ({text}): nothing was committed; make the file, "
            "its directory and its file system writable again"
        )
    return BackendError(f"SQLite error on {str(path)!r}: {text}")


#: Stores up to this size get ``PRAGMA quick_check`` at open (it reads every page: ~40 ms
#: for 55 MiB in the page cache, a read of the file from disk otherwise); larger ones are
#: checked on the first sign of damage (see damaged_store_error).
QUICK_CHECK_AT_OPEN_BYTES = 64 * 1024 * 1024

_RECOVER = (
    "stop every worker and producer on it, then restore it from a backup, or save what is "
    "readable with `sqlite3 {path} .recover | sqlite3 recovered.db` and inspect that copy"
)


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Run ``PRAGMA quick_check`` on a database small enough to check at open.

    Raises:
        StoreCorruptedError: Damaged pages were found (the message names the path, the
            first problems found and how to recover).
    """
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size > QUICK_CHECK_AT_OPEN_BYTES:
        return
    problems = _quick_check(conn)
    if problems:
        raise StoreCorruptedError(_damaged(path, problems))


def damaged_store_error(
    conn: sqlite3.Connection, path: Path, exc: BaseException
) -> StoreCorruptedError:
    """The error for stored bytes that cannot be decoded (e.g. text that is not UTF-8).

    Runs ``PRAGMA quick_check`` to tell damaged pages from a row written badly.
    """
    try:
        problems = _quick_check(conn)
    except sqlite3.Error as check_error:
        problems = [f"quick_check failed: {check_error}"]
    if problems:
        return StoreCorruptedError(_damaged(path, problems))
    return StoreCorruptedError(
        f"{str(path)!r} holds a row that cannot be decoded ({type(exc).__name__}: {exc}), "
        f"though its pages are sound; {_RECOVER.format(path=path)}"
    )


def _quick_check(conn: sqlite3.Connection) -> list[str]:
    """The problems ``PRAGMA quick_check`` reports (at most 5), none if the pages are sound."""
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:  # a page too damaged to walk
        if primary_code(exc) != _SQLITE_CORRUPT:
            raise
        rows = [str(exc)]
    return [] if rows == ["ok"] else [f"PRAGMA quick_check: {row}" for row in rows]


def _damaged(path: Path, problems: list[str]) -> str:
    return f"{str(path)!r} has damaged pages ({'; '.join(problems)}); {_RECOVER.format(path=path)}"


def is_undecodable(exc: BaseException) -> bool:
    """Whether ``exc`` is stored text that is not UTF-8 (a damaged page, or a bad write)."""
    return isinstance(exc, UnicodeDecodeError) or (
        isinstance(exc, sqlite3.OperationalError) and "Could not decode to UTF-8" in str(exc)
    )


def primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of an error (extended codes folded), if it has one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether the error is another connection holding a lock (``SQLITE_BUSY``/``LOCKED``)."""
    return primary_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED)
