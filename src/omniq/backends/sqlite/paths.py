"""Where the SQLite database of a project lives by default."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from omniq.exceptions import BackendError
from omniq.storage.names import validate_project_name

__all__ = ["check_writable", "data_dir", "default_db_path", "validate_project_name"]


def data_dir() -> Path:
    """The directory holding OmniQ's embedded databases.

    ``$OMNIQ_HOME`` if set, else ``$XDG_DATA_HOME/omniq``, else ``~/.local/share/omniq``.
    """
    if home := os.environ.get("OMNIQ_HOME"):
        return Path(home).expanduser()
    if xdg := os.environ.get("XDG_DATA_HOME"):
        return Path(xdg).expanduser() / "omniq"
    return Path.home() / ".local" / "share" / "omniq"


def default_db_path(project_name: str) -> Path:
    """The default database file of a project: ``data_dir() / f"{project_name}.db"``."""
    return data_dir() / f"{validate_project_name(project_name)}.db"


def check_writable(db_path: Path) -> None:
    """Refuse a database OmniQ could not write, saying what is read-only and what to do.

    Every reader writes too (WAL mode keeps ``-wal`` and ``-shm`` files beside the database,
    created in its directory), so a read-only file system, directory or file is refused at
    open rather than at the first write. Permission bits count even for root, who could
    write anyway: a file or directory without any write bit was made read-only on purpose.

    Raises:
        BackendError: The file system, the directory or the file is read-only.
    """
    existing = db_path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if _read_only_file_system(existing):
        raise BackendError(
            f"{str(db_path)!r} is on a read-only file system (at {str(existing)!r}): OmniQ "
            "writes the database and its -wal/-shm files beside it; remount it read-write "
            "or set db_path to a writable place"
        )
    directory = db_path.parent
    if directory.exists() and not _writable(directory):
        raise BackendError(
            f"the directory {str(directory)!r} of the database is read-only: OmniQ creates "
            "the database and its -wal/-shm files there; make it writable (chmod u+w) or set "
            "db_path to a writable directory"
        )
    if db_path.exists() and not _writable(db_path):
        raise BackendError(
            f"the database file {str(db_path)!r} is read-only: every OmniQ instance writes to "
            "it (a worker, and enqueue); make it writable (chmod u+w) or open a copy"
        )


def _read_only_file_system(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _writable(path: Path) -> bool:
    """Whether this process may write ``path``, and its mode has a write bit at all."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return True  # gone meanwhile: opening it says what is wrong
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
