"""Where the SQLite database of a project lives by default."""

from __future__ import annotations

import os
import re
from pathlib import Path

from omniq.exceptions import ConfigurationError

__all__ = ["data_dir", "default_db_path", "validate_project_name"]

_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def validate_project_name(project_name: object) -> str:
    """Return ``project_name`` if it is a usable name, else raise.

    Args:
        project_name: The value to check.

    Returns:
        The name, unchanged.

    Raises:
        ConfigurationError: It is not a string of letters, digits, ``_``, ``.`` or ``-``
            (starting with a letter or digit, at most 128 characters).
    """
    if not isinstance(project_name, str) or not _PROJECT_NAME.match(project_name):
        raise ConfigurationError(
            f"project_name {project_name!r} is not valid: expected 1-128 characters of "
            "letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return project_name


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
