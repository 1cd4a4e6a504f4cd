"""Owner-only files and directories: what OmniQ creates on a local disk is private.

A store holds calls that workers run, so whoever can write it can run code in the workers
(see :mod:`omniq.serialization`). The files and directories OmniQ creates are therefore
owner-only, whatever the process's umask: directories ``0700``, files ``0600``. Files and
directories that already exist keep their mode (an operator may share them on purpose).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "create_private_file", "make_private_dirs"]

#: Mode of the directories OmniQ creates.
PRIVATE_DIR: Final = 0o700
#: Mode of the files OmniQ creates.
PRIVATE_FILE: Final = 0o600


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each owner-only (``0700``).

    Existing directories are left as they are; one created meanwhile by another process
    keeps the mode that process gave it.

    Raises:
        OSError: A directory cannot be created.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is masked by the umask


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only (``0600``) unless it exists.

    Raises:
        OSError: The file cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        with contextlib.suppress(OSError):  # e.g. a filesystem without modes
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
