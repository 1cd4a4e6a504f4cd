"""Opening SQLite connections with OmniQ's pragmas, and translating sqlite3 errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from omniq.exceptions import BackendError, ConfigurationError, StoreCorruptedError

__all__ = ["SYNCHRONOUS_MODES", "Synchronous", "connect", "enable_wal", "translate_error"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
SYNCHRONOUS_MODES: tuple[Synchronous, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")


def connect(
    path: Path, synchronous: Synchronous, busy_timeout: float, *, wal: bool = True
) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit).

    Args:
        path: The database file.
        synchronous: The ``PRAGMA synchronous`` level.
        busy_timeout: Seconds a statement waits for another process's lock.
        wal: Switch the database to WAL mode (persistent). The writer passes ``False`` and
            calls :func:`enable_wal` once the file is known to be OmniQ's, so a foreign
            database that is refused is left unchanged.

    Returns:
        The open connection, usable only from the thread that calls this.

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
            path, isolation_level=None, timeout=busy_timeout, check_same_thread=True
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
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return StoreCorruptedError(
            f"{str(path)!r} is not a readable SQLite database ({text}); "
            "restore it from a backup or point db_path elsewhere"
        )
    if "disk is full" in text or "database or disk is full" in text:
        return BackendError(f"disk full while writing {str(path)!r}: nothing was committed")
    return BackendError(f"SQLite error on {str(path)!r}: {text}")
